//! Which FZ a BZ settles with (defect 5a). A BZ has one settlement channel
//! and binds the first one opened; without this, any relayer key could open
//! it first from a client of some other chain (a fake FZ that then links and
//! charges, minting BZ money no FZ deposit backs). So the BZ's genesis (or
//! its admin, before a channel is bound) names the FZ: its chain id, checked
//! against the client state of the channel's connection, and optionally the
//! BZ's client and connection ids, pinning the exact light client.
use kawase_ibc::ibc::core::host::types::identifiers::{ChainId, ClientId, ConnectionId};
use kawase_primitives::{StateRead, StateReadTyped, StateWrite, StateWriteTyped};

use crate::{state_key, Error};

/// The FZ a BZ accepts its settlement channel from.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, prost::Message)]
#[serde(deny_unknown_fields)]
pub struct FzCounterparty {
    /// The FZ's chain id, as the BZ's light client of it records it.
    #[prost(string, tag = "1")]
    pub chain_id: String,
    /// The BZ's client of the FZ (`07-tendermint-N`); empty: any client of
    /// that chain.
    #[prost(string, tag = "2")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_id: String,
    /// The BZ's connection to the FZ (`connection-N`); empty: any
    /// connection on an accepted client.
    #[prost(string, tag = "3")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub connection_id: String,
}

impl FzCounterparty {
    /// Just the FZ's chain id.
    pub fn chain(chain_id: &str) -> Self {
        FzCounterparty { chain_id: chain_id.to_owned(), client_id: String::new(), connection_id: String::new() }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, e: String| Error::InvalidField { field, reason: e };
        ChainId::new(&self.chain_id).map_err(|e| bad("chain_id", e.to_string()))?;
        if !self.client_id.is_empty() {
            self.client_id.parse::<ClientId>().map_err(|e| bad("client_id", e.to_string()))?;
        }
        if !self.connection_id.is_empty() {
            self.connection_id.parse::<ConnectionId>().map_err(|e| bad("connection_id", e.to_string()))?;
        }
        Ok(())
    }

    /// Whether a channel on `connection` (on the BZ's `client`, which
    /// tracks `tracked_chain`) leads to this FZ; the refusal says why not.
    pub fn accepts(&self, connection: &str, client: &str, tracked_chain: &str) -> Result<(), String> {
        if tracked_chain != self.chain_id {
            return Err(format!(
                "the connection's client {client} tracks chain `{tracked_chain}`, not this BZ's FZ `{}`",
                self.chain_id
            ));
        }
        if !self.client_id.is_empty() && client != self.client_id {
            return Err(format!("the connection is on client {client}, not this BZ's FZ client {}", self.client_id));
        }
        if !self.connection_id.is_empty() && connection != self.connection_id {
            return Err(format!("connection {connection} is not this BZ's FZ connection {}", self.connection_id));
        }
        Ok(())
    }
}

/// The settlement module's part of the genesis file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// BZ only: the FZ whose settlement channel this BZ accepts. Absent: no
    /// channel is accepted until the admin names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fz: Option<FzCounterparty>,
}

impl Genesis {
    pub fn is_empty(&self) -> bool {
        self.fz.is_none()
    }

    /// A BZ genesis naming the FZ by chain id.
    pub fn bz_of(fz_chain_id: &str) -> Self {
        Genesis { fz: Some(FzCounterparty::chain(fz_chain_id)) }
    }

    pub fn apply<S: StateWrite>(&self, state: &mut S, side: crate::Side) -> Result<(), Error> {
        let Some(fz) = &self.fz else { return Ok(()) };
        if side != crate::Side::Bz {
            return Err(Error::InvalidField {
                field: "settlement.fz",
                reason: "only a Business Zone names its FZ counterparty".into(),
            });
        }
        fz.validate()?;
        state.put_fz_counterparty(fz);
        Ok(())
    }
}

pub trait CounterpartyRead: StateRead {
    /// BZ: the FZ this BZ accepts its settlement channel from.
    fn fz_counterparty(&self) -> Result<Option<FzCounterparty>, Error> {
        Ok(self.get_proto::<FzCounterparty>(state_key::bz_counterparty())?)
    }
}

impl<T: StateRead + ?Sized> CounterpartyRead for T {}

pub trait CounterpartyWrite: StateWrite {
    fn put_fz_counterparty(&mut self, fz: &FzCounterparty) {
        self.put_proto(state_key::bz_counterparty().to_vec(), fz);
    }
}

impl<T: StateWrite + ?Sized> CounterpartyWrite for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_fz_is_accepted_and_any_other_chain_client_or_connection_refused() {
        let fz = FzCounterparty { chain_id: "kawase-fz".into(), ..FzCounterparty::chain("x") };
        assert!(fz.accepts("connection-0", "07-tendermint-0", "kawase-fz").is_ok());
        assert!(fz.accepts("connection-0", "07-tendermint-0", "fake-fz").is_err());
        let pinned = FzCounterparty {
            chain_id: "kawase-fz".into(),
            client_id: "07-tendermint-1".into(),
            connection_id: "connection-2".into(),
        };
        assert!(pinned.accepts("connection-2", "07-tendermint-1", "kawase-fz").is_ok());
        assert!(pinned.accepts("connection-2", "07-tendermint-0", "kawase-fz").is_err());
        assert!(pinned.accepts("connection-0", "07-tendermint-1", "kawase-fz").is_err());
    }

    #[test]
    fn an_fz_genesis_cannot_name_an_fz_and_ids_must_parse() {
        let mut s = kawase_primitives::Delta::new(kawase_primitives::MemState::default());
        assert!(Genesis::bz_of("kawase-fz").apply(&mut s, crate::Side::Fz).is_err());
        let bad = Genesis { fz: Some(FzCounterparty { client_id: "no spaces".into(), ..FzCounterparty::chain("a") }) };
        assert!(bad.apply(&mut s, crate::Side::Bz).is_err());
        Genesis::bz_of("kawase-fz").apply(&mut s, crate::Side::Bz).expect("a BZ names its FZ");
        assert_eq!(s.fz_counterparty().expect("read"), Some(FzCounterparty::chain("kawase-fz")));
    }
}
