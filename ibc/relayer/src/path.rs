//! Clients, connection and channel between the two zones, and keeping the
//! clients up to date.
//!
//! Creating a path is three resumable steps (`create-clients`,
//! `create-connection`, `create-channel`): each reads what the path file
//! names back from the chains, does only what is missing, and records every
//! new identifier in the path file as soon as the chain has it, so an
//! interrupted step carries on from where the chains are. Identifiers a
//! crash kept out of the path file (or a lost file) are found on the chains
//! first (`crate::resume`).
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use kawase_ibc::ibc::clients::tendermint::consensus_state::ConsensusState as TmConsensusStateRef;
use kawase_ibc::ibc::clients::tendermint::types::{
    ClientState as TmClientState, ConsensusState as TmConsensusState, Header as TmHeader,
};
use kawase_ibc::ibc::core::client::types::Height;
use kawase_ibc::ibc::core::host::types::identifiers::ChainId;
use kawase_ibc::ibc_proto::google::protobuf::{Any, Duration as PbDuration};
use kawase_ibc::ibc_proto::ibc::core::channel::v1 as chan;
use kawase_ibc::ibc_proto::ibc::core::client::v1::{Height as RawHeight, MsgCreateClient, MsgUpdateClient};
use kawase_ibc::ibc_proto::ibc::core::commitment::v1::MerklePrefix;
use kawase_ibc::ibc_proto::ibc::core::connection::v1 as conn;
use kawase_ibc::ibc_proto::ibc::lightclients::tendermint::v1::{ClientState as RawClientState, Fraction};
use prost::{Message, Name};

use crate::chain::{event_attr, Chain};

/// How long a client trusts a header without an update (well inside the
/// zones' three-week unbonding period).
pub const TRUSTING_PERIOD: Duration = Duration::from_secs(14 * 24 * 3600);
/// Clock difference tolerated between the zones.
pub const MAX_CLOCK_DRIFT: Duration = Duration::from_secs(20);

/// The identifiers of the settlement path, as the path file holds them.
/// Those not created yet are empty (and left out of the file).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PathIds {
    /// The client of the BZ on the FZ.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fz_client: String,
    /// The client of the FZ on the BZ.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bz_client: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fz_connection: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bz_connection: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fz_channel: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bz_channel: String,
}

impl PathIds {
    pub fn has_clients(&self) -> bool {
        !self.fz_client.is_empty() && !self.bz_client.is_empty()
    }

    pub fn has_connection(&self) -> bool {
        !self.fz_connection.is_empty() && !self.bz_connection.is_empty()
    }

    pub fn has_channel(&self) -> bool {
        !self.fz_channel.is_empty() && !self.bz_channel.is_empty()
    }
}

/// The path file: the only state the relayer keeps.
pub struct PathFile(pub PathBuf);

impl PathFile {
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The identifiers recorded so far (none without a file).
    pub fn load_or_default(&self) -> Result<PathIds> {
        match std::fs::read_to_string(&self.0) {
            Ok(text) => serde_json::from_str(&text).with_context(|| format!("path file {}", self.0.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PathIds::default()),
            Err(e) => Err(e).with_context(|| format!("reading path file {}", self.0.display())),
        }
    }

    /// The identifiers recorded so far; fails if there is no path file.
    pub fn load(&self) -> Result<PathIds> {
        if !self.0.exists() {
            bail!("no path file at {}: run `kawase-relayer create-path` first", self.0.display());
        }
        self.load_or_default()
    }

    /// The path with both clients; fails naming the command to run.
    pub fn load_clients(&self) -> Result<PathIds> {
        let ids = self.load()?;
        if !ids.has_clients() {
            return Err(run_first(&self.0, "clients", "create-clients"));
        }
        Ok(ids)
    }

    /// The whole path; fails naming the command that completes it.
    pub fn load_complete(&self) -> Result<PathIds> {
        let ids = self.load()?;
        let missing = if !ids.has_clients() {
            "create-clients"
        } else if !ids.has_connection() {
            "create-connection"
        } else if !ids.has_channel() {
            "create-channel"
        } else {
            return Ok(ids);
        };
        bail!(
            "the path in {} is not complete: run `kawase-relayer {missing}` (or `create-path`) first",
            self.0.display()
        )
    }

    /// Records `ids` (through a temporary file, so that a crash never
    /// leaves half a path file).
    pub fn save(&self, ids: &PathIds) -> Result<()> {
        let mut name = self.0.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "path.json".into());
        name.push(".tmp");
        let tmp = self.0.with_file_name(name);
        std::fs::write(&tmp, serde_json::to_string_pretty(ids)? + "\n")
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.0).with_context(|| format!("writing {}", self.0.display()))
    }
}

