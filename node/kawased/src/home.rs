//! The node home directory, laid out the way CometBFT operators know it:
//! `config/{config.toml,genesis.json,node_key.json,priv_validator_key.json}`
//! and `data/`. Key files are created 0600.
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use kawase_app::genesis::GenesisDoc;
use kawase_app::{AppState, Params, Zone};
use kawase_client::{Key, KeyKind};
use serde::{Deserialize, Serialize};

use crate::config::{NodeConfig, Ports, TestnetLayout};

pub struct Home {
    pub root: PathBuf,
}

/// A CometBFT `priv_validator_key.json`.
#[derive(Serialize, Deserialize)]
struct PrivValidatorKey {
    address: tendermint::account::Id,
    pub_key: tendermint::PublicKey,
    priv_key: tendermint::PrivateKey,
}

/// A CometBFT `node_key.json`.
#[derive(Serialize, Deserialize)]
struct NodeKey {
    priv_key: tendermint::PrivateKey,
}

/// The plain admin key file `init`/`testnet` write (0600); import it into
/// the keystore with `kawased keys` for everyday use.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    pub name: String,
    pub kind: KeyKind,
    pub address: String,
    pub secret_hex: String,
}

/// Reads a secret key file, refusing one that others may read or write (as
/// ssh does): a key another local user could copy, or swap for their own,
/// is not this node's key any more.
pub fn read_private(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} has mode {mode:04o}: a key file must be private to its owner (run `chmod 600 {}`)",
            path.display(),
            path.display()
        );
    }
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes a file readable by the owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

