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

/// `config/config.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub moniker: String,
    #[serde(default)]
    pub abci: AbciSection,
    #[serde(default)]
    pub storage: StorageSection,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbciSection {
    /// Where `kawased abci` listens for CometBFT (its `proxy_app`).
    pub laddr: String,
}

impl Default for AbciSection {
    fn default() -> Self {
        AbciSection { laddr: "tcp://127.0.0.1:26658".into() }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// Versions of state kept queryable and provable; 0 keeps all (archive).
    #[serde(default)]
    pub keep_recent: u64,
}

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

/// An account key file. Plain for now; the encrypted keystore replaces it.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    pub name: String,
    pub kind: KeyKind,
    pub address: String,
    pub secret_hex: String,
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

    pub fn load_genesis(&self) -> Result<GenesisDoc> {
        let path = self.genesis_file();
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Creates a fresh home: config, node and validator keys, an admin
    /// account key and a single-validator genesis.
    pub fn init(&self, chain_id: &str, zone: Zone, moniker: &str) -> Result<()> {
        if self.genesis_file().exists() {
            bail!(
                "{} already has a genesis; refusing to overwrite (remove the home to start over)",
                self.root.display()
            );
        }
        let chain: tendermint::chain::Id =
            chain_id.parse().with_context(|| format!("invalid chain id `{chain_id}`"))?;
        fs::create_dir_all(self.config_dir())?;
        fs::create_dir_all(self.root.join("data"))?;
        fs::create_dir_all(self.keys_dir())?;
        fs::set_permissions(self.keys_dir(), fs::Permissions::from_mode(0o700))?;

        let config =
            NodeConfig { moniker: moniker.into(), abci: AbciSection::default(), storage: StorageSection::default() };
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

        let admin = Key::generate(KeyKind::Ed25519);
        let kf = KeyFile {
            name: "admin".into(),
            kind: admin.kind(),
            address: admin.address().to_string(),
            secret_hex: hex::encode(admin.secret_bytes()),
        };
        write_private(&self.keys_dir().join("admin.json"), serde_json::to_string_pretty(&kf)?.as_bytes())?;

        let app_state = AppState {
            zone,
            params: Params::standard(),
            accounts: kawase_accounts::Genesis { admin: admin.address(), banks: Vec::new(), accounts: Vec::new() },
            token: Default::default(),
        };
        let genesis = GenesisDoc {
            genesis_time: tendermint::Time::now(),
            chain_id: chain,
            initial_height: 1,
            consensus_params: consensus_params(),
            validators: vec![tendermint::validator::Info::new(validator_pub, 10u32.into())],
            app_hash: Default::default(),
            app_state,
        };
        fs::write(self.genesis_file(), serde_json::to_string_pretty(&genesis)?)?;
        Ok(())
    }
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
    let demo = kawase_app::testkit::Demo::new();
    let seed = ed25519_consensus::SigningKey::from([7u8; 32]);
    let validator = tendermint::PrivateKey::from_ed25519_consensus(seed);
    Ok(GenesisDoc {
        genesis_time: tendermint::Time::from_unix_timestamp(1_767_225_600, 0)?,
        chain_id: chain_id.parse()?,
        initial_height: 1,
        consensus_params: consensus_params(),
        validators: vec![tendermint::validator::Info::new(validator.public_key(), 10u32.into())],
        app_hash: Default::default(),
        app_state: demo.genesis(zone),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let mut chain =
                kawase_app::testkit::TestChain::open(kawase_app::AppConfig::new(dir.path().join("s")), chain_id)
                    .expect("open");
            chain.init(&parsed.app_state).expect("init from sample");
            chain.block(vec![]).expect("first block");
            assert_eq!(chain.app.zone(), Some(zone));
        }
    }
}