pub fn any<M: Message + Name>(m: M) -> Any {
    Any { type_url: M::type_url(), value: m.encode_to_vec() }
}

fn pb_duration(d: Duration) -> PbDuration {
    PbDuration { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 }
}

pub fn revision(chain_id: &str) -> Result<u64> {
    Ok(ChainId::new(chain_id).map_err(|e| anyhow!("chain id {chain_id}: {e}"))?.revision_number())
}

fn raw_height(chain_id: &str, h: u64) -> Result<RawHeight> {
    Ok(RawHeight { revision_number: revision(chain_id)?, revision_height: h })
}

fn prefix() -> MerklePrefix {
    MerklePrefix {
        key_prefix: kawase_ibc::ibc::core::commitment_types::commitment::CommitmentPrefix::from_bytes(b"ibc")
            .as_bytes()
            .to_vec(),
    }
}

/// The client state of `src` as `dst` will store it, at `src` height `h`.
#[allow(deprecated)] // the two `allow_update_*` fields are still in the wire format
fn client_state_of(src: &Chain, h: u64) -> Result<Any> {
    let specs: Vec<kawase_ibc::ibc_proto::ics23::ProofSpec> = kawase_ibc::proof_specs().into();
    let cs = RawClientState {
        chain_id: src.chain_id.clone(),
        trust_level: Some(Fraction { numerator: 1, denominator: 3 }),
        trusting_period: Some(pb_duration(TRUSTING_PERIOD)),
        unbonding_period: Some(pb_duration(kawase_ibc::UNBONDING_PERIOD)),
        max_clock_drift: Some(pb_duration(MAX_CLOCK_DRIFT)),
        frozen_height: Some(RawHeight { revision_number: 0, revision_height: 0 }),
        latest_height: Some(raw_height(&src.chain_id, h)?),
        proof_specs: specs,
        upgrade_path: vec!["upgrade".into(), "upgradedIBCState".into()],
        allow_update_after_expiry: false,
        allow_update_after_misbehaviour: false,
    };
    Ok(any(cs))
}

/// Creates on `dst` a light client of `src`; returns its id.
pub async fn create_client(dst: &mut Chain, src: &Chain) -> Result<String> {
    let h = src.height().await?;
    let (sh, _) = src.light_block(h).await?;
    let consensus: Any = TmConsensusState::from(sh.header).into();
    let msg = MsgCreateClient {
        client_state: Some(client_state_of(src, h)?),
        consensus_state: Some(consensus),
        signer: dst.key.address().to_string(),
    };
    let d = dst.submit(vec![any(msg)]).await.context("create client")?;
    event_attr(&d.events, "create_client", "client_id").ok_or_else(|| anyhow!("no client id in create_client event"))
}

/// The latest height `dst`'s client `client_id` has of its counterparty.
pub async fn client_height(dst: &Chain, client_id: &str) -> Result<u64> {
    let (v, _) = dst.query("/store", crate::keys::client_state(client_id)?.into_bytes(), 0).await?;
    if v.is_empty() {
        bail!("{}: no client {client_id}", dst.name);
    }
    let any = Any::decode(v.as_slice())?;
    let cs = RawClientState::decode(any.value.as_slice())?;
    Ok(cs.latest_height.map(|h| h.revision_height).unwrap_or(0))
}

/// `host`'s client `client_id`, if it has one.
pub async fn client_state(host: &Chain, client_id: &str) -> Result<Option<TmClientState>> {
    let (v, _) = host.query("/store", crate::keys::client_state(client_id)?.into_bytes(), 0).await?;
    if v.is_empty() {
        return Ok(None);
    }
    let any = Any::decode(v.as_slice()).with_context(|| format!("{}: client state of {client_id}", host.name))?;
    let cs = TmClientState::try_from(any).map_err(|e| anyhow!("{}: client state of {client_id}: {e}", host.name))?;
    Ok(Some(cs))
}

