//! The ICS-24 store keys the relayer reads and proves, built only from
//! ibc-rs's typed paths (the same types the zones' IBC host writes with),
//! so a key cannot drift from what the host stores.
use anyhow::{anyhow, Result};
use kawase_ibc::ibc::core::host::types::identifiers::{ChannelId, ClientId, ConnectionId, PortId, Sequence};
use kawase_ibc::ibc::core::host::types::path::{
    AckPath, ChannelEndPath, ClientConsensusStatePath, ClientStatePath, CommitmentPath, ConnectionPath, ReceiptPath,
};

fn port() -> PortId {
    PortId::new(kawase_ibc::SETTLEMENT_PORT.to_owned()).expect("`settlement` is a valid port id")
}

fn client(id: &str) -> Result<ClientId> {
    id.parse().map_err(|e| anyhow!("client id `{id}`: {e}"))
}

fn channel(id: &str) -> Result<ChannelId> {
    id.parse().map_err(|e| anyhow!("channel id `{id}`: {e}"))
}

pub fn client_state(client_id: &str) -> Result<String> {
    Ok(ClientStatePath::new(client(client_id)?).to_string())
}

pub fn consensus_state(client_id: &str, revision_number: u64, revision_height: u64) -> Result<String> {
    Ok(ClientConsensusStatePath::new(client(client_id)?, revision_number, revision_height).to_string())
}

pub fn connection(id: &str) -> Result<String> {
    let id: ConnectionId = id.parse().map_err(|e| anyhow!("connection id `{id}`: {e}"))?;
    Ok(ConnectionPath::new(&id).to_string())
}

/// The settlement port's channel end.
pub fn channel_end(id: &str) -> Result<String> {
    Ok(ChannelEndPath::new(&port(), &channel(id)?).to_string())
}

pub fn commitment(channel_id: &str, sequence: u64) -> Result<String> {
    Ok(CommitmentPath::new(&port(), &channel(channel_id)?, Sequence::from(sequence)).to_string())
}

pub fn receipt(channel_id: &str, sequence: u64) -> Result<String> {
    Ok(ReceiptPath::new(&port(), &channel(channel_id)?, Sequence::from(sequence)).to_string())
}

pub fn ack(channel_id: &str, sequence: u64) -> Result<String> {
    Ok(AckPath::new(&port(), &channel(channel_id)?, Sequence::from(sequence)).to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn typed_paths_give_the_ics24_keys_the_host_stores() {
        assert_eq!(super::client_state("07-tendermint-0").expect("id"), "clients/07-tendermint-0/clientState");
        assert_eq!(
            super::consensus_state("07-tendermint-0", 1, 5).expect("id"),
            "clients/07-tendermint-0/consensusStates/1-5"
        );
        assert_eq!(super::connection("connection-0").expect("id"), "connections/connection-0");
        assert_eq!(super::channel_end("channel-0").expect("id"), "channelEnds/ports/settlement/channels/channel-0");
        assert_eq!(
            super::commitment("channel-0", 3).expect("id"),
            "commitments/ports/settlement/channels/channel-0/sequences/3"
        );
        assert_eq!(
            super::receipt("channel-0", 3).expect("id"),
            "receipts/ports/settlement/channels/channel-0/sequences/3"
        );
        assert_eq!(super::ack("channel-0", 3).expect("id"), "acks/ports/settlement/channels/channel-0/sequences/3");
        assert!(super::channel_end("no spaces").is_err());
    }
}
