//! Stateless phase: decode the Cosmos SDK envelope, check its shape, decode
//! and validate every message, and verify the signature once the account
//! number is known.
use cosmrs::proto::cosmos::tx::v1beta1::{mode_info, AuthInfo, TxBody, TxRaw};
use std::sync::Arc;

use kawase_primitives::{Address, ExtensionChainId};
use prost::{Message, Name};
use sha2::{Digest, Sha256};

use crate::registry::Registry;
use crate::sigverify::{self, PubKey};
use crate::{Failure, Params, TxError};

/// SIGN_MODE_DIRECT in the Cosmos SDK's enum.
const SIGN_MODE_DIRECT: i32 = 1;

/// A decoded, statelessly valid transaction.
#[derive(Clone, Debug)]
pub struct DecodedTx {
    /// SHA-256 of the raw bytes (CometBFT's tx hash).
    pub hash: [u8; 32],
    pub signer: Address,
    pub sequence: u64,
    pub chain_id: String,
    pub timeout_height: u64,
    pub msgs: Vec<Arc<dyn kawase_primitives::Message>>,
    pubkey: PubKey,
    body_bytes: Vec<u8>,
    auth_info_bytes: Vec<u8>,
    signature: Vec<u8>,
}

fn malformed(what: impl std::fmt::Display) -> Failure {
    TxError::Malformed(what.to_string()).into()
}

pub fn tx_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl DecodedTx {
    /// Decodes and checks everything that needs no state, with the
    /// standard modules.
    pub fn decode(bytes: &[u8], params: &Params) -> Result<DecodedTx, Failure> {
        Self::decode_with(bytes, params, &crate::modules::standard())
    }

    /// Decodes and checks everything that needs no state; each message by
    /// the registered module owning its type URL.
    pub fn decode_with(bytes: &[u8], params: &Params, registry: &Registry) -> Result<DecodedTx, Failure> {
        if bytes.len() as u64 > params.max_tx_bytes {
            return Err(TxError::TooLarge { size: bytes.len(), limit: params.max_tx_bytes }.into());
        }
        let raw = TxRaw::decode(bytes).map_err(|e| malformed(format!("TxRaw: {e}")))?;
        let body = TxBody::decode(raw.body_bytes.as_slice()).map_err(|e| malformed(format!("TxBody: {e}")))?;
        let auth = AuthInfo::decode(raw.auth_info_bytes.as_slice()).map_err(|e| malformed(format!("AuthInfo: {e}")))?;

        // Exactly one signer in SIGN_MODE_DIRECT, with its public key.
        let [signer_info] = auth.signer_infos.as_slice() else {
            return Err(TxError::UnsupportedSigning(format!(
                "exactly one signer required, got {}",
                auth.signer_infos.len()
            ))
            .into());
        };
        let [signature] = raw.signatures.as_slice() else {
            return Err(TxError::UnsupportedSigning(format!(
                "exactly one signature required, got {}",
                raw.signatures.len()
            ))
            .into());
        };
        match signer_info.mode_info.as_ref().and_then(|m| m.sum.as_ref()) {
            Some(mode_info::Sum::Single(s)) if s.mode == SIGN_MODE_DIRECT => {}
            _ => {
                return Err(
                    TxError::UnsupportedSigning("only SIGN_MODE_DIRECT single signatures are accepted".into()).into()
                )
            }
        }
        let any = signer_info
            .public_key
            .as_ref()
            .ok_or_else(|| TxError::UnsupportedSigning("the signer's public key must be included".into()))?;
        let (pubkey, signer) = decode_pubkey(any)?;

        // The chain id extension is the only one we accept, and it is required.
        let ext_url = ExtensionChainId::type_url();
        let [ext] = body.extension_options.as_slice() else {
            return Err(malformed("exactly one extension option (the chain id) is required"));
        };
        if ext.type_url != ext_url || !body.non_critical_extension_options.is_empty() {
            return Err(malformed(format!("unsupported extension option `{}`", ext.type_url)));
        }
        let chain_id = ExtensionChainId::decode(ext.value.as_slice())
            .map_err(|e| malformed(format!("chain id extension: {e}")))?
            .chain_id;

        if body.messages.is_empty() {
            return Err(TxError::NoMessages.into());
        }
        if body.messages.len() > params.max_msgs_per_tx as usize {
            return Err(TxError::TooManyMessages { count: body.messages.len(), limit: params.max_msgs_per_tx }.into());
        }
        if body.memo.len() > 256 {
            return Err(malformed("memo longer than 256 bytes"));
        }
        let mut msgs = Vec::with_capacity(body.messages.len());
        for any in &body.messages {
            let m = registry.decode(&any.type_url, &any.value)?;
            if let Some(expected) = m.signer().filter(|s| *s != signer) {
                return Err(
                    TxError::SignerMismatch { expected: expected.to_string(), signer: signer.to_string() }.into()
                );
            }
            msgs.push(m);
        }
        Ok(DecodedTx {
            hash: tx_hash(bytes),
            signer,
            sequence: signer_info.sequence,
            chain_id,
            timeout_height: body.timeout_height,
            msgs,
            pubkey,
            body_bytes: raw.body_bytes,
            auth_info_bytes: raw.auth_info_bytes,
            signature: signature.clone(),
        })
    }

    /// The SIGN_MODE_DIRECT sign doc for this chain and account number.
    pub fn sign_doc(&self, chain_id: &str, account_number: u64) -> Vec<u8> {
        kawase_primitives::sign_doc_bytes(&self.body_bytes, &self.auth_info_bytes, chain_id, account_number)
    }

    /// This transaction's signature over `doc` (from [`Self::sign_doc`]),
    /// for [`sigverify::verify_all`].
    pub fn sig_item<'a>(&'a self, doc: &'a [u8]) -> sigverify::Item<'a> {
        sigverify::Item { key: &self.pubkey, msg: doc, sig: &self.signature }
    }

    /// Verifies the signature over the SIGN_MODE_DIRECT sign doc for this
    /// chain and account number.
    pub fn verify_signature(&self, chain_id: &str, account_number: u64) -> bool {
        let doc = self.sign_doc(chain_id, account_number);
        sigverify::verify(&self.sig_item(&doc))
    }
}