/// `host`'s client `client_id`'s consensus state at `h`, if it has one.
pub async fn consensus_state(host: &Chain, client_id: &str, h: Height) -> Result<Option<TmConsensusStateRef>> {
    let key = crate::keys::consensus_state(client_id, h.revision_number(), h.revision_height())?;
    let (v, _) = host.query("/store", key.into_bytes(), 0).await?;
    if v.is_empty() {
        return Ok(None);
    }
    let any = Any::decode(v.as_slice()).with_context(|| format!("{}: consensus state {client_id}@{h}", host.name))?;
    let cs = TmConsensusStateRef::try_from(any)
        .map_err(|e| anyhow!("{}: consensus state {client_id}@{h}: {e}", host.name))?;
    Ok(Some(cs))
}

/// `chain`'s connection end `id` and the state version it was read at.
pub async fn connection_end(chain: &Chain, id: &str) -> Result<Option<(conn::ConnectionEnd, u64)>> {
    let (v, version) = chain.query("/store", crate::keys::connection(id)?.into_bytes(), 0).await?;
    if v.is_empty() {
        return Ok(None);
    }
    let end = conn::ConnectionEnd::decode(v.as_slice()).with_context(|| format!("{}: connection {id}", chain.name))?;
    Ok(Some((end, version)))
}

/// `chain`'s settlement channel end `id` and the state version it was
/// read at.
pub async fn channel_end(chain: &Chain, id: &str) -> Result<Option<(chan::Channel, u64)>> {
    let (v, version) = chain.query("/store", crate::keys::channel_end(id)?.into_bytes(), 0).await?;
    if v.is_empty() {
        return Ok(None);
    }
    let end = chan::Channel::decode(v.as_slice()).with_context(|| format!("{}: channel {id}", chain.name))?;
    Ok(Some((end, version)))
}

/// A connection state as operators read it (`INIT`, `TRYOPEN`, `OPEN`).
pub fn connection_state_name(state: i32) -> String {
    conn::State::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("STATE_").to_owned())
        .unwrap_or_else(|_| format!("UNKNOWN({state})"))
}

/// A channel state as operators read it (`INIT`, `TRYOPEN`, `OPEN`, `CLOSED`, ...).
pub fn channel_state_name(state: i32) -> String {
    chan::State::try_from(state)
        .map(|s| s.as_str_name().trim_start_matches("STATE_").to_owned())
        .unwrap_or_else(|_| format!("UNKNOWN({state})"))
}

/// A `MsgUpdateClient` bringing `dst`'s client of `src` to `src` height
/// `target`, or `None` if it is already there.
pub async fn update_client_msg(dst: &Chain, client_id: &str, src: &Chain, target: u64) -> Result<Option<Any>> {
    let trusted = client_height(dst, client_id).await?;
    if trusted >= target {
        return Ok(None);
    }
    let (signed_header, validator_set) = src.light_block(target).await?;
    // The trusted consensus state commits to the validators of trusted + 1.
    let trusted_next_validator_set = src.validators(trusted + 1).await?;
    let header = TmHeader {
        signed_header,
        validator_set,
        trusted_height: Height::new(revision(&src.chain_id)?, trusted)?,
        trusted_next_validator_set,
    };
    let msg = MsgUpdateClient {
        client_id: client_id.to_owned(),
        client_message: Some(header.into()),
        signer: dst.key.address().to_string(),
    };
    Ok(Some(any(msg)))
}

/// Where to prove `src` state from: a state version `v >= min_version`
/// (state written at height `min_version` is in it), the proof height
/// `v + 1` (whose header's app hash commits to version `v`), and the update
/// of `dst`'s client to that height if it needs one.
pub async fn proof_point(
    dst: &Chain,
    client_id: &str,
    src: &Chain,
    min_version: u64,
) -> Result<(u64, u64, Option<Any>)> {
    let target = src.height().await?.max(min_version + 1).max(2);
    src.wait_for_height(target).await?;
    let update = update_client_msg(dst, client_id, src, target).await?;
    Ok((target - 1, target, update))
}

fn version() -> conn::Version {
    conn::Version { identifier: "1".into(), features: vec!["ORDER_ORDERED".into(), "ORDER_UNORDERED".into()] }
}

/// Submits `update` (if any) followed by `msg` on `dst`.
async fn submit_with_update(dst: &mut Chain, update: Option<Any>, msg: Any) -> Result<crate::chain::Delivered> {
    let mut msgs: Vec<Any> = update.into_iter().collect();
    msgs.push(msg);
    dst.submit(msgs).await
}

