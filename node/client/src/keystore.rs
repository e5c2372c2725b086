//! Encrypted on-disk account keys: one JSON file per key, `DIR/<name>.json`.
//!
//! The 32-byte secret is sealed with XChaCha20-Poly1305 under a key stretched
//! from the passphrase by argon2id (parameters and salt kept in the file).
//! The clear header (version, name, kind, address, public key) is the AEAD's
//! associated data, so it cannot be edited or swapped between files without
//! the passphrase no longer opening the key.
//!
//! ```json
//! {
//!   "type": "kawase-key",
//!   "version": 1,
//!   "name": "alice",
//!   "kind": "secp256k1",
//!   "address": "kawase1…",
//!   "public_key": "02…",
//!   "crypto": {
//!     "kdf": "argon2id",
//!     "kdf_params": { "m_cost": 19456, "t_cost": 2, "p_cost": 1, "salt": "<16 bytes hex>" },
//!     "cipher": "xchacha20-poly1305",
//!     "nonce": "<24 bytes hex>",
//!     "ciphertext": "<32-byte secret + 16-byte tag, hex>"
//!   }
//! }
//! ```
//! Exports are the same document with `"type": "kawase-key-export"`.
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use cosmrs::crypto::PublicKey;
use kawase_primitives::Address;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{address_of, generate_mnemonic, key_from_mnemonic, Key, KeyKind, MnemonicError};

/// File format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Shortest passphrase accepted when a key is written.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
const KEY_TYPE: &str = "kawase-key";
const EXPORT_TYPE: &str = "kawase-key-export";
const KDF: &str = "argon2id";
const CIPHER: &str = "xchacha20-poly1305";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
const MAX_NAME_LEN: usize = 64;
/// Key files are under a kilobyte; anything far larger is not one.
const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Ceilings on argon2 parameters read from a file, so a crafted file cannot
/// make `load` allocate gigabytes or grind for minutes: 256 MiB (13 times
/// our default of 19 MiB), and at most 1 GiB-pass of work in all.
const MAX_M_COST_KIB: u32 = 1 << 18;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 8;
const MAX_WORK_KIB_PASSES: u64 = 1 << 20;
/// Key files and the directory are private to their owner, like ssh keys.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

/// Why a keystore operation failed. Codes are stable: never renumber.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    #[error("invalid key name `{0}`: use 1-64 characters from A-Z a-z 0-9 . _ - not starting with `.`")]
    InvalidName(String),
    #[error("no key named `{name}` in {}: `kawased keys list` shows the names", dir.display())]
    NotFound { name: String, dir: PathBuf },
    #[error("a key named `{name}` already exists in {}: choose another name (nothing was overwritten)", dir.display())]
    AlreadyExists { name: String, dir: PathBuf },
    #[error("wrong passphrase for key `{name}`, or its file was altered; nothing was changed")]
    WrongPassphrase { name: String },
    #[error("{origin} is damaged or not a Kawase key ({reason}): restore it from a backup or re-import the key from its mnemonic")]
    Corrupt { origin: String, reason: String },
    #[error("key file {} has mode {mode:03o}, so other users may read or change it: run `chmod 600 {}`", path.display(), path.display())]
    BadPermissions { path: PathBuf, mode: u32 },
    #[error("passphrase too short: use at least {min} characters")]
    WeakPassphrase { min: usize },
    #[error("{origin} has format version {version}, this build reads version {FORMAT_VERSION}: use a newer kawased")]
    UnsupportedVersion { origin: String, version: u32 },
    #[error(transparent)]
    Mnemonic(#[from] MnemonicError),
    #[error("deriving the encryption key from the passphrase failed: {0}")]
    Kdf(String),
    #[error("keystore I/O on {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl KeystoreError {
    /// Stable numeric code, for scripts and logs.
    pub fn code(&self) -> u32 {
        match self {
            KeystoreError::InvalidName(_) => 1,
            KeystoreError::NotFound { .. } => 2,
            KeystoreError::AlreadyExists { .. } => 3,
            KeystoreError::WrongPassphrase { .. } => 4,
            KeystoreError::Corrupt { .. } => 5,
            KeystoreError::BadPermissions { .. } => 6,
            KeystoreError::WeakPassphrase { .. } => 7,
            KeystoreError::UnsupportedVersion { .. } => 8,
            KeystoreError::Mnemonic(_) => 9,
            KeystoreError::Kdf(_) => 10,
            KeystoreError::Io { .. } => 11,
        }
    }
}

