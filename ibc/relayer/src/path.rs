//! Clients, connection and channel between the two zones, and keeping the
//! clients up to date.
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use kawase_ibc::ibc::clients::tendermint::types::{ConsensusState as TmConsensusState, Header as TmHeader};
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

/// The identifiers of the settlement path, written by `create-path`.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct PathIds {
    /// The client of the BZ on the FZ.
    pub fz_client: String,
    /// The client of the FZ on the BZ.
    pub bz_client: String,
    pub fz_connection: String,
    pub bz_connection: String,
    pub fz_channel: String,
    pub bz_channel: String,
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
    let (v, _) = dst.query("/store", format!("clients/{client_id}/clientState").into_bytes(), 0).await?;
    if v.is_empty() {
        bail!("{}: no client {client_id}", dst.name);
    }
    let any = Any::decode(v.as_slice())?;
    let cs = RawClientState::decode(any.value.as_slice())?;
    Ok(cs.latest_height.map(|h| h.revision_height).unwrap_or(0))
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

/// The four-step connection handshake, FZ initiating.
pub async fn create_connection(fz: &mut Chain, bz: &mut Chain, ids: &mut PathIds) -> Result<()> {
    // Init on the FZ.
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

    // Try on the BZ, proving the FZ's connection end and its client of the BZ.
    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, d.height).await?;
    let (_, proof_init) = fz.query_proof(&format!("connections/{}", ids.fz_connection), v).await?;
    let client_key = format!("clients/{}/clientState", ids.fz_client);
    let (client_state, proof_client) = fz.query_proof(&client_key, v).await?;
    let cs = RawClientState::decode(Any::decode(client_state.as_slice())?.value.as_slice())?;
    let consensus_height = cs.latest_height.ok_or_else(|| anyhow!("client without height"))?;
    let (_, proof_consensus) = fz
        .query_proof(
            &format!(
                "clients/{}/consensusStates/{}-{}",
                ids.fz_client, consensus_height.revision_number, consensus_height.revision_height
            ),
            v,
        )
        .await?;
    #[allow(deprecated)]
    let try_msg = conn::MsgConnectionOpenTry {
        client_id: ids.bz_client.clone(),
        previous_connection_id: String::new(),
        client_state: Some(Any::decode(client_state.as_slice())?),
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

    // Ack on the FZ.
    let (v, ph, update) = proof_point(fz, &ids.fz_client, bz, d.height).await?;
    let (_, proof_try) = bz.query_proof(&format!("connections/{}", ids.bz_connection), v).await?;
    let client_key = format!("clients/{}/clientState", ids.bz_client);
    let (client_state, proof_client) = bz.query_proof(&client_key, v).await?;
    let cs = RawClientState::decode(Any::decode(client_state.as_slice())?.value.as_slice())?;
    let consensus_height = cs.latest_height.ok_or_else(|| anyhow!("client without height"))?;
    let (_, proof_consensus) = bz
        .query_proof(
            &format!(
                "clients/{}/consensusStates/{}-{}",
                ids.bz_client, consensus_height.revision_number, consensus_height.revision_height
            ),
            v,
        )
        .await?;
    let ack = conn::MsgConnectionOpenAck {
        connection_id: ids.fz_connection.clone(),
        counterparty_connection_id: ids.bz_connection.clone(),
        version: Some(version()),
        client_state: Some(Any::decode(client_state.as_slice())?),
        proof_height: Some(raw_height(&bz.chain_id, ph)?),
        proof_try,
        proof_client,
        proof_consensus,
        consensus_height: Some(consensus_height),
        signer: fz.key.address().to_string(),
        host_consensus_state_proof: Vec::new(),
    };
    let d = submit_with_update(fz, update, any(ack)).await.context("connection open ack")?;

    // Confirm on the BZ.
    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, d.height).await?;
    let (_, proof_ack) = fz.query_proof(&format!("connections/{}", ids.fz_connection), v).await?;
    let confirm = conn::MsgConnectionOpenConfirm {
        connection_id: ids.bz_connection.clone(),
        proof_ack,
        proof_height: Some(raw_height(&fz.chain_id, ph)?),
        signer: bz.key.address().to_string(),
    };
    submit_with_update(bz, update, any(confirm)).await.context("connection open confirm")?;
    Ok(())
}

const PORT: &str = kawase_ibc::SETTLEMENT_PORT;

fn channel_end(state: chan::State, counterparty_channel: &str, connection: &str) -> chan::Channel {
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
const VERSION: &str = "kawase-settlement-1";

/// The four-step channel handshake on port `settlement`, FZ initiating.
pub async fn create_channel(fz: &mut Chain, bz: &mut Chain, ids: &mut PathIds) -> Result<()> {
    let init = chan::MsgChannelOpenInit {
        port_id: PORT.into(),
        channel: Some(channel_end(chan::State::Init, "", &ids.fz_connection)),
        signer: fz.key.address().to_string(),
    };
    let d = fz.submit(vec![any(init)]).await.context("channel open init")?;
    ids.fz_channel =
        event_attr(&d.events, "channel_open_init", "channel_id").ok_or_else(|| anyhow!("no channel id"))?;

    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, d.height).await?;
    let (_, proof_init) = fz.query_proof(&format!("channelEnds/ports/{PORT}/channels/{}", ids.fz_channel), v).await?;
    #[allow(deprecated)]
    let try_msg = chan::MsgChannelOpenTry {
        port_id: PORT.into(),
        previous_channel_id: String::new(),
        channel: Some(channel_end(chan::State::Tryopen, &ids.fz_channel, &ids.bz_connection)),
        counterparty_version: VERSION.into(),
        proof_init,
        proof_height: Some(raw_height(&fz.chain_id, ph)?),
        signer: bz.key.address().to_string(),
    };
    let d = submit_with_update(bz, update, any(try_msg)).await.context("channel open try")?;
    ids.bz_channel = event_attr(&d.events, "channel_open_try", "channel_id").ok_or_else(|| anyhow!("no channel id"))?;

    let (v, ph, update) = proof_point(fz, &ids.fz_client, bz, d.height).await?;
    let (_, proof_try) = bz.query_proof(&format!("channelEnds/ports/{PORT}/channels/{}", ids.bz_channel), v).await?;
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

    let (v, ph, update) = proof_point(bz, &ids.bz_client, fz, d.height).await?;
    let (_, proof_ack) = fz.query_proof(&format!("channelEnds/ports/{PORT}/channels/{}", ids.fz_channel), v).await?;
    let confirm = chan::MsgChannelOpenConfirm {
        port_id: PORT.into(),
        channel_id: ids.bz_channel.clone(),
        proof_ack,
        proof_height: Some(raw_height(&fz.chain_id, ph)?),
        signer: bz.key.address().to_string(),
    };
    submit_with_update(bz, update, any(confirm)).await.context("channel open confirm")?;
    Ok(())
}

/// Clients, connection and channel from scratch.
pub async fn create_path(fz: &mut Chain, bz: &mut Chain) -> Result<PathIds> {
    let mut ids = PathIds { fz_client: create_client(fz, bz).await?, ..Default::default() };
    ids.bz_client = create_client(bz, fz).await?;
    tracing::info!(fz_client = %ids.fz_client, bz_client = %ids.bz_client, "clients created");
    create_connection(fz, bz, &mut ids).await?;
    tracing::info!(fz = %ids.fz_connection, bz = %ids.bz_connection, "connection open");
    create_channel(fz, bz, &mut ids).await?;
    tracing::info!(fz = %ids.fz_channel, bz = %ids.bz_channel, "channel open");
    Ok(ids)
}