/// Brings `dst`'s client `client_id` of `src` to `src`'s latest height;
/// returns the client's height before and after.
pub async fn update_client(dst: &Chain, client_id: &str, src: &Chain) -> Result<(u64, u64)> {
    let before = client_height(dst, client_id).await?;
    let target = src.height().await?;
    match update_client_msg(dst, client_id, src, target).await? {
        Some(m) => {
            dst.submit(vec![m]).await.with_context(|| format!("updating the {}'s client {client_id}", dst.label()))?;
            Ok((before, target))
        }
        None => Ok((before, before)),
    }
}

/// What a creation step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the step creates was there already.
    Existing,
    /// The step created (or finished creating) something.
    Created,
}

/// A step needs an earlier one: which command to run first.
fn run_first(file: &Path, what: &str, cmd: &str) -> anyhow::Error {
    if file.exists() {
        anyhow!("{} records no {what} yet: run `kawase-relayer {cmd}` first", file.display())
    } else {
        anyhow!("no {what} yet (no path file at {}): run `kawase-relayer {cmd}` first", file.display())
    }
}

fn gone(file: &Path, what: &str, id: &str, chain: &Chain) -> anyhow::Error {
    anyhow!(
        "{} names {what} {id} on the {}, which has no such {what} (was the zone reset? move the path file aside and \
         run `kawase-relayer create-path`)",
        file.display(),
        chain.label()
    )
}

/// Checks that `host`'s client `id` (named in the path file) exists and
/// tracks `tracked`.
async fn check_client(host: &Chain, id: &str, tracked: &Chain, file: &Path) -> Result<()> {
    let cs = client_state(host, id).await?.ok_or_else(|| gone(file, "client", id, host))?;
    if cs.chain_id.as_str() != tracked.chain_id {
        bail!(
            "{} names client {id} on the {}, but it tracks `{}`, not `{}`",
            file.display(),
            host.label(),
            cs.chain_id,
            tracked.chain_id
        );
    }
    Ok(())
}

/// Step 1: the FZ's client of the BZ and the BZ's client of the FZ.
pub async fn create_clients(fz: &mut Chain, bz: &mut Chain, ids: &mut PathIds, file: &PathFile) -> Result<Outcome> {
    resume(fz, bz, ids, file).await?;
    let mut outcome = Outcome::Existing;
    if ids.fz_client.is_empty() {
        ids.fz_client = create_client(fz, bz).await?;
        crate::resume::crash_point("fz-client");
        file.save(ids)?;
        tracing::info!(client = %ids.fz_client, "FZ client of the BZ created");
        outcome = Outcome::Created;
    } else {
        check_client(fz, &ids.fz_client, bz, file.path()).await?;
    }
    if ids.bz_client.is_empty() {
        ids.bz_client = create_client(bz, fz).await?;
        crate::resume::crash_point("bz-client");
        file.save(ids)?;
        tracing::info!(client = %ids.bz_client, "BZ client of the FZ created");
        outcome = Outcome::Created;
    } else {
        check_client(bz, &ids.bz_client, fz, file.path()).await?;
    }
    Ok(outcome)
}

/// Fills identifiers the path file lacks from chain state, and records them.
async fn resume(fz: &Chain, bz: &Chain, ids: &mut PathIds, file: &PathFile) -> Result<()> {
    if crate::resume::discover(fz, bz, ids).await? {
        tracing::info!(?ids, "resumed identifiers from chain state");
        file.save(ids)?;
    }
    Ok(())
}

/// Where a four-step handshake (FZ initiating) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Init,
    Try,
    Ack,
    Confirm,
    Done,
}

/// The next step of a four-step handshake whose two ends both exist, from
/// their states `(id, state, version read at)`. ICS-03 and ICS-04 number
/// INIT, TRYOPEN and OPEN alike (1, 2, 3), so one table serves both.
fn handshake_stage(
    what: &str,
    fz: (&str, i32, u64),
    bz: (&str, i32, u64),
    state_name: fn(i32) -> String,
) -> Result<(Stage, u64)> {
    const INIT: i32 = conn::State::Init as i32;
    const TRYOPEN: i32 = conn::State::Tryopen as i32;
    const OPEN: i32 = conn::State::Open as i32;
    match (fz.1, bz.1) {
        (INIT, TRYOPEN) => Ok((Stage::Ack, bz.2)),
        (OPEN, TRYOPEN) => Ok((Stage::Confirm, fz.2)),
        (OPEN, OPEN) => Ok((Stage::Done, 0)),
        _ => bail!(
            "the {what} handshake cannot go on: {} is {} on the FZ and {} is {} on the BZ",
            fz.0,
            state_name(fz.1),
            bz.0,
            state_name(bz.1)
        ),
    }
}