/// The public facts about a stored key (no passphrase needed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub name: String,
    pub kind: KeyKind,
    /// Serialised as the bech32 `kawase1…` string.
    pub address: Address,
    /// Raw public key, hex (32 bytes ed25519, 33 bytes compressed secp256k1).
    pub public_key: String,
}

/// A directory of encrypted key files.
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
}

impl Keystore {
    /// Opens the keystore at `dir`, creating it (mode 0700) if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeystoreError> {
        let dir = dir.into();
        let io_err = |source| KeystoreError::Io { path: dir.clone(), source };
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(io_err(io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a directory"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                DirBuilder::new().recursive(true).mode(DIR_MODE).create(&dir).map_err(io_err)?;
                // The umask may have narrowed the mode; pin it exactly.
                fs::set_permissions(&dir, Permissions::from_mode(DIR_MODE)).map_err(io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        }
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a key from a fresh 24-word mnemonic; returns the mnemonic,
    /// which is the only way to recover the key without its file.
    pub fn add(&self, name: &str, kind: KeyKind, passphrase: &str) -> Result<(KeyInfo, String), KeystoreError> {
        self.check_new(name, passphrase)?;
        let mnemonic = generate_mnemonic();
        let key = key_from_mnemonic(kind, &mnemonic, "")?;
        let info = self.store(name, &key, passphrase)?;
        Ok((info, mnemonic))
    }

    /// Stores the key of a BIP-39 mnemonic (no BIP-39 passphrase).
    pub fn import_mnemonic(
        &self,
        name: &str,
        kind: KeyKind,
        mnemonic: &str,
        passphrase: &str,
    ) -> Result<KeyInfo, KeystoreError> {
        self.check_new(name, passphrase)?;
        let key = key_from_mnemonic(kind, mnemonic, "")?;
        self.store(name, &key, passphrase)
    }

    pub fn import_key(&self, name: &str, key: &Key, passphrase: &str) -> Result<KeyInfo, KeystoreError> {
        self.check_new(name, passphrase)?;
        self.store(name, key, passphrase)
    }

    /// Export: the key re-encrypted under `export_passphrase`, as a
    /// self-contained JSON text (the key file format, type `kawase-key-export`).
    pub fn export(&self, name: &str, passphrase: &str, export_passphrase: &str) -> Result<String, KeystoreError> {
        check_passphrase(export_passphrase)?;
        let key = self.load(name, passphrase)?;
        let sealed = seal(EXPORT_TYPE, name, &key, export_passphrase)?;
        Ok(serde_json::to_string_pretty(&sealed).expect("a key document always serialises"))
    }

    /// Stores under `name` a key exported by [`Keystore::export`] (or a key
    /// file of another keystore), re-encrypted under `passphrase`.
    pub fn import_exported(
        &self,
        name: &str,
        exported: &str,
        export_passphrase: &str,
        passphrase: &str,
    ) -> Result<KeyInfo, KeystoreError> {
        self.check_new(name, passphrase)?;
        let origin = "the exported key";
        let doc = parse_document(exported, origin, &[EXPORT_TYPE, KEY_TYPE])?;
        let key = unseal(&doc, origin, export_passphrase)?;
        self.store(name, &key, passphrase)
    }

    /// Every key, sorted by name. Files not named like keys are ignored.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeystoreError> {
        let io_err = |source| KeystoreError::Io { path: self.dir.clone(), source };
        let mut keys = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err)? {
            let file_name = entry.map_err(io_err)?.file_name();
            let Some(name) = file_name.to_str().and_then(|f| f.strip_suffix(".json")) else { continue };
            if check_name(name).is_ok() {
                keys.push(self.show(name)?);
            }
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    pub fn show(&self, name: &str) -> Result<KeyInfo, KeystoreError> {
        let (path, text) = self.read(name, false)?;
        let doc = parse_document(&text, &origin_of(&path), &[KEY_TYPE])?;
        check_file_name(&doc, name, &path)?;
        doc.info(&origin_of(&path))
    }

    pub fn delete(&self, name: &str) -> Result<(), KeystoreError> {
        let path = self.path_of(name)?;
        fs::remove_file(&path).map_err(|e| self.file_error(name, &path, e))?;
        self.sync_dir()
    }

    /// Decrypts the key; refuses a file other users can read or write.
    pub fn load(&self, name: &str, passphrase: &str) -> Result<Key, KeystoreError> {
        let (path, text) = self.read(name, true)?;
        let origin = origin_of(&path);
        let doc = parse_document(&text, &origin, &[KEY_TYPE])?;
        check_file_name(&doc, name, &path)?;
        unseal(&doc, &origin, passphrase)
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, KeystoreError> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Validates a write up front, before the slow key derivation.
    fn check_new(&self, name: &str, passphrase: &str) -> Result<(), KeystoreError> {
        let path = self.path_of(name)?;
        check_passphrase(passphrase)?;
        match fs::symlink_metadata(&path) {
            Ok(_) => Err(KeystoreError::AlreadyExists { name: name.into(), dir: self.dir.clone() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(KeystoreError::Io { path, source: e }),
        }
    }

    fn store(&self, name: &str, key: &Key, passphrase: &str) -> Result<KeyInfo, KeystoreError> {
        let doc = seal(KEY_TYPE, name, key, passphrase)?;
        let text = serde_json::to_string_pretty(&doc).expect("a key document always serialises");
        self.write_new(name, text.as_bytes())?;
        Ok(info_of(name, key))
    }

    /// Writes `DIR/<name>.json` atomically with mode 0600, never replacing an
    /// existing file: a private temp file is synced, then hard-linked into
    /// place (the link fails if the name is taken, which a rename would not).
    fn write_new(&self, name: &str, contents: &[u8]) -> Result<(), KeystoreError> {
        let path = self.path_of(name)?;
        // Starts with `.`, so no key name can collide with it and `list` skips it.
        let tmp = self.dir.join(format!(".{name}.{:016x}.tmp", OsRng.next_u64()));
        let io_err = |path: &Path, source| KeystoreError::Io { path: path.to_path_buf(), source };
        let linked = match write_private(&tmp, contents) {
            Ok(()) => fs::hard_link(&tmp, &path).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => {
                    KeystoreError::AlreadyExists { name: name.into(), dir: self.dir.clone() }
                }
                _ => io_err(&path, e),
            }),
            Err(e) => Err(io_err(&tmp, e)),
        };
        // Best effort: once linked the key is stored, and a leftover temp file
        // is owner-only, encrypted and skipped by `list`.
        let _ = fs::remove_file(&tmp);
        linked?;
        self.sync_dir()
    }

    /// Makes a new or removed directory entry durable.
    fn sync_dir(&self) -> Result<(), KeystoreError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| KeystoreError::Io { path: self.dir.clone(), source })
    }

    /// Reads a key file, checking its mode first when it is about to be
    /// decrypted (the check is on the open handle, so it is the file read).
    fn read(&self, name: &str, private: bool) -> Result<(PathBuf, String), KeystoreError> {
        let path = self.path_of(name)?;
        let file = File::open(&path).map_err(|e| self.file_error(name, &path, e))?;
        let meta = file.metadata().map_err(|e| self.file_error(name, &path, e))?;
        if !meta.is_file() {
            return Err(KeystoreError::Corrupt { origin: origin_of(&path), reason: "not a regular file".into() });
        }
        let mode = meta.permissions().mode() & 0o777;
        if private && mode & 0o077 != 0 {
            return Err(KeystoreError::BadPermissions { path, mode });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(KeystoreError::Corrupt { origin: origin_of(&path), reason: format!("{} bytes", meta.len()) });
        }
        let mut text = String::new();
        file.take(MAX_FILE_BYTES).read_to_string(&mut text).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => {
                KeystoreError::Corrupt { origin: origin_of(&path), reason: "not UTF-8".into() }
            }
            _ => self.file_error(name, &path, e),
        })?;
        Ok((path, text))
    }

    fn file_error(&self, name: &str, path: &Path, e: io::Error) -> KeystoreError {
        match e.kind() {
            io::ErrorKind::NotFound => KeystoreError::NotFound { name: name.into(), dir: self.dir.clone() },
            _ => KeystoreError::Io { path: path.to_path_buf(), source: e },
        }
    }
}

