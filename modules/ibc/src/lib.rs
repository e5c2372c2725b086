//! The IBC host of a Kawase zone: ibc-rs core (ICS-02 clients, ICS-03
//! connections, ICS-04 channels and packets) with ICS-07 Tendermint light
//! clients, stored in the zone's Merkle state so that every value the
//! counterparty must verify is provable against the app hash.
//!
//! Layout: values live at the standard ICS-24 paths (`clients/…`,
//! `connections/…`, `channelEnds/…`, `commitments/…`, `receipts/…`,
//! `acks/…`, `nextSequence…`) with the encodings ibc-go uses, so proofs are
//! of exactly what ibc-rs on the other side reconstructs. Host bookkeeping
//! (counters, client update times) lives under `ibc/` and is ours.
//!
//! Execution shares one transactional overlay between the host context and
//! the application modules (`RefCell<Delta<…>>`), because ibc-rs hands
//! modules only the packet, not the store.
#![deny(clippy::unwrap_used)]

mod error;
mod host;
mod lookup;
mod module;
mod recover;
pub mod state_key;

pub use error::IbcError;
pub use host::{
    dispatch, envelope, host_consensus_state, record_host_block, HostBlock, HostHeader, IbcHost, Routes,
    UNBONDING_PERIOD,
};
pub use lookup::{client_state, connection_chain, connection_end};
pub use module::{Ibc, PortApp, Shared};
pub use recover::recover_client;

/// The port of the settlement application on both zones.
pub const SETTLEMENT_PORT: &str = "settlement";

/// Type URLs of the IBC messages a transaction may carry.
pub fn is_ibc_type_url(type_url: &str) -> bool {
    type_url.starts_with("/ibc.core.")
}

/// The proof specs of a Kawase zone's commitments (JMT leaf, then the
/// outer map up to the app hash), as ibc-rs client states carry them.
pub fn proof_specs() -> ibc::core::commitment_types::specs::ProofSpecs {
    let raw: Vec<ibc_proto::ics23::ProofSpec> = kawase_primitives::commitment::proof_specs()
        .iter()
        .map(|s| {
            prost::Message::decode(prost::Message::encode_to_vec(s).as_slice())
                .expect("ics23 and ibc-proto's ics23 share one protobuf schema")
        })
        .collect();
    ibc::core::commitment_types::specs::ProofSpecs::try_from(raw).expect("the store's proof specs are valid (tested)")
}

/// ibc-rs re-exports, so that modules and the relayer name one ibc.
pub use ibc;
pub use ibc_proto;

#[cfg(test)]
mod tests {
    #[test]
    fn proof_specs_convert_to_ibc_rs() {
        let raw: Vec<crate::ibc_proto::ics23::ProofSpec> = super::proof_specs().into();
        assert_eq!(raw.len(), 2);
        assert_eq!(raw[0].leaf_spec.as_ref().map(|l| l.prefix.clone()), Some(b"JMT::LeafNode".to_vec()));
    }
}