/// The connection handshake's stage from both ends on chain, and the state
/// version the end the next step proves was read at.
async fn connection_stage(fz: &Chain, bz: &Chain, ids: &PathIds, file: &Path) -> Result<(Stage, u64)> {
    use conn::State;
    if ids.fz_connection.is_empty() {
        return Ok((Stage::Init, 0));
    }
    let (fz_end, fz_v) = connection_end(fz, &ids.fz_connection)
        .await?
        .ok_or_else(|| gone(file, "connection", &ids.fz_connection, fz))?;
    let fz_cp = fz_end.counterparty.clone().unwrap_or_default();
    if fz_end.client_id != ids.fz_client || fz_cp.client_id != ids.bz_client {
        bail!(
            "connection {} on the FZ is between clients {} and {}, not {} and {} as {} says",
            ids.fz_connection,
            fz_end.client_id,
            fz_cp.client_id,
            ids.fz_client,
            ids.bz_client,
            file.display()
        );
    }
    let fz_state = State::try_from(fz_end.state).unwrap_or_default();
    if ids.bz_connection.is_empty() {
        if fz_state == State::Init {
            return Ok((Stage::Try, fz_v));
        }
        bail!(
            "connection {} on the FZ is {} but {} names no BZ end",
            ids.fz_connection,
            connection_state_name(fz_end.state),
            file.display()
        );
    }
    let (bz_end, bz_v) = connection_end(bz, &ids.bz_connection)
        .await?
        .ok_or_else(|| gone(file, "connection", &ids.bz_connection, bz))?;
    let bz_cp = bz_end.counterparty.clone().unwrap_or_default();
    if bz_end.client_id != ids.bz_client
        || bz_cp.connection_id != ids.fz_connection
        || !(fz_cp.connection_id.is_empty() || fz_cp.connection_id == ids.bz_connection)
    {
        bail!(
            "connections {} (FZ) and {} (BZ) named in {} are not two ends of one connection",
            ids.fz_connection,
            ids.bz_connection,
            file.display()
        );
    }
    handshake_stage(
        "connection",
        (&ids.fz_connection, fz_end.state, fz_v),
        (&ids.bz_connection, bz_end.state, bz_v),
        connection_state_name,
    )
}

/// Step 2: the connection between the two clients (four-step handshake, FZ
/// initiating), carried on from wherever an earlier run left it.
pub async fn create_connection(fz: &mut Chain, bz: &mut Chain, ids: &mut PathIds, file: &PathFile) -> Result<Outcome> {
    resume(fz, bz, ids, file).await?;
    if !ids.has_clients() {
        return Err(run_first(file.path(), "clients", "create-clients"));
    }
    check_client(fz, &ids.fz_client, bz, file.path()).await?;
    check_client(bz, &ids.bz_client, fz, file.path()).await?;
    let (stage, mut version) = connection_stage(fz, bz, ids, file.path()).await?;
    if stage == Stage::Done {
        return Ok(Outcome::Existing);
    }
    if stage <= Stage::Init {
        version = connection_open_init(fz, ids).await?;
        crate::resume::crash_point("connection-init");
        ids.bz_connection.clear();
        file.save(ids)?;
    }
    if stage <= Stage::Try {
        version = connection_open_try(fz, bz, ids, version).await?;
        crate::resume::crash_point("connection-try");
        file.save(ids)?;
    }
    if stage <= Stage::Ack {
        version = connection_open_ack(fz, bz, ids, version).await?;
    }
    connection_open_confirm(fz, bz, ids, version).await?;
    Ok(Outcome::Created)
}

/// Init on the FZ; returns the height it was committed at.
async fn connection_open_init(fz: &mut Chain, ids: &mut PathIds) -> Result<u64> {
    let init = conn::MsgConnectionOpenInit {
        client_id: ids.fz_client.clone(),
        counterparty: Some(conn::Counterparty {
            client_id: ids.bz_client.clone(),
            connection_id: String::new(),
            prefix: Some(prefix()),
        }),
        version: Some(version()),
        delay_period: 0,
        signer: fz.key.address().to_string(),
    };
    let d = fz.submit(vec![any(init)]).await.context("connection open init")?;
    ids.fz_connection =
        event_attr(&d.events, "connection_open_init", "connection_id").ok_or_else(|| anyhow!("no connection id"))?;
    tracing::info!(connection = %ids.fz_connection, "connection open init on the FZ");
    Ok(d.height)
}

