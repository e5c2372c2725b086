//! Client recovery, as ibc-go's `MsgRecoverClient` does it (ibc-rs 0.57
//! ships the handler but its `dispatch` skips the message, because only a
//! chain's authority may recover a client). An expired or frozen client
//! would otherwise strand every hold and reserved balance on the channels
//! above it: its connection can never verify another proof.
//!
//! The subject (expired or frozen) takes over an active substitute client of
//! the same chain: same client type and parameters except latest height,
//! frozen height and trusting period (ibc-rs's `check_substitute`), and here
//! also the same chain id. The substitute's client state fields and latest
//! consensus state are copied into the subject, so the subject's existing
//! connection and channels continue. The caller authorizes (the zone admin):
//! the substitute's first consensus state is whatever its creator supplied,
//! so the admin vouches that it tracks the real counterparty.
use ibc::core::client::context::ClientValidationContext;
use ibc::core::client::handler::recover_client;
use ibc::core::client::types::msgs::MsgRecoverClient;
use ibc::core::host::types::identifiers::ClientId;
use ibc::core::host::ValidationContext;
use ibc::primitives::Signer;
use kawase_primitives::StateRead;

use crate::{IbcError, IbcHost};

/// Replaces the state of `subject` by that of `substitute` (see module docs).
/// Validates everything before writing anything.
pub fn recover_client<B: StateRead>(
    host: &mut IbcHost<'_, B>,
    subject: &ClientId,
    substitute: &ClientId,
) -> Result<(), IbcError> {
    if subject == substitute {
        return Err(IbcError::Client("subject and substitute are the same client".into()));
    }
    let client = |e: ibc::core::host::types::error::HostError| IbcError::Client(e.to_string());
    let (a, b) = {
        let ctx = host.get_client_validation_context();
        (ctx.client_state(subject).map_err(client)?, ctx.client_state(substitute).map_err(client)?)
    };
    if a.inner().chain_id != b.inner().chain_id {
        return Err(IbcError::Client(format!(
            "substitute {substitute} tracks `{}`, the subject {subject} `{}`: not the same chain",
            b.inner().chain_id,
            a.inner().chain_id
        )));
    }
    let msg = MsgRecoverClient {
        subject_client_id: subject.clone(),
        substitute_client_id: substitute.clone(),
        signer: Signer::from(host.signer().to_string()),
    };
    recover_client::validate(&*host, msg.clone()).map_err(|e| IbcError::Client(e.to_string()))?;
    recover_client::execute(host, msg).map_err(|e| IbcError::Client(e.to_string()))
}
