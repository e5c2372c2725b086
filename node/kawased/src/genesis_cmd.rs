//! `kawased genesis`: edit and check a genesis file before a chain starts.
//! `validate` runs the modules' own genesis code on an in-memory state, so
//! what it accepts is exactly what InitChain accepts.
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use kawase_accounts::{AccountGenesis, BankGenesis, Role};
use kawase_app::genesis::GenesisDoc;
use kawase_primitives::{parse_amount, Address, Delta, MemState};
use kawase_token::BalanceGenesis;

use crate::home::Home;
use crate::output::{print_value, Output};
use crate::txcmd::RoleArg;

/// Which genesis file: `--genesis FILE`, or `HOME/config/genesis.json`.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// The genesis file.
    #[arg(long, conflicts_with = "home")]
    pub genesis: Option<PathBuf>,
    /// A node home; its `config/genesis.json`.
    #[arg(long)]
    pub home: Option<PathBuf>,
}

impl Target {
    fn path(&self) -> Result<PathBuf> {
        match (&self.genesis, &self.home) {
            (Some(g), _) => Ok(g.clone()),
            (None, Some(h)) => Ok(Home::new(h).genesis_file()),
            (None, None) => bail!("which genesis? pass --genesis FILE or --home DIR"),
        }
    }
}

#[derive(Subcommand)]
pub enum GenesisCmd {
    /// Add a validator (ed25519 consensus key).
    AddValidator {
        #[command(flatten)]
        target: Target,
        /// The validator's public key, base64 (the `pub_key.value` of its priv_validator_key.json).
        #[arg(long, conflicts_with = "from_home", required_unless_present = "from_home")]
        pubkey: Option<String>,
        /// Read the public key from this node home's config/priv_validator_key.json.
        #[arg(long)]
        from_home: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        power: u32,
    },
    /// Add an issuing bank (FZ).
    AddBank {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        address: String,
        #[arg(long)]
        name: String,
    },
    /// Add an account: a bank's customer or business operator, or a relayer.
    AddAccount {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        address: String,
        #[arg(long, value_enum, default_value = "customer")]
        role: RoleArg,
        /// The customer's bank (customers and business operators).
        #[arg(long)]
        bank: Option<String>,
        #[arg(long, default_value = "")]
        deposit_ref: String,
        /// Opening balance, minted by the account's bank.
        #[arg(long)]
        balance: Option<String>,
    },
    /// Check a genesis file: structure, validators, banks, accounts, amounts.
    Validate {
        /// The file (or use --genesis/--home).
        file: Option<PathBuf>,
        #[command(flatten)]
        target: Target,
    },
}

fn load(path: &Path) -> Result<GenesisDoc> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow!("{} is not a valid genesis file: {e}", path.display()))
}

