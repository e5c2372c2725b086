//! The gossip handshake: each side proves it holds its node key (the
//! ed25519 key of `config/node_key.json`, the same one libp2p uses) by
//! signing the other side's fresh random challenge together with the chain
//! id and both public keys, so a proof can be replayed neither to another
//! peer, another connection nor another chain. Messages have fixed sizes,
//! so nothing a stranger sends decides how much is read or allocated.
use std::fmt;

use ed25519_consensus::{Signature, SigningKey, VerificationKey};
use rand_core::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Opens every hello; a different protocol or version is refused at once.
const MAGIC: &[u8; 16] = b"kawase-gossip/v1";
/// Domain separation of the signed proof.
const PROOF_DOMAIN: &[u8] = b"kawase-gossip-auth/v1";
const HELLO_LEN: usize = 16 + 32 + 32;

/// A node's identity: CometBFT's node id, the first 20 bytes of SHA-256 of
/// the node public key, written as 40 hex digits (`id@host:port`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 20]);

impl NodeId {
    pub fn of(key: &VerificationKey) -> NodeId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 20];
        id.copy_from_slice(&digest[..20]);
        NodeId(id)
    }

    /// The id of the node key with this seed (`node_key.json`).
    pub fn of_seed(seed: [u8; 32]) -> NodeId {
        NodeId::of(&SigningKey::from(seed).verification_key())
    }
}

impl std::str::FromStr for NodeId {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<NodeId, AuthError> {
        let bytes = hex::decode(s.trim()).map_err(|_| AuthError::BadNodeId(s.into()))?;
        Ok(NodeId(bytes.try_into().map_err(|_| AuthError::BadNodeId(s.into()))?))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("gossip handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("gossip handshake: not a kawase gossip peer (bad magic)")]
    BadMagic,
    #[error("gossip handshake: malformed public key")]
    BadKey,
    #[error("gossip handshake: peer {0} is not allowed")]
    NotAllowed(NodeId),
    #[error("gossip handshake: peer {0} did not prove it holds its node key")]
    BadProof(NodeId),
    #[error("`{0}` is not a node id (40 hex digits)")]
    BadNodeId(String),
}

impl AuthError {
    /// Stable code for logs and metrics.
    pub fn code(&self) -> u32 {
        match self {
            AuthError::Io(_) => 1,
            AuthError::BadMagic => 2,
            AuthError::BadKey => 3,
            AuthError::NotAllowed(_) => 4,
            AuthError::BadProof(_) => 5,
            AuthError::BadNodeId(_) => 6,
        }
    }
}

fn proof_message(chain_id: &str, signer: &[u8; 32], verifier: &[u8; 32], challenge: &[u8; 32]) -> Vec<u8> {
    let chain = chain_id.as_bytes();
    let mut m = Vec::with_capacity(PROOF_DOMAIN.len() + 8 + chain.len() + 96);
    m.extend_from_slice(PROOF_DOMAIN);
    m.extend_from_slice(&(chain.len() as u64).to_be_bytes());
    m.extend_from_slice(chain);
    m.extend_from_slice(signer);
    m.extend_from_slice(verifier);
    m.extend_from_slice(challenge);
    m
}

/// Runs the handshake on a fresh connection (both sides run the same code)
/// and returns the authenticated peer. `allowed` is asked about the peer's
/// claimed id before any signature is checked, so strangers cost no
/// verification. The caller bounds the whole exchange with a timeout.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    key: &SigningKey,
    chain_id: &str,
    allowed: impl FnOnce(NodeId) -> bool,
) -> Result<NodeId, AuthError> {
    let ours = key.verification_key().to_bytes();
    let mut challenge = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut challenge);
    let mut hello = [0u8; HELLO_LEN];
    hello[..16].copy_from_slice(MAGIC);
    hello[16..48].copy_from_slice(&ours);
    hello[48..].copy_from_slice(&challenge);
    stream.write_all(&hello).await?;

    let mut theirs = [0u8; HELLO_LEN];
    stream.read_exact(&mut theirs).await?;
    if &theirs[..16] != MAGIC {
        return Err(AuthError::BadMagic);
    }
    let mut their_key = [0u8; 32];
    their_key.copy_from_slice(&theirs[16..48]);
    let mut their_challenge = [0u8; 32];
    their_challenge.copy_from_slice(&theirs[48..]);
    let vk = VerificationKey::try_from(their_key).map_err(|_| AuthError::BadKey)?;
    let id = NodeId::of(&vk);
    if their_key == ours || !allowed(id) {
        return Err(AuthError::NotAllowed(id));
    }

    let proof = key.sign(&proof_message(chain_id, &ours, &their_key, &their_challenge));
    stream.write_all(&proof.to_bytes()).await?;
    stream.flush().await?;
    let mut sig = [0u8; 64];
    stream.read_exact(&mut sig).await?;
    vk.verify(&Signature::from(sig), &proof_message(chain_id, &their_key, &ours, &challenge))
        .map_err(|_| AuthError::BadProof(id))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn two_allowed_keys_authenticate_and_a_wrong_chain_id_does_not() {
        let (a, b) = (SigningKey::from([1u8; 32]), SigningKey::from([2u8; 32]));
        let (ida, idb) = (NodeId::of_seed([1u8; 32]), NodeId::of_seed([2u8; 32]));
        let (mut x, mut y) = tokio::io::duplex(1024);
        let (ra, rb) =
            tokio::join!(handshake(&mut x, &a, "c", |id| id == idb), handshake(&mut y, &b, "c", |id| id == ida));
        assert_eq!((ra.unwrap(), rb.unwrap()), (idb, ida));

        let (mut x, mut y) = tokio::io::duplex(1024);
        let (ra, rb) = tokio::join!(handshake(&mut x, &a, "c", |_| true), handshake(&mut y, &b, "other", |_| true));
        assert!(matches!(ra, Err(AuthError::BadProof(_))) && matches!(rb, Err(AuthError::BadProof(_))));
        assert_eq!(idb.to_string().parse::<NodeId>().unwrap(), idb);
    }
}
