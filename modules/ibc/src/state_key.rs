//! Keys of the IBC host. The ICS-24 paths themselves (`clients/…`,
//! `connections/…`, `channelEnds/…`, `commitments/…`, `receipts/…`,
//! `acks/…`, `nextSequence…/…`) are built by ibc-rs's path types; this file
//! holds the host's own bookkeeping under `ibc/`.
use ibc::core::host::types::identifiers::ClientId;

pub const CLIENT_COUNTER: &[u8] = b"ibc/counter/clients";
pub const CONNECTION_COUNTER: &[u8] = b"ibc/counter/connections";
pub const CHANNEL_COUNTER: &[u8] = b"ibc/counter/channels";

/// The first components of every ICS-24 path this host writes; no module's
/// keys start with these.
pub const ICS24_ROOTS: &[&str] =
    &["clients/", "connections/", "channelEnds/", "commitments/", "receipts/", "acks/", "nextSequence"];

/// All consensus states of a client (ICS-24 layout).
pub fn consensus_states_prefix(client_id: &ClientId) -> Vec<u8> {
    format!("clients/{client_id}/consensusStates/").into_bytes()
}

/// Node-local record of this zone's own header at `height` (big-endian
/// height, so records sort by height).
pub fn host_block(height: u64) -> Vec<u8> {
    let mut k = b"ibc/host_header/".to_vec();
    k.extend_from_slice(&height.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use ibc::core::host::types::path::{ClientConsensusStatePath, Path};

    #[test]
    fn host_keys_stay_out_of_ics24_paths_and_sort_by_height() {
        for k in [CLIENT_COUNTER, CONNECTION_COUNTER, CHANNEL_COUNTER, &host_block(1)] {
            let s = String::from_utf8_lossy(k);
            assert!(ICS24_ROOTS.iter().all(|r| !s.starts_with(r)), "{s}");
        }
        assert!(host_block(255) < host_block(256));
        let id = ClientId::new("07-tendermint", 0).expect("id");
        let p = Path::from(ClientConsensusStatePath::new(id.clone(), 0, 12)).to_string();
        assert!(p.as_bytes().starts_with(&consensus_states_prefix(&id)), "{p}");
    }
}