/// Creates `path` (which must not exist) owner-only, writes and syncs it.
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path)?;
    // The umask may have narrowed the mode; pin it exactly.
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    file.write_all(contents)?;
    file.sync_all()
}

fn check_name(name: &str) -> Result<(), KeystoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        // Bounded, so a huge or binary argument does not flood the message.
        Err(KeystoreError::InvalidName(name.chars().take(MAX_NAME_LEN + 1).collect()))
    }
}

fn check_passphrase(passphrase: &str) -> Result<(), KeystoreError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(KeystoreError::WeakPassphrase { min: MIN_PASSPHRASE_CHARS });
    }
    Ok(())
}

fn origin_of(path: &Path) -> String {
    format!("key file {}", path.display())
}

/// A file renamed by hand would otherwise load under a name it was not sealed with.
fn check_file_name(doc: &KeyDocument, name: &str, path: &Path) -> Result<(), KeystoreError> {
    if doc.name != name {
        return Err(KeystoreError::Corrupt {
            origin: origin_of(path),
            reason: format!("it holds key `{}`; rename it back to {}.json", doc.name, doc.name),
        });
    }
    Ok(())
}

fn info_of(name: &str, key: &Key) -> KeyInfo {
    KeyInfo {
        name: name.into(),
        kind: key.kind(),
        address: key.address(),
        public_key: hex::encode(key.public_key().to_bytes()),
    }
}

