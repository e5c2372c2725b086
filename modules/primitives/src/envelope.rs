//! The pieces of the transaction envelope that both the signer (client) and
//! the verifier (app) must agree on byte for byte: the sign doc, the chain-id
//! extension and the address of a public key. One copy, below both.
use prost::Name;
use sha2::{Digest, Sha256};

use crate::{proto_name, Address};

/// Critical body extension naming the chain a tx is for, so a tx for
/// another chain gets `wrong chain id` rather than a bare signature error.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtensionChainId {
    #[prost(string, tag = "1")]
    pub chain_id: String,
}
proto_name!(ExtensionChainId, "kawase.tx.v1", "ExtensionChainId");

/// The extension as the body carries it.
pub fn chain_id_extension(chain_id: &str) -> cosmrs::Any {
    cosmrs::Any {
        type_url: ExtensionChainId::type_url(),
        value: prost::Message::encode_to_vec(&ExtensionChainId { chain_id: chain_id.into() }),
    }
}

/// SIGN_MODE_DIRECT sign doc bytes: what signers sign and the app verifies.
pub fn sign_doc_bytes(body_bytes: &[u8], auth_info_bytes: &[u8], chain_id: &str, account_number: u64) -> Vec<u8> {
    prost::Message::encode_to_vec(&cosmrs::proto::cosmos::tx::v1beta1::SignDoc {
        body_bytes: body_bytes.to_vec(),
        auth_info_bytes: auth_info_bytes.to_vec(),
        chain_id: chain_id.into(),
        account_number,
    })
}

/// The address of an ed25519 key: SHA256(key) truncated to 20 bytes
/// (tendermint's derivation).
pub fn ed25519_address(key: &[u8; 32]) -> Address {
    let digest = Sha256::digest(key);
    let mut a = [0u8; 20];
    a.copy_from_slice(&digest[..20]);
    Address(a)
}

/// The address of a compressed secp256k1 key: RIPEMD160(SHA256(key)).
pub fn secp256k1_address(key: &[u8; 33]) -> Address {
    use ripemd::Ripemd160;
    Address(Ripemd160::digest(Sha256::digest(key)).into())
}
