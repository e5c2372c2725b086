//! `recover-client`: revive the path's expired or frozen client on one zone
//! (ibc-go's recover-client). The relayer creates a fresh substitute client
//! of the same chain with its own key, then the zone admin's key signs
//! `/kawase.settlement.v1.MsgRecoverClient`, which copies the substitute's
//! state into the path's client; the connection, channel and everything in
//! flight on them continue. The admin vouches for the substitute, so the
//! operator checks the counterparty's chain id and height before running it.
use anyhow::{Context as _, Result};
use kawase_client::Key;

use crate::chain::Chain;
use crate::path;

/// Recovers `subject` on `host` (a client of `tracked`); returns the
/// substitute's id.
pub async fn recover_client(host: &mut Chain, subject: &str, tracked: &Chain, admin: Key) -> Result<String> {
    let substitute = path::create_client(host, tracked).await.context("creating the substitute client")?;
    let msg = kawase_settlement::MsgRecoverClient {
        signer: admin.address().to_string(),
        subject_client_id: subject.to_owned(),
        substitute_client_id: substitute.clone(),
    };
    let any = path::any(msg);
    let as_admin = Chain::new(host.name, host.chain_id.clone(), &host.url, &host.tls, admin)?;
    as_admin
        .submit(vec![any])
        .await
        .with_context(|| format!("recovering {subject} from {substitute} (signed by the admin key)"))?;
    Ok(substitute)
}