/// The on-disk (and export) document.
#[derive(Serialize, Deserialize)]
struct KeyDocument {
    #[serde(rename = "type")]
    doc_type: String,
    version: u32,
    name: String,
    kind: KeyKind,
    address: String,
    public_key: String,
    crypto: Crypto,
}

#[derive(Serialize, Deserialize)]
struct Crypto {
    kdf: String,
    kdf_params: KdfParams,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct KdfParams {
    /// Memory in KiB.
    m_cost: u32,
    /// Passes.
    t_cost: u32,
    /// Lanes.
    p_cost: u32,
    salt: String,
}

/// Just the version, read before the rest so a newer format is reported as
/// such rather than as damage.
#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

impl KeyDocument {
    /// The AEAD associated data: the clear header, each field length-prefixed
    /// so no two headers encode alike.
    fn associated_data(&self) -> Vec<u8> {
        let version = self.version.to_string();
        let fields = [version.as_str(), &self.name, self.kind.as_str(), &self.address, &self.public_key];
        let mut aad = b"kawase-keystore".to_vec();
        for field in fields {
            aad.extend_from_slice(&(field.len() as u64).to_be_bytes());
            aad.extend_from_slice(field.as_bytes());
        }
        aad
    }

    /// The header as [`KeyInfo`], after checking that the public key is
    /// well-formed for its kind and is the one the address belongs to.
    fn info(&self, origin: &str) -> Result<KeyInfo, KeystoreError> {
        let corrupt = |reason: String| KeystoreError::Corrupt { origin: origin.into(), reason };
        let address: Address = self.address.parse().map_err(|e| corrupt(format!("address: {e}")))?;
        let raw = hex::decode(&self.public_key).map_err(|e| corrupt(format!("public key: {e}")))?;
        let public_key = match self.kind {
            KeyKind::Ed25519 => tendermint::PublicKey::from_raw_ed25519(&raw).map(PublicKey::from),
            KeyKind::Secp256k1 => k256::ecdsa::VerifyingKey::from_sec1_bytes(&raw).ok().map(|k| PublicKey::from(&k)),
        }
        .ok_or_else(|| corrupt(format!("public key is not a valid {} key", self.kind)))?;
        if address_of(&public_key) != address {
            return Err(corrupt("the address does not belong to the public key".into()));
        }
        Ok(KeyInfo { name: self.name.clone(), kind: self.kind, address, public_key: self.public_key.clone() })
    }
}

fn parse_document(text: &str, origin: &str, types: &[&str]) -> Result<KeyDocument, KeystoreError> {
    let corrupt = |reason: String| KeystoreError::Corrupt { origin: origin.into(), reason };
    let probe: VersionProbe = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    if probe.version != FORMAT_VERSION {
        return Err(KeystoreError::UnsupportedVersion { origin: origin.into(), version: probe.version });
    }
    let doc: KeyDocument = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    if !types.contains(&doc.doc_type.as_str()) {
        return Err(corrupt(format!("type `{}`, expected {}", doc.doc_type, types.join(" or "))));
    }
    if check_name(&doc.name).is_err() {
        return Err(corrupt("invalid key name".into()));
    }
    Ok(doc)
}

/// Encrypts `key` under `passphrase` with fresh salt and nonce.
fn seal(doc_type: &str, name: &str, key: &Key, passphrase: &str) -> Result<KeyDocument, KeystoreError> {
    let info = info_of(name, key);
    let params = Params::default();
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let mut doc = KeyDocument {
        doc_type: doc_type.into(),
        version: FORMAT_VERSION,
        name: info.name,
        kind: info.kind,
        address: info.address.to_bech32(),
        public_key: info.public_key,
        crypto: Crypto {
            kdf: KDF.into(),
            kdf_params: KdfParams {
                m_cost: params.m_cost(),
                t_cost: params.t_cost(),
                p_cost: params.p_cost(),
                salt: hex::encode(salt),
            },
            cipher: CIPHER.into(),
            nonce: hex::encode(nonce),
            ciphertext: String::new(),
        },
    };
    let aead_key = derive_key(passphrase, &salt, params)?;
    let secret = Zeroizing::new(key.secret_bytes());
    let ciphertext = XChaCha20Poly1305::new((&*aead_key).into())
        .encrypt(&XNonce::from(nonce), Payload { msg: &secret[..], aad: &doc.associated_data() })
        .expect("XChaCha20-Poly1305 seals any 32-byte message");
    doc.crypto.ciphertext = hex::encode(ciphertext);
    Ok(doc)
}

/// Decrypts the secret and rebuilds the key, checking it is the one the
/// header names.
fn unseal(doc: &KeyDocument, origin: &str, passphrase: &str) -> Result<Key, KeystoreError> {
    let corrupt = |reason: String| KeystoreError::Corrupt { origin: origin.into(), reason };
    let info = doc.info(origin)?;
    let c = &doc.crypto;
    if c.kdf != KDF || c.cipher != CIPHER {
        return Err(corrupt(format!("unsupported algorithms `{}` / `{}`", c.kdf, c.cipher)));
    }
    let salt: [u8; SALT_LEN] = decode_exact(&c.kdf_params.salt, "salt").map_err(corrupt)?;
    let nonce: [u8; NONCE_LEN] = decode_exact(&c.nonce, "nonce").map_err(corrupt)?;
    let ciphertext: [u8; SECRET_LEN + TAG_LEN] = decode_exact(&c.ciphertext, "ciphertext").map_err(corrupt)?;
    let p = &c.kdf_params;
    if p.m_cost > MAX_M_COST_KIB
        || p.t_cost > MAX_T_COST
        || p.p_cost > MAX_P_COST
        || u64::from(p.m_cost) * u64::from(p.t_cost) > MAX_WORK_KIB_PASSES
    {
        return Err(corrupt(format!(
            "argon2 parameters m={} t={} p={} exceed this build's limits",
            p.m_cost, p.t_cost, p.p_cost
        )));
    }
    let params = Params::new(p.m_cost, p.t_cost, p.p_cost, Some(SECRET_LEN))
        .map_err(|e| corrupt(format!("argon2 parameters: {e}")))?;
    let aead_key = derive_key(passphrase, &salt, params)?;
    let plain = XChaCha20Poly1305::new((&*aead_key).into())
        .decrypt(&XNonce::from(nonce), Payload { msg: &ciphertext, aad: &doc.associated_data() })
        .map(Zeroizing::new)
        .map_err(|_| KeystoreError::WrongPassphrase { name: doc.name.clone() })?;
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    // The tag authenticated a 32-byte plaintext: the ciphertext length was checked.
    secret.copy_from_slice(&plain);
    let key = Key::from_seed(doc.kind, *secret).map_err(|e| corrupt(e.to_string()))?;
    if info_of(&doc.name, &key) != info {
        return Err(corrupt("the secret does not match the public key".into()));
    }
    Ok(key)
}

fn decode_exact<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    let bytes = hex::decode(text).map_err(|e| format!("{what}: {e}"))?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| format!("{what} is {len} bytes, expected {N}"))
}

