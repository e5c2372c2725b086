//! `kawased keys`: the encrypted keystore from the command line, and the
//! key lookups every `tx` command shares.
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use kawase_client::{Key, KeyInfo, KeyKind, Keystore};
use kawase_primitives::Address;

use crate::output::{print_value, Output};

/// Where keys live and how their passphrase is found.
#[derive(Args, Clone, Debug)]
pub struct KeyringOpts {
    /// Keystore directory (one encrypted file per key).
    #[arg(long, env = "KAWASE_KEYRING_DIR", default_value_os_t = default_keyring(), global = true)]
    pub keyring_dir: PathBuf,
    /// File holding the keystore passphrase (first line). Otherwise
    /// KAWASE_PASSPHRASE, otherwise asked on the terminal.
    #[arg(long, env = "KAWASE_PASSPHRASE_FILE", global = true)]
    pub passphrase_file: Option<PathBuf>,
}

fn default_keyring() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".kawase").join("keys")
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    Ed25519,
    Secp256k1,
}

impl From<KindArg> for KeyKind {
    fn from(k: KindArg) -> KeyKind {
        match k {
            KindArg::Ed25519 => KeyKind::Ed25519,
            KindArg::Secp256k1 => KeyKind::Secp256k1,
        }
    }
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Create a key (prints its 24-word recovery phrase once), or recover one from a phrase with --recover.
    Add {
        name: String,
        #[arg(long, value_enum, default_value = "ed25519")]
        kind: KindArg,
        /// Read a BIP-39 phrase (from the terminal, or stdin's first line) instead of generating one.
        #[arg(long)]
        recover: bool,
    },
    /// Import a key file written by `keys export`, or a plain key file of `kawased init` (keys/admin.json).
    Import {
        name: String,
        /// The exported file.
        file: PathBuf,
    },
    /// Write a key, encrypted under an export passphrase, to a file or stdout.
    Export {
        name: String,
        /// Output file (created 0600); stdout when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List the keys: names, kinds and addresses (no passphrase needed).
    List,
    /// Show one key's address and public key.
    Show {
        name: String,
        /// Print only the address.
        #[arg(long)]
        address: bool,
    },
    /// Delete a key file for good.
    Delete {
        name: String,
        /// Don't ask for confirmation.
        #[arg(long, short)]
        yes: bool,
    },
}

impl KeyringOpts {
    pub fn keystore(&self) -> Result<Keystore> {
        Ok(Keystore::open(&self.keyring_dir)?)
    }

    /// The keystore passphrase: file, then env, then terminal.
    pub fn passphrase(&self, purpose: &str) -> Result<String> {
        secret_from(self.passphrase_file.as_deref(), "KAWASE_PASSPHRASE", &format!("passphrase for {purpose}: "))
    }

    /// A new passphrase (asked twice on a terminal).
    pub fn new_passphrase(&self, purpose: &str) -> Result<String> {
        let first = self.passphrase(purpose)?;
        if self.passphrase_file.is_none() && std::env::var_os("KAWASE_PASSPHRASE").is_none() {
            let again = rpassword::prompt_password("repeat it: ").context("reading the passphrase")?;
            if again != first {
                bail!("the two passphrases differ; nothing was written");
            }
        }
        Ok(first)
    }

    /// Loads a signing key by name.
    pub fn signer(&self, name: &str) -> Result<Key> {
        let ks = self.keystore()?;
        ks.show(name)?;
        let pass = self.passphrase(&format!("key `{name}`"))?;
        Ok(ks.load(name, &pass)?)
    }

    /// An address argument: a bech32 address, or the name of a key in the keystore.
    pub fn address(&self, arg: &str) -> Result<Address> {
        if let Ok(a) = arg.parse::<Address>() {
            return Ok(a);
        }
        if arg.starts_with("kawase1") {
            bail!("`{arg}` is not a valid address (bech32 with prefix `kawase`)");
        }
        let ks = self.keystore()?;
        match ks.show(arg) {
            Ok(info) => Ok(info.address),
            Err(_) => bail!(
                "`{arg}` is neither an address nor a key name in {} (`kawased keys list` shows the names)",
                self.keyring_dir.display()
            ),
        }
    }
}

/// A secret from a file (first line), an env var, or the terminal.
fn secret_from(file: Option<&Path>, env: &str, prompt: &str) -> Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading passphrase file {}", f.display()))?;
        return Ok(text.lines().next().unwrap_or("").to_string());
    }
    if let Ok(p) = std::env::var(env) {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set {env} or its _FILE variant (there is no terminal to ask on)");
    }
    rpassword::prompt_password(prompt).context("reading the passphrase")
}

/// A plain key file as `kawased init` writes it (`kind`, `secret_hex`);
/// `None` if the text is something else (an export).
fn plain_key(text: &str) -> Option<Result<Key>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let hex_secret = v.get("secret_hex")?.as_str()?;
    let kind: KeyKind = serde_json::from_value(v.get("kind")?.clone()).ok()?;
    let seed: Option<[u8; 32]> = hex::decode(hex_secret.trim()).ok().and_then(|b| b.try_into().ok());
    Some(match seed {
        Some(seed) => Key::from_seed(kind, seed).map_err(Into::into),
        None => Err(anyhow::anyhow!("secret_hex must be 64 hex characters")),
    })
}