/// Decodes the signer's key (decompressing it once) and derives its
/// address the Cosmos way: ed25519 SHA256(key)[..20], secp256k1
/// RIPEMD160(SHA256(key)), by `kawase_primitives`' one derivation.
fn decode_pubkey(any: &cosmrs::Any) -> Result<(PubKey, Address), Failure> {
    use cosmrs::proto::cosmos::crypto::{ed25519, secp256k1 as secp};
    let bad_key = |what: String| -> Failure { TxError::UnsupportedSigning(format!("public key: {what}")).into() };
    match any.type_url.as_str() {
        cosmrs::crypto::PublicKey::ED25519_TYPE_URL => {
            let key = ed25519::PubKey::decode(any.value.as_slice()).map_err(|e| bad_key(e.to_string()))?.key;
            let arr: [u8; 32] =
                key.as_slice().try_into().map_err(|_| bad_key("ed25519 key must be 32 bytes".into()))?;
            let vk = sigverify::ed25519_key(&arr).map_err(|e| bad_key(format!("{e}")))?;
            Ok((PubKey::Ed25519(vk), kawase_primitives::ed25519_address(&arr)))
        }
        cosmrs::crypto::PublicKey::SECP256K1_TYPE_URL => {
            let key = secp::PubKey::decode(any.value.as_slice()).map_err(|e| bad_key(e.to_string()))?.key;
            let Ok(arr) = <[u8; 33]>::try_from(key.as_slice()) else {
                return Err(bad_key("secp256k1 key must be 33 bytes (compressed)".into()));
            };
            let pk = secp256k1::PublicKey::from_slice(&arr).map_err(|e| bad_key(format!("secp256k1: {e}")))?;
            Ok((PubKey::Secp256k1(pk), kawase_primitives::secp256k1_address(&arr)))
        }
        other => {
            Err(TxError::UnsupportedSigning(format!("key type `{}`", other.chars().take(64).collect::<String>()))
                .into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kawase_client::{build_tx, msgs, Key, KeyKind, TxParams};

    #[test]
    fn decoded_signer_address_matches_the_client_derivation_for_both_key_types() {
        for kind in [KeyKind::Ed25519, KeyKind::Secp256k1] {
            let key = Key::generate(kind);
            let p = TxParams {
                chain_id: "c".into(),
                account_number: 3,
                sequence: 0,
                memo: String::new(),
                timeout_height: 0,
            };
            let tx = build_tx(&key, &p, vec![msgs::transfer(key.address(), Address([9; 20]), 1)]).expect("tx");
            let d = DecodedTx::decode(&tx, &Params::standard()).expect("decodes");
            assert_eq!(d.signer, key.address(), "{kind:?}");
            assert!(d.verify_signature("c", 3), "{kind:?}");
            assert!(!d.verify_signature("c", 4), "{kind:?}: account number is signed");
            assert!(!d.verify_signature("d", 3), "{kind:?}: chain id is signed");
        }
    }
}