fn save(path: &Path, doc: &GenesisDoc) -> Result<()> {
    check(doc).with_context(|| format!("refusing to write {}", path.display()))?;
    std::fs::write(path, serde_json::to_string_pretty(doc)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn address(field: &str, s: &str) -> Result<Address> {
    s.parse::<Address>().map_err(|e| anyhow!("{field} `{s}`: {e}"))
}

/// Everything InitChain would check, plus the validator set.
pub fn check(doc: &GenesisDoc) -> Result<()> {
    if doc.validators.is_empty() {
        bail!("no validators: add one with `kawased genesis add-validator`");
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in &doc.validators {
        if !seen.insert(v.pub_key.to_bytes()) {
            bail!("validator {} is listed twice", v.address);
        }
        if v.power.value() == 0 {
            bail!("validator {} has zero power", v.address);
        }
        if v.pub_key.ed25519().is_none() {
            bail!("validator {}: only ed25519 consensus keys are supported", v.address);
        }
    }
    let mut state = Delta::new(MemState::default());
    doc.app_state.apply(doc.chain_id.as_str(), &mut state).map_err(|e| anyhow!("app_state: {e}"))
}

pub fn run(cmd: GenesisCmd, output: Output) -> Result<()> {
    match cmd {
        GenesisCmd::AddValidator { target, pubkey, from_home, power } => {
            let path = target.path()?;
            let mut doc = load(&path)?;
            let pk = match (pubkey, from_home) {
                (Some(b64), _) => {
                    use base64::Engine;
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(b64.trim())
                        .map_err(|_| anyhow!("--pubkey must be base64 of a 32-byte ed25519 key"))?;
                    tendermint::PublicKey::from_raw_ed25519(&raw)
                        .ok_or_else(|| anyhow!("--pubkey must be base64 of a 32-byte ed25519 key"))?
                }
                (None, Some(h)) => {
                    let k = Home::new(h).load_validator_key()?;
                    tendermint::PublicKey::from_raw_ed25519(k.verification_key().as_bytes())
                        .ok_or_else(|| anyhow!("validator key"))?
                }
                (None, None) => bail!("pass --pubkey or --from-home"),
            };
            if power == 0 {
                bail!("--power must be above zero");
            }
            doc.validators.push(tendermint::validator::Info::new(pk, power.into()));
            save(&path, &doc)?;
            println!("added validator {} (power {power}) to {}", tendermint::account::Id::from(pk), path.display());
        }
        GenesisCmd::AddBank { target, address: a, name } => {
            let path = target.path()?;
            let mut doc = load(&path)?;
            let bank = BankGenesis { address: address("--address", &a)?, name };
            accounts_section(&mut doc, |g| g.banks.push(bank))?;
            save(&path, &doc)?;
            println!("added bank {a} to {}", path.display());
        }
        GenesisCmd::AddAccount { target, address: a, role, bank, deposit_ref, balance } => {
            let path = target.path()?;
            let mut doc = load(&path)?;
            let addr = address("--address", &a)?;
            let bank = bank.as_deref().map(|b| address("--bank", b)).transpose()?;
            let role: Role = role.into();
            if role != Role::Relayer && bank.is_none() {
                bail!("a {} needs --bank (the bank that registered it)", role.as_str());
            }
            let account = AccountGenesis { address: addr, role, bank, deposit_account_ref: deposit_ref };
            accounts_section(&mut doc, |g| g.accounts.push(account))?;
            if let Some(b) = balance {
                parse_amount(&b).map_err(|e| anyhow!("--balance `{b}`: {e}"))?;
                let balance = BalanceGenesis { address: addr, amount: b };
                doc.app_state
                    .update("token", |g: &mut kawase_token::Genesis| g.balances.push(balance))
                    .map_err(|e| anyhow!("app_state: {e}"))?;
            }
            save(&path, &doc)?;
            println!("added {} {a} to {}", role.as_str(), path.display());
        }
        GenesisCmd::Validate { file, target } => {
            let path = match file {
                Some(f) => f,
                None => target.path()?,
            };
            let doc = load(&path)?;
            check(&doc).with_context(|| format!("{} is not valid", path.display()))?;
            let token: kawase_token::Genesis = doc.app_state.section("token").map_err(|e| anyhow!("app_state: {e}"))?;
            let accounts = accounts_of(&doc)?;
            let supply: u128 = token
                .balances
                .iter()
                .map(|b| parse_amount(&b.amount).unwrap_or(0))
                .fold(0u128, |a, b| a.saturating_add(b));
            let v = serde_json::json!({
                "file": path.display().to_string(),
                "valid": true,
                "chain_id": doc.chain_id.as_str(),
                "zone": doc.app_state.zone.as_str(),
                "validators": doc.validators.len(),
                "banks": accounts.banks.len(),
                "accounts": accounts.accounts.len(),
                "opening_supply": supply.to_string(),
            });
            print_value(&v, output)?;
        }
    }
    Ok(())
}

/// The accounts section, which every genesis file has (it names the admin).
fn accounts_of(doc: &GenesisDoc) -> Result<kawase_accounts::Genesis> {
    let v = doc.app_state.modules.get("accounts").ok_or_else(|| anyhow!("app_state: missing field `accounts`"))?;
    serde_json::from_value(v.clone()).map_err(|e| anyhow!("app_state: accounts: {e}"))
}

fn accounts_section(doc: &mut GenesisDoc, f: impl FnOnce(&mut kawase_accounts::Genesis)) -> Result<()> {
    let mut g = accounts_of(doc)?;
    f(&mut g);
    doc.app_state.set("accounts", &g);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(file: &str) -> GenesisDoc {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../genesis");
        load(&root.join(file)).expect("sample genesis")
    }

    #[test]
    fn sample_genesis_files_validate() {
        check(&sample("fz.json")).expect("fz.json is valid");
        check(&sample("bz.json")).expect("bz.json is valid");
    }

    #[test]
    fn validate_names_duplicates_unknown_banks_and_bad_amounts() {
        let base = sample("fz.json");
        let bank = accounts_of(&base).expect("accounts").banks[0].clone();
        let fresh = || kawase_client::Key::generate(kawase_client::KeyKind::Ed25519).address();
        let stranger = fresh();

        let mut dup = base.clone();
        accounts_section(&mut dup, |g| g.banks.push(bank.clone())).expect("accounts");
        let e = format!("{:#}", check(&dup).expect_err("duplicate bank"));
        assert!(e.contains(&bank.address.to_string()), "{e}");

        let mut dup_val = base.clone();
        dup_val.validators.push(dup_val.validators[0].clone());
        assert!(format!("{:#}", check(&dup_val).expect_err("dup validator")).contains("listed twice"));

        let mut unknown = base.clone();
        let stray = AccountGenesis {
            address: fresh(),
            role: Role::Customer,
            bank: Some(stranger),
            deposit_account_ref: "X-1".into(),
        };
        accounts_section(&mut unknown, |g| g.accounts.push(stray)).expect("accounts");
        let e = format!("{:#}", check(&unknown).expect_err("unknown bank"));
        assert!(e.contains("unknown bank"), "{e}");

        let mut bad = base.clone();
        let odd = BalanceGenesis { address: bank.address, amount: "12.5".into() };
        bad.app_state.update("token", |g: &mut kawase_token::Genesis| g.balances.push(odd)).expect("token");
        let e = format!("{:#}", check(&bad).expect_err("bad amount"));
        assert!(e.contains("balance of"), "{e}");

        let mut none = base;
        none.validators.clear();
        assert!(format!("{:#}", check(&none).expect_err("no validators")).contains("no validators"));
    }
}