fn print_info(info: &KeyInfo, output: Output) -> Result<()> {
    print_value(&serde_json::to_value(info)?, output)
}

/// What the keystore's audit log records of a command: kind and key name.
fn audited(cmd: &KeysCmd) -> Option<(&'static str, String)> {
    use kawase_audit::kind;
    match cmd {
        KeysCmd::Add { name, recover, .. } => Some((if *recover { "key_recover" } else { "key_add" }, name.clone())),
        KeysCmd::Import { name, .. } => Some((kind::KEY_IMPORT, name.clone())),
        KeysCmd::Export { name, .. } => Some((kind::KEY_EXPORT, name.clone())),
        KeysCmd::Delete { name, .. } => Some(("key_delete", name.clone())),
        KeysCmd::List | KeysCmd::Show { .. } => None,
    }
}

/// Runs `cmd`; a key that is made, imported, exported or deleted, or an
/// attempt at it that fails, is written to `<keyring dir>/audit.log` first
/// thing after (an unwritable audit log fails the command).
pub fn run(cmd: KeysCmd, opts: &KeyringOpts, output: Output) -> Result<()> {
    let Some((kind, name)) = audited(&cmd) else { return run_unaudited(cmd, opts, output) };
    let dir = opts.keystore()?.dir().to_path_buf();
    let result = run_unaudited(cmd, opts, output);
    let mut event = kawase_audit::Event::new(kind, crate::audit::local_actor()).detail("key", name);
    if let Err(e) = &result {
        event = event.failed().detail("error", format!("{e:#}"));
    }
    let audit = crate::audit::open(&dir.join("audit.log"))?;
    audit.try_record(event).map_err(|e| anyhow::anyhow!("keystore audit log: {e}"))?;
    result
}

fn run_unaudited(cmd: KeysCmd, opts: &KeyringOpts, output: Output) -> Result<()> {
    let ks = opts.keystore()?;
    match cmd {
        KeysCmd::Add { name, kind, recover } => {
            let info = if recover {
                let phrase = if std::io::stdin().is_terminal() {
                    rpassword::prompt_password("recovery phrase (24 words): ").context("reading the phrase")?
                } else {
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line).context("reading the phrase from stdin")?;
                    line
                };
                let pass = opts.new_passphrase(&format!("new key `{name}`"))?;
                ks.import_mnemonic(&name, kind.into(), phrase.trim(), &pass)?
            } else {
                let pass = opts.new_passphrase(&format!("new key `{name}`"))?;
                let (info, phrase) = ks.add(&name, kind.into(), &pass)?;
                if matches!(output, Output::Json) {
                    let mut v = serde_json::to_value(&info)?;
                    v["mnemonic"] = serde_json::Value::String(phrase);
                    return print_value(&v, output);
                }
                println!("recovery phrase (write it down; it is shown only this once):\n\n  {phrase}\n");
                info
            };
            print_info(&info, output)
        }
        KeysCmd::Import { name, file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            if let Some(key) = plain_key(&text) {
                let key = key.with_context(|| format!("{}", file.display()))?;
                let pass = opts.new_passphrase(&format!("key `{name}`"))?;
                let info = ks.import_key(&name, &key, &pass)?;
                eprintln!("imported; delete the plain file {} once you have checked the key", file.display());
                return print_info(&info, output);
            }
            let export_pass = secret_from(
                std::env::var_os("KAWASE_EXPORT_PASSPHRASE_FILE").map(PathBuf::from).as_deref(),
                "KAWASE_EXPORT_PASSPHRASE",
                "passphrase the key was exported with: ",
            )?;
            let pass = opts.new_passphrase(&format!("key `{name}`"))?;
            print_info(&ks.import_exported(&name, &text, &export_pass, &pass)?, output)
        }
        KeysCmd::Export { name, out } => {
            ks.show(&name)?;
            let pass = opts.passphrase(&format!("key `{name}`"))?;
            let export_pass = secret_from(
                std::env::var_os("KAWASE_EXPORT_PASSPHRASE_FILE").map(PathBuf::from).as_deref(),
                "KAWASE_EXPORT_PASSPHRASE",
                "passphrase to encrypt the export with: ",
            )?;
            let text = ks.export(&name, &pass, &export_pass)?;
            match out {
                Some(path) => {
                    crate::home::write_private(&path, text.as_bytes())?;
                    eprintln!("exported `{name}` to {}", path.display());
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        KeysCmd::List => {
            let list = ks.list()?;
            if matches!(output, Output::Text) && list.is_empty() {
                println!("no keys in {} (create one with `kawased keys add NAME`)", ks.dir().display());
                return Ok(());
            }
            print_value(&serde_json::to_value(list)?, output)
        }
        KeysCmd::Show { name, address } => {
            let info = ks.show(&name)?;
            if address {
                println!("{}", info.address);
                return Ok(());
            }
            print_info(&info, output)
        }
        KeysCmd::Delete { name, yes } => {
            let info = ks.show(&name)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!("deleting `{name}` needs --yes when there is no terminal to confirm on");
                }
                eprint!("delete `{name}` ({})? this cannot be undone [y/N] ", info.address);
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y" | "yes") {
                    bail!("not deleted");
                }
            }
            ks.delete(&name)?;
            println!("deleted `{name}` ({})", info.address);
            Ok(())
        }
    }
}