/// The client state `src` holds of `dst` (client `client_id`) at state
/// version `v`, with proofs of it and of its latest consensus state.
async fn client_proofs(src: &Chain, client_id: &str, v: u64) -> Result<(Any, Vec<u8>, Vec<u8>, RawHeight)> {
    let client_key = crate::keys::client_state(client_id)?;
    let (client_state, proof_client) = src.query_proof(&client_key, v).await?;
    let client_state = Any::decode(client_state.as_slice())?;
    let cs = RawClientState::decode(client_state.value.as_slice())?;
    let consensus_height = cs.latest_height.ok_or_else(|| anyhow!("client without height"))?;
    let (_, proof_consensus) = src
        .query_proof(
            &crate::keys::consensus_state(
                client_id,
                consensus_height.revision_number,
                consensus_height.revision_height,
            )?,
            v,
        )
        .await?;
    Ok((client_state, proof_client, proof_consensus, consensus_height))
}

/// Try on the BZ, proving the FZ's connection end (at a version from
/// `min_version` on) and its client of the BZ.
async fn connection_open_try(fz: &Chain, bz: &mut Chain, ids: &mut PathIds, min_version: u64) -> Result<u64> {
    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, min_version).await?;
    let (_, proof_init) = fz.query_proof(&crate::keys::connection(&ids.fz_connection)?, v).await?;
    let (client_state, proof_client, proof_consensus, consensus_height) = client_proofs(fz, &ids.fz_client, v).await?;
    #[allow(deprecated)]
    let try_msg = conn::MsgConnectionOpenTry {
        client_id: ids.bz_client.clone(),
        previous_connection_id: String::new(),
        client_state: Some(client_state),
        counterparty: Some(conn::Counterparty {
            client_id: ids.fz_client.clone(),
            connection_id: ids.fz_connection.clone(),
            prefix: Some(prefix()),
        }),
        delay_period: 0,
        counterparty_versions: vec![version()],
        proof_height: Some(raw_height(&fz.chain_id, ph)?),
        proof_init,
        proof_client,
        proof_consensus,
        consensus_height: Some(consensus_height),
        signer: bz.key.address().to_string(),
        host_consensus_state_proof: Vec::new(),
    };
    let d = submit_with_update(bz, update, any(try_msg)).await.context("connection open try")?;
    ids.bz_connection =
        event_attr(&d.events, "connection_open_try", "connection_id").ok_or_else(|| anyhow!("no connection id"))?;
    tracing::info!(connection = %ids.bz_connection, "connection open try on the BZ");
    Ok(d.height)
}

/// Ack on the FZ.
async fn connection_open_ack(fz: &mut Chain, bz: &Chain, ids: &PathIds, min_version: u64) -> Result<u64> {
    let (v, ph, update) = proof_point(fz, &ids.fz_client, bz, min_version).await?;
    let (_, proof_try) = bz.query_proof(&crate::keys::connection(&ids.bz_connection)?, v).await?;
    let (client_state, proof_client, proof_consensus, consensus_height) = client_proofs(bz, &ids.bz_client, v).await?;
    let ack = conn::MsgConnectionOpenAck {
        connection_id: ids.fz_connection.clone(),
        counterparty_connection_id: ids.bz_connection.clone(),
        version: Some(version()),
        client_state: Some(client_state),
        proof_height: Some(raw_height(&bz.chain_id, ph)?),
        proof_try,
        proof_client,
        proof_consensus,
        consensus_height: Some(consensus_height),
        signer: fz.key.address().to_string(),
        host_consensus_state_proof: Vec::new(),
    };
    let d = submit_with_update(fz, update, any(ack)).await.context("connection open ack")?;
    tracing::info!(connection = %ids.fz_connection, "connection open on the FZ");
    Ok(d.height)
}

/// Confirm on the BZ.
async fn connection_open_confirm(fz: &Chain, bz: &mut Chain, ids: &PathIds, min_version: u64) -> Result<()> {
    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, min_version).await?;
    let (_, proof_ack) = fz.query_proof(&crate::keys::connection(&ids.fz_connection)?, v).await?;
    let confirm = conn::MsgConnectionOpenConfirm {
        connection_id: ids.bz_connection.clone(),
        proof_ack,
        proof_height: Some(raw_height(&fz.chain_id, ph)?),
        signer: bz.key.address().to_string(),
    };
    submit_with_update(bz, update, any(confirm)).await.context("connection open confirm")?;
    tracing::info!(connection = %ids.bz_connection, "connection open on the BZ");
    Ok(())
}

