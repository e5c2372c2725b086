use cosmrs::tx::{AuthInfo, Body, Fee, SignerInfo};
use cosmrs::Any;

use crate::{SignError, Signer};

pub use kawase_primitives::{chain_id_extension, sign_doc_bytes, ExtensionChainId};

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