fn ed25519_key() -> tendermint::PrivateKey {
    tendermint::PrivateKey::from_ed25519_consensus(ed25519_consensus::SigningKey::new(rand_core::OsRng))
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }
    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }
    pub fn genesis_file(&self) -> PathBuf {
        self.config_dir().join("genesis.json")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("data").join("state")
    }
    pub fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    pub fn load_config(&self) -> Result<NodeConfig> {
        let path = self.config_file();
        let text = fs::read_to_string(&path)
            .with_context(|| format!("reading {} (run `kawased init` first)", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn write_config(&self, config: &NodeConfig) -> Result<()> {
        fs::write(self.config_file(), toml::to_string_pretty(config)?)
            .with_context(|| format!("writing {}", self.config_file().display()))
    }

    pub fn load_genesis(&self) -> Result<GenesisDoc> {
        let path = self.genesis_file();
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Creates a fresh home: config, node and validator keys, an admin
    /// account key and a single-validator genesis.
    ///
    /// `admin_to` decides where the admin key goes: `None` writes the plain
    /// `keys/admin.json` (0600, for throw-away test homes); a keystore
    /// puts it there encrypted under the given passphrase instead, and no
    /// plain copy is written.
    pub fn init(
        &self,
        chain_id: &str,
        zone: Zone,
        moniker: &str,
        admin_to: Option<(&kawase_client::Keystore, &str, &str)>,
    ) -> Result<()> {
        let chain: tendermint::chain::Id =
            chain_id.parse().with_context(|| format!("invalid chain id `{chain_id}`"))?;
        let admin = Key::generate(KeyKind::Ed25519);
        // Refuse an existing name before anything is written.
        if let Some((ks, name, _)) = admin_to {
            if ks.show(name).is_ok() {
                bail!(
                    "the keystore {} already has a key `{name}`; choose another --admin-key-name",
                    ks.dir().display()
                );
            }
        }
        let validator = self.create_node(NodeConfig::new(moniker, Ports::standard()))?;
        match admin_to {
            Some((ks, name, passphrase)) => {
                ks.import_key(name, &admin, passphrase)?;
            }
            None => self.write_admin_key(&admin)?,
        }
        self.write_genesis(&new_genesis(chain, zone, &admin, vec![validator]))
    }

    /// Directories, config and the node's two keys; returns the validator's
    /// public key.
    pub fn create_node(&self, config: NodeConfig) -> Result<tendermint::PublicKey> {
        if self.genesis_file().exists() || self.config_dir().join("priv_validator_key.json").exists() {
            bail!("{} already has a node; refusing to overwrite (remove the home to start over)", self.root.display());
        }
        fs::create_dir_all(self.config_dir())?;
        fs::create_dir_all(self.root.join("data"))?;
        fs::set_permissions(self.root.join("data"), fs::Permissions::from_mode(0o700))?;
        fs::write(self.config_file(), toml::to_string_pretty(&config)?)?;
        let validator = ed25519_key();
        let validator_pub = validator.public_key();
        let pv = PrivValidatorKey {
            address: tendermint::account::Id::from(validator_pub),
            pub_key: validator_pub,
            priv_key: validator,
        };
        write_private(
            &self.config_dir().join("priv_validator_key.json"),
            serde_json::to_string_pretty(&pv)?.as_bytes(),
        )?;
        write_private(
            &self.config_dir().join("node_key.json"),
            serde_json::to_string_pretty(&NodeKey { priv_key: ed25519_key() })?.as_bytes(),
        )?;
        Ok(validator_pub)
    }

    pub fn write_admin_key(&self, admin: &Key) -> Result<()> {
        fs::create_dir_all(self.keys_dir())?;
        fs::set_permissions(self.keys_dir(), fs::Permissions::from_mode(0o700))?;
        let kf = KeyFile {
            name: "admin".into(),
            kind: admin.kind(),
            address: admin.address().to_string(),
            secret_hex: hex::encode(admin.secret_bytes()),
        };
        write_private(&self.keys_dir().join("admin.json"), serde_json::to_string_pretty(&kf)?.as_bytes())
    }

    pub fn write_genesis(&self, genesis: &GenesisDoc) -> Result<()> {
        Ok(fs::write(self.genesis_file(), serde_json::to_string_pretty(genesis)? + "\n")?)
    }

    /// The validator's ed25519 key from `priv_validator_key.json`.
    pub fn load_validator_key(&self) -> Result<ed25519_consensus::SigningKey> {
        let path = self.config_dir().join("priv_validator_key.json");
        let pv: PrivValidatorKey =
            serde_json::from_str(&read_private(&path)?).with_context(|| format!("parsing {}", path.display()))?;
        ed25519_of(&pv.priv_key).with_context(|| format!("{}: not an ed25519 key", path.display()))
    }

    /// The p2p identity seed from `node_key.json`.
    pub fn load_node_key(&self) -> Result<[u8; 32]> {
        let path = self.config_dir().join("node_key.json");
        let nk: NodeKey =
            serde_json::from_str(&read_private(&path)?).with_context(|| format!("parsing {}", path.display()))?;
        Ok(ed25519_of(&nk.priv_key).with_context(|| format!("{}: not an ed25519 key", path.display()))?.to_bytes())
    }

    /// CometBFT node id: hex of the first 20 bytes of SHA-256 of the node key.
    pub fn node_id(&self) -> Result<String> {
        let seed = self.load_node_key()?;
        let vk = ed25519_consensus::SigningKey::from(seed).verification_key();
        Ok(hex::encode(tendermint::account::Id::from(
            tendermint::PublicKey::from_raw_ed25519(vk.as_bytes()).context("node key")?,
        )))
    }
}

fn ed25519_of(key: &tendermint::PrivateKey) -> Option<ed25519_consensus::SigningKey> {
    let bytes = key.ed25519_signing_key()?.as_bytes();
    <[u8; 32]>::try_from(bytes).ok().map(ed25519_consensus::SigningKey::from)
}

fn new_genesis(
    chain_id: tendermint::chain::Id,
    zone: Zone,
    admin: &Key,
    validators: Vec<tendermint::PublicKey>,
) -> GenesisDoc {
    let app_state = AppState::new(zone).with(
        "accounts",
        &kawase_accounts::Genesis { admin: admin.address(), banks: Vec::new(), accounts: Vec::new() },
    );
    GenesisDoc {
        genesis_time: tendermint::Time::now(),
        chain_id,
        initial_height: 1,
        consensus_params: consensus_params(),
        validators: validators.into_iter().map(|pk| tendermint::validator::Info::new(pk, 10u32.into())).collect(),
        app_hash: Default::default(),
        app_state,
    }
}

/// `kawased testnet`: `n` homes under `dir` (`node0`..), one genesis with
/// all of them as validators, each peered with all others on loopback
/// ports from `base_port` (node `i` uses `base_port + 10 i` ..`+4`).
pub fn testnet(dir: &Path, layout: &TestnetLayout, chain_id: &str, zone: Zone) -> Result<Vec<Home>> {
    testnet_with(dir, layout, chain_id, zone, None)
}

/// [`testnet`] with the network admin given; a given admin's key is kept by
/// the caller (an encrypted keystore) and not written into the homes.
pub fn testnet_with(
    dir: &Path,
    layout: &TestnetLayout,
    chain_id: &str,
    zone: Zone,
    admin: Option<&Key>,
) -> Result<Vec<Home>> {
    if layout.is_empty() {
        bail!("a testnet needs at least one validator");
    }
    let chain: tendermint::chain::Id = chain_id.parse().with_context(|| format!("invalid chain id `{chain_id}`"))?;
    let homes: Vec<Home> = (0..layout.len()).map(|i| Home::new(dir.join(format!("node{i}")))).collect();
    let mut validators = Vec::new();
    let mut ids = Vec::new();
    for (i, h) in homes.iter().enumerate() {
        let (host, ports) = layout.node(i);
        validators.push(h.create_node(NodeConfig::on_host(&format!("node{i}"), host, ports))?);
        ids.push(h.node_id()?);
    }
    let generated = Key::generate(KeyKind::Ed25519);
    let genesis = new_genesis(chain, zone, admin.unwrap_or(&generated), validators);
    // Peers are dialled at the host and port they listen on.
    let peers = |i: usize, port: fn(&Ports) -> u16| -> String {
        (0..layout.len())
            .filter(|j| *j != i)
            .map(|j| {
                let (host, ports) = layout.node(j);
                format!("{}@{host}:{}", ids[j], port(&ports))
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    for (i, h) in homes.iter().enumerate() {
        let mut config = h.load_config()?;
        config.p2p.persistent_peers = peers(i, |p| p.p2p);
        config.mempool.gossip_peers = peers(i, |p| p.gossip);
        fs::write(h.config_file(), toml::to_string_pretty(&config)?)?;
        if admin.is_none() {
            h.write_admin_key(&generated)?;
        }
        h.write_genesis(&genesis)?;
    }
    Ok(homes)
}

/// Names, in a BZ's genesis in every home, the FZ (by chain id) whose
/// settlement channel the BZ accepts.
pub fn name_fz_counterparty(homes: &[Home], fz_chain_id: &str) -> Result<()> {
    for h in homes {
        let mut genesis = h.load_genesis()?;
        if genesis.app_state.zone != Zone::Bz {
            bail!("only a Business Zone names its FZ counterparty (--fz-chain-id)");
        }
        let s = kawase_settlement::Genesis::bz_of(fz_chain_id);
        s.fz.as_ref().map(|f| f.validate()).transpose().with_context(|| format!("FZ chain id `{fz_chain_id}`"))?;
        genesis.app_state.set("settlement", &s);
        h.write_genesis(&genesis)?;
    }
    Ok(())
}

pub fn consensus_params() -> tendermint::consensus::Params {
    let p = Params::standard();
    tendermint::consensus::Params {
        block: tendermint::block::Size { max_bytes: p.max_block_bytes, max_gas: -1, time_iota_ms: 1 },
        evidence: tendermint::evidence::Params {
            max_age_num_blocks: 100_000,
            max_age_duration: tendermint::evidence::Duration(std::time::Duration::from_secs(48 * 3600)),
            max_bytes: 1024 * 1024,
        },
        validator: tendermint::consensus::params::ValidatorParams {
            pub_key_types: vec![tendermint::public_key::Algorithm::Ed25519],
        },
        version: Some(tendermint::consensus::params::VersionParams { app: 1 }),
        abci: Default::default(),
    }
}

#[cfg(test)]
/// The sample genesis shipped in `genesis/`: the demo world (admin, Bank A,
/// Bank B) with a fixed time and a validator key derived from a public seed,
/// so the file is reproducible. Never use these keys for anything real.
pub fn sample_genesis(zone: Zone, chain_id: &str) -> Result<GenesisDoc> {
    let demo = kawase_devkit::Demo::new();
    let seed = ed25519_consensus::SigningKey::from([7u8; 32]);
    let validator = tendermint::PrivateKey::from_ed25519_consensus(seed);
    Ok(GenesisDoc {
        genesis_time: tendermint::Time::from_unix_timestamp(1_767_225_600, 0)?,
        chain_id: chain_id.parse()?,
        initial_height: 1,
        consensus_params: consensus_params(),
        validators: vec![tendermint::validator::Info::new(validator.public_key(), 10u32.into())],
        app_hash: Default::default(),
        app_state: demo.genesis(zone).with(
            "settlement",
            &match zone {
                Zone::Bz => kawase_settlement::Genesis::bz_of("kawase-fz-1"),
                Zone::Fz => Default::default(),
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_gossip_peers;

    #[test]
    fn testnet_homes_name_each_gossip_peer_by_its_node_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let homes = testnet(dir.path(), &TestnetLayout::loopback(3, 40_000).expect("layout"), "kawase-t", Zone::Fz)
            .expect("testnet");
        for (i, h) in homes.iter().enumerate() {
            let peers = parse_gossip_peers(&h.load_config().expect("config").mempool.gossip_peers).expect("peers");
            assert_eq!(peers.len(), 2);
            for (j, other) in homes.iter().enumerate().filter(|(j, _)| *j != i) {
                let id = other.node_id().expect("id");
                let port = Ports::testnet(40_000, j as u16).gossip;
                assert!(peers.iter().any(|p| p.id.to_string() == id && p.addr.port() == port), "node{i} lacks node{j}");
            }
        }
        assert!(parse_gossip_peers("127.0.0.1:5").is_err(), "a peer without an id is refused");
        assert!(parse_gossip_peers("abcd@127.0.0.1:5").is_err(), "a short id is refused");
    }

    /// `genesis/fz.json` and `genesis/bz.json` are what `sample_genesis`
    /// builds (set KAWASE_BLESS=1 to rewrite them) and a chain starts from them.
    #[test]
    fn sample_genesis_files_are_current_and_start_a_chain() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../genesis");
        for (zone, chain_id, file) in [(Zone::Fz, "kawase-fz-1", "fz.json"), (Zone::Bz, "kawase-bz-1", "bz.json")] {
            let doc = sample_genesis(zone, chain_id).expect("sample");
            let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
            let path = root.join(file);
            if std::env::var_os("KAWASE_BLESS").is_some() {
                fs::write(&path, &text).expect("write sample");
            }
            let on_disk = fs::read_to_string(&path).expect("sample genesis file");
            assert_eq!(on_disk, text, "{file} is stale: run with KAWASE_BLESS=1");
            let parsed: GenesisDoc = serde_json::from_str(&on_disk).expect("parses");
            let dir = tempfile::tempdir().expect("tempdir");
            let mut chain = kawase_devkit::TestChain::open(kawase_app::AppConfig::new(dir.path().join("s")), chain_id)
                .expect("open");
            chain.init(&parsed.app_state).expect("init from sample");
            chain.block(vec![]).expect("first block");
            assert_eq!(chain.app.zone(), Some(zone));
        }
    }
}
