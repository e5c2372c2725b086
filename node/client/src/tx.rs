use cosmrs::tx::{AuthInfo, Body, Fee, SignerInfo};
use cosmrs::Any;
use kawase_primitives::proto_name;
use prost::Name;

use crate::{SignError, Signer};

/// Critical body extension naming the chain a tx is for, so a tx for
/// another chain gets `wrong chain id` rather than a bare signature error.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExtensionChainId {
    #[prost(string, tag = "1")]
    pub chain_id: String,
}
proto_name!(ExtensionChainId, "kawase.tx.v1", "ExtensionChainId");

pub fn chain_id_extension(chain_id: &str) -> Any {
    Any {
        type_url: ExtensionChainId::type_url(),
        value: prost::Message::encode_to_vec(&ExtensionChainId { chain_id: chain_id.into() }),
    }
}

/// Why a transaction could not be built. Codes are stable: never renumber.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    #[error("encoding transaction: {0}")]
    Encode(String),
    #[error("signing transaction: {0}")]
    Sign(#[from] SignError),
}

impl TxError {
    /// Stable numeric code, for scripts and logs.
    pub fn code(&self) -> u32 {
        match self {
            TxError::Encode(_) => 1,
            TxError::Sign(_) => 2,
        }
    }
}

/// Where and as whom a transaction is signed.
#[derive(Clone, Debug)]
pub struct TxParams {
    pub chain_id: String,
    pub account_number: u64,
    pub sequence: u64,
    pub memo: String,
    /// 0 = no timeout.
    pub timeout_height: u64,
}

/// Length of every signature the chain accepts (ed25519, secp256k1 r||s).
const SIGNATURE_LEN: usize = 64;

/// Builds and signs a `TxRaw` carrying `msgs`, returning its bytes.
///
/// Takes any [`Signer`] (a [`crate::Key`], or a device behind `dyn Signer`).
pub fn build_tx<S: Signer + ?Sized>(signer: &S, params: &TxParams, msgs: Vec<Any>) -> Result<Vec<u8>, TxError> {
    let enc = |e: cosmrs::ErrorReport| TxError::Encode(e.to_string());
    let timeout = cosmrs::tendermint::block::Height::try_from(params.timeout_height)
        .map_err(|e| TxError::Encode(e.to_string()))?;
    let mut body = Body::new(msgs, params.memo.clone(), timeout);
    body.extension_options.push(chain_id_extension(&params.chain_id));
    let signer_info = SignerInfo::single_direct(Some(signer.public_key()), params.sequence);
    let fee = Fee { amount: Vec::new(), gas_limit: 0, payer: None, granter: None };
    let auth_info: AuthInfo = signer_info.auth_info(fee);
    let body_bytes = body.into_bytes().map_err(enc)?;
    let auth_info_bytes = auth_info.into_bytes().map_err(enc)?;
    let sig = signer.sign(&sign_doc_bytes(&body_bytes, &auth_info_bytes, &params.chain_id, params.account_number))?;
    // A remote signer's bad answer is caught here, not as a chain rejection.
    if sig.len() != SIGNATURE_LEN {
        return Err(SignError::Malformed(format!("{} bytes, expected {SIGNATURE_LEN}", sig.len())).into());
    }
    let raw = cosmrs::proto::cosmos::tx::v1beta1::TxRaw { body_bytes, auth_info_bytes, signatures: vec![sig] };
    Ok(prost::Message::encode_to_vec(&raw))
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
