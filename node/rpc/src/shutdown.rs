//! The shutdown signal both the HTTP server and websocket sessions wait
//! on (below both, so neither imports the other for it).
use tokio::sync::watch;

/// Resolves once shutdown is signalled; never if the signal's sender is
/// dropped without signalling.
pub(crate) async fn wait_shutdown(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