const PORT: &str = kawase_ibc::SETTLEMENT_PORT;

fn channel_end_msg(state: chan::State, counterparty_channel: &str, connection: &str) -> chan::Channel {
    chan::Channel {
        state: state as i32,
        ordering: chan::Order::Unordered as i32,
        counterparty: Some(chan::Counterparty { port_id: PORT.into(), channel_id: counterparty_channel.into() }),
        connection_hops: vec![connection.into()],
        version: VERSION.into(),
        upgrade_sequence: 0,
    }
}

/// The settlement channel version.
const VERSION: &str = kawase_settlement::VERSION;

/// The channel handshake's stage from both ends on chain, and the state
/// version the end the next step proves was read at.
async fn channel_stage(fz: &Chain, bz: &Chain, ids: &PathIds, file: &Path) -> Result<(Stage, u64)> {
    use chan::State;
    if ids.fz_channel.is_empty() {
        return Ok((Stage::Init, 0));
    }
    let (fz_end, fz_v) =
        channel_end(fz, &ids.fz_channel).await?.ok_or_else(|| gone(file, "channel", &ids.fz_channel, fz))?;
    let fz_cp = fz_end.counterparty.clone().unwrap_or_default();
    if fz_end.connection_hops.first() != Some(&ids.fz_connection) {
        bail!(
            "channel {} on the FZ is on connection {}, not {} as {} says",
            ids.fz_channel,
            fz_end.connection_hops.join(","),
            ids.fz_connection,
            file.display()
        );
    }
    let fz_state = State::try_from(fz_end.state).unwrap_or_default();
    if ids.bz_channel.is_empty() {
        if fz_state == State::Init {
            return Ok((Stage::Try, fz_v));
        }
        bail!(
            "channel {} on the FZ is {} but {} names no BZ end",
            ids.fz_channel,
            channel_state_name(fz_end.state),
            file.display()
        );
    }
    let (bz_end, bz_v) =
        channel_end(bz, &ids.bz_channel).await?.ok_or_else(|| gone(file, "channel", &ids.bz_channel, bz))?;
    let bz_cp = bz_end.counterparty.clone().unwrap_or_default();
    if bz_end.connection_hops.first() != Some(&ids.bz_connection)
        || bz_cp.channel_id != ids.fz_channel
        || !(fz_cp.channel_id.is_empty() || fz_cp.channel_id == ids.bz_channel)
    {
        bail!(
            "channels {} (FZ) and {} (BZ) named in {} are not two ends of one channel",
            ids.fz_channel,
            ids.bz_channel,
            file.display()
        );
    }
    handshake_stage(
        "channel",
        (&ids.fz_channel, fz_end.state, fz_v),
        (&ids.bz_channel, bz_end.state, bz_v),
        channel_state_name,
    )
}

/// Step 3: the settlement channel on port `settlement` (four-step handshake,
/// FZ initiating), carried on from wherever an earlier run left it.
pub async fn create_channel(fz: &mut Chain, bz: &mut Chain, ids: &mut PathIds, file: &PathFile) -> Result<Outcome> {
    resume(fz, bz, ids, file).await?;
    if !ids.has_clients() {
        return Err(run_first(file.path(), "clients", "create-clients"));
    }
    if !ids.has_connection() {
        return Err(run_first(file.path(), "connection", "create-connection"));
    }
    if connection_stage(fz, bz, ids, file.path()).await?.0 != Stage::Done {
        bail!(
            "connection {} / {} is not open yet: run `kawase-relayer create-connection` first",
            ids.fz_connection,
            ids.bz_connection
        );
    }
    let (stage, mut version) = channel_stage(fz, bz, ids, file.path()).await?;
    if stage == Stage::Done {
        return Ok(Outcome::Existing);
    }
    if stage <= Stage::Init {
        version = channel_open_init(fz, ids).await?;
        crate::resume::crash_point("channel-init");
        ids.bz_channel.clear();
        file.save(ids)?;
    }
    if stage <= Stage::Try {
        version = channel_open_try(fz, bz, ids, version).await?;
        crate::resume::crash_point("channel-try");
        file.save(ids)?;
    }
    if stage <= Stage::Ack {
        version = channel_open_ack(fz, bz, ids, version).await?;
    }
    channel_open_confirm(fz, bz, ids, version).await?;
    Ok(Outcome::Created)
}