/// Stretches the passphrase into the AEAD key (argon2id, v1.3).
fn derive_key(passphrase: &str, salt: &[u8], params: Params) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, &mut out[..])
        .map_err(|e| KeystoreError::Kdf(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "correct horse battery";

    fn store() -> (tempfile::TempDir, Keystore) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ks = Keystore::open(tmp.path().join("keys")).expect("open");
        (tmp, ks)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn files_are_0600_in_a_0700_dir_and_names_are_never_reused() {
        let (_tmp, ks) = store();
        assert_eq!(mode(ks.dir()), 0o700);
        let (info, _) = ks.add("alice", KeyKind::Ed25519, PASS).expect("add");
        let path = ks.dir().join("alice.json");
        assert_eq!(mode(&path), 0o600);
        let before = fs::read(&path).expect("read");
        let err = ks.add("alice", KeyKind::Secp256k1, PASS).expect_err("duplicate");
        assert!(matches!(err, KeystoreError::AlreadyExists { .. }), "{err}");
        let other = Key::generate(KeyKind::Ed25519);
        assert_eq!(ks.import_key("alice", &other, PASS).expect_err("duplicate").code(), 3);
        assert_eq!(fs::read(&path).expect("read"), before);
        // The final link refuses an existing name even past the early check.
        let err = ks.write_new("alice", b"{}").expect_err("no overwrite");
        assert!(matches!(err, KeystoreError::AlreadyExists { .. }), "{err}");
        assert_eq!(fs::read(&path).expect("read"), before);
        assert_eq!(ks.show("alice").expect("show"), info);
        // No temp files left behind.
        assert_eq!(fs::read_dir(ks.dir()).expect("read_dir").count(), 1);
    }

    #[test]
    fn a_key_file_demanding_gigabytes_of_argon2_memory_is_refused_before_any_work() {
        let (_tmp, ks) = store();
        ks.add("greedy", KeyKind::Ed25519, PASS).expect("add");
        let path = ks.dir().join("greedy.json");
        let text = fs::read_to_string(&path).expect("read");
        for (m, t) in [(1u32 << 21, 2u32), (1 << 18, 16)] {
            let mut doc: serde_json::Value = serde_json::from_str(&text).expect("json");
            doc["crypto"]["kdf_params"]["m_cost"] = m.into();
            doc["crypto"]["kdf_params"]["t_cost"] = t.into();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
            fs::write(&path, doc.to_string()).expect("write");
            let err = ks.load("greedy", PASS).expect_err("refused");
            assert!(matches!(err, KeystoreError::Corrupt { .. }), "m={m} t={t}: {err}");
            assert!(err.to_string().contains("exceed"), "{err}");
        }
    }

    #[test]
    fn wrong_passphrase_fails_cleanly_and_leaves_the_file_untouched() {
        let (_tmp, ks) = store();
        let key = Key::generate(KeyKind::Secp256k1);
        ks.import_key("bank", &key, PASS).expect("import");
        let path = ks.dir().join("bank.json");
        let before = fs::read(&path).expect("read");
        let err = ks.load("bank", "not the passphrase").expect_err("wrong passphrase");
        assert!(matches!(err, KeystoreError::WrongPassphrase { .. }), "{err}");
        assert_eq!(err.code(), 4);
        assert_eq!(fs::read(&path).expect("read"), before);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(ks.load("bank", PASS).expect("load").address(), key.address());
    }

    #[test]
    fn load_and_export_refuse_a_file_others_can_read() {
        let (_tmp, ks) = store();
        ks.import_key("ops", &Key::generate(KeyKind::Ed25519), PASS).expect("import");
        let path = ks.dir().join("ops.json");
        fs::set_permissions(&path, Permissions::from_mode(0o644)).expect("chmod");
        let err = ks.load("ops", PASS).expect_err("0644");
        match &err {
            KeystoreError::BadPermissions { mode, .. } => assert_eq!(*mode, 0o644),
            other => panic!("expected BadPermissions, got {other}"),
        }
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert!(matches!(ks.export("ops", PASS, PASS), Err(KeystoreError::BadPermissions { .. })));
        // Public facts stay readable.
        assert_eq!(ks.show("ops").expect("show").name, "ops");
    }

    #[test]
    fn export_then_import_under_a_new_name_round_trips() {
        let (_tmp, ks) = store();
        let key = Key::generate(KeyKind::Ed25519);
        ks.import_key("alice", &key, PASS).expect("import");
        let exported = ks.export("alice", PASS, "export passphrase").expect("export");
        assert!(exported.contains(EXPORT_TYPE));
        assert!(!exported.contains(&hex::encode(key.secret_bytes())));
        let err = ks.import_exported("alice2", &exported, "wrong passphrase", PASS).expect_err("wrong");
        assert!(matches!(err, KeystoreError::WrongPassphrase { .. }), "{err}");
        let info = ks.import_exported("alice2", &exported, "export passphrase", "another passphrase").expect("import");
        assert_eq!(info.address, key.address());
        let copy = ks.load("alice2", "another passphrase").expect("load");
        assert_eq!(copy.address(), key.address());
        assert_eq!(copy.sign(b"sign doc"), key.sign(b"sign doc"));
    }

    #[test]
    fn mnemonic_add_and_import_agree_for_both_kinds() {
        let (_tmp, ks) = store();
        for kind in [KeyKind::Ed25519, KeyKind::Secp256k1] {
            let (info, mnemonic) = ks.add(&format!("{kind}-a"), kind, PASS).expect("add");
            assert_eq!(mnemonic.split_whitespace().count(), 24);
            let again = ks.import_mnemonic(&format!("{kind}-b"), kind, &mnemonic, PASS).expect("import");
            assert_eq!((again.kind, again.address, &again.public_key), (kind, info.address, &info.public_key));
        }
        let err = ks.import_mnemonic("bad", KeyKind::Ed25519, &["abandon"; 24].join(" "), PASS).expect_err("checksum");
        assert_eq!(err.code(), 9);
        assert!(matches!(err, KeystoreError::Mnemonic(MnemonicError::BadChecksum)), "{err}");
    }

    #[test]
    fn list_is_sorted_and_delete_then_show_is_not_found() {
        let (_tmp, ks) = store();
        for (i, name) in (1u8..).zip(["carol", "alice", "bob"]) {
            ks.import_key(name, &Key::from_seed(KeyKind::Ed25519, [i; 32]).expect("seed"), PASS).expect("import");
        }
        fs::write(ks.dir().join("README.txt"), "not a key").expect("write");
        let names: Vec<_> = ks.list().expect("list").into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
        ks.delete("bob").expect("delete");
        let err = ks.show("bob").expect_err("deleted");
        assert!(matches!(err, KeystoreError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("keys list"), "{err}");
        assert!(matches!(ks.delete("bob"), Err(KeystoreError::NotFound { .. })));
        assert_eq!(ks.list().expect("list").len(), 2);
    }

    #[test]
    fn a_swapped_or_damaged_header_is_not_accepted() {
        let (_tmp, ks) = store();
        let alice = ks.import_key("alice", &Key::generate(KeyKind::Ed25519), PASS).expect("import");
        let bob = ks.import_key("bob", &Key::generate(KeyKind::Ed25519), PASS).expect("import");
        let path = ks.dir().join("bob.json");
        let text = fs::read_to_string(&path).expect("read");
        // Bob's sealed secret under Alice's public identity: the AEAD refuses it.
        let swapped = text
            .replace(&bob.public_key, &alice.public_key)
            .replace(&bob.address.to_bech32(), &alice.address.to_bech32());
        fs::write(&path, swapped).expect("write");
        assert!(matches!(ks.load("bob", PASS), Err(KeystoreError::WrongPassphrase { .. })));
        fs::write(&path, "{\"version\": 1, \"name\": ").expect("write");
        assert_eq!(ks.show("bob").expect_err("damaged").code(), 5);
        fs::write(&path, "{\"version\": 2}").expect("write");
        assert!(matches!(ks.show("bob"), Err(KeystoreError::UnsupportedVersion { version: 2, .. })));
    }

    #[test]
    fn names_and_passphrases_are_checked_first() {
        let (_tmp, ks) = store();
        let long = "x".repeat(MAX_NAME_LEN + 1);
        for bad in ["", ".hidden", "a/b", "../etc/passwd", "sp ace", "é", long.as_str()] {
            let err = ks.add(bad, KeyKind::Ed25519, PASS).expect_err(bad);
            assert!(matches!(err, KeystoreError::InvalidName(_)), "{bad}: {err}");
            assert!(matches!(ks.show(bad), Err(KeystoreError::InvalidName(_))), "{bad}");
        }
        assert!(ks.add(&"x".repeat(MAX_NAME_LEN), KeyKind::Ed25519, "").is_err_and(|e| e.code() == 7));
        let err = ks.add("ok-name_1.2", KeyKind::Ed25519, "short").expect_err("weak");
        assert!(matches!(err, KeystoreError::WeakPassphrase { min: MIN_PASSPHRASE_CHARS }), "{err}");
        assert!(ks.list().expect("list").is_empty());
    }
}