async fn channel_open_init(fz: &mut Chain, ids: &mut PathIds) -> Result<u64> {
    let init = chan::MsgChannelOpenInit {
        port_id: PORT.into(),
        channel: Some(channel_end_msg(chan::State::Init, "", &ids.fz_connection)),
        signer: fz.key.address().to_string(),
    };
    let d = fz.submit(vec![any(init)]).await.context("channel open init")?;
    ids.fz_channel =
        event_attr(&d.events, "channel_open_init", "channel_id").ok_or_else(|| anyhow!("no channel id"))?;
    tracing::info!(channel = %ids.fz_channel, "channel open init on the FZ");
    Ok(d.height)
}

async fn channel_open_try(fz: &Chain, bz: &mut Chain, ids: &mut PathIds, min_version: u64) -> Result<u64> {
    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, min_version).await?;
    let (_, proof_init) = fz.query_proof(&crate::keys::channel_end(&ids.fz_channel)?, v).await?;
    #[allow(deprecated)]
    let try_msg = chan::MsgChannelOpenTry {
        port_id: PORT.into(),
        previous_channel_id: String::new(),
        channel: Some(channel_end_msg(chan::State::Tryopen, &ids.fz_channel, &ids.bz_connection)),
        counterparty_version: VERSION.into(),
        proof_init,
        proof_height: Some(raw_height(&fz.chain_id, ph)?),
        signer: bz.key.address().to_string(),
    };
    let d = submit_with_update(bz, update, any(try_msg)).await.context("channel open try")?;
    ids.bz_channel = event_attr(&d.events, "channel_open_try", "channel_id").ok_or_else(|| anyhow!("no channel id"))?;
    tracing::info!(channel = %ids.bz_channel, "channel open try on the BZ");
    Ok(d.height)
}

async fn channel_open_ack(fz: &mut Chain, bz: &Chain, ids: &PathIds, min_version: u64) -> Result<u64> {
    let (v, ph, update) = proof_point(fz, &ids.fz_client, bz, min_version).await?;
    let (_, proof_try) = bz.query_proof(&crate::keys::channel_end(&ids.bz_channel)?, v).await?;
    let ack = chan::MsgChannelOpenAck {
        port_id: PORT.into(),
        channel_id: ids.fz_channel.clone(),
        counterparty_channel_id: ids.bz_channel.clone(),
        counterparty_version: VERSION.into(),
        proof_try,
        proof_height: Some(raw_height(&bz.chain_id, ph)?),
        signer: fz.key.address().to_string(),
    };
    let d = submit_with_update(fz, update, any(ack)).await.context("channel open ack")?;
    tracing::info!(channel = %ids.fz_channel, "channel open on the FZ");
    Ok(d.height)
}

async fn channel_open_confirm(fz: &Chain, bz: &mut Chain, ids: &PathIds, min_version: u64) -> Result<()> {
    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, min_version).await?;
    let (_, proof_ack) = fz.query_proof(&crate::keys::channel_end(&ids.fz_channel)?, v).await?;
    let confirm = chan::MsgChannelOpenConfirm {
        port_id: PORT.into(),
        channel_id: ids.bz_channel.clone(),
        proof_ack,
        proof_height: Some(raw_height(&fz.chain_id, ph)?),
        signer: bz.key.address().to_string(),
    };
    submit_with_update(bz, update, any(confirm)).await.context("channel open confirm")?;
    tracing::info!(channel = %ids.bz_channel, "channel open on the BZ");
    Ok(())
}

/// The three steps in turn, each doing only what the path file and the
/// chains show is missing; returns the whole path.
pub async fn create_path(fz: &mut Chain, bz: &mut Chain, file: &PathFile) -> Result<PathIds> {
    let mut ids = file.load_or_default()?;
    let o = create_clients(fz, bz, &mut ids, file).await?;
    tracing::info!(fz = %ids.fz_client, bz = %ids.bz_client, existing = (o == Outcome::Existing), "clients");
    let o = create_connection(fz, bz, &mut ids, file).await?;
    tracing::info!(fz = %ids.fz_connection, bz = %ids.bz_connection, existing = (o == Outcome::Existing), "connection open");
    let o = create_channel(fz, bz, &mut ids, file).await?;
    tracing::info!(fz = %ids.fz_channel, bz = %ids.bz_channel, existing = (o == Outcome::Existing), "channel open");
    Ok(ids)
}
