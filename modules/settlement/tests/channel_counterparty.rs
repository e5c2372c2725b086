//! A BZ accepts its settlement channel only on a connection whose light
//! client tracks the FZ its genesis names (defect 5a): the settlement app's
//! channel-open callbacks read the connection end and its client state from
//! the IBC store, as the IBC host wrote them.
use std::cell::RefCell;
use std::time::Duration;

use kawase_ibc::ibc::clients::tendermint::types::{AllowUpdate, ClientState, TrustThreshold};
use kawase_ibc::ibc::core::channel::types::channel::{Counterparty as ChanCounterparty, Order};
use kawase_ibc::ibc::core::channel::types::Version;
use kawase_ibc::ibc::core::client::types::Height;
use kawase_ibc::ibc::core::commitment_types::commitment::CommitmentPrefix;
use kawase_ibc::ibc::core::connection::types::version::Version as ConnVersion;
use kawase_ibc::ibc::core::connection::types::{ConnectionEnd, Counterparty, State};
use kawase_ibc::ibc::core::host::types::identifiers::{ChainId, ChannelId, ClientId, ConnectionId, PortId};
use kawase_ibc::ibc::core::host::types::path::{ClientStatePath, ConnectionPath, Path};
use kawase_ibc::ibc::core::router::module::Module;
use kawase_ibc::ibc::primitives::proto::{Any, Protobuf};
use kawase_primitives::{Delta, MemState, StateWrite};
use kawase_settlement::{FzCounterparty, Genesis, SettlementApp, Side, StateReadExt as _};
use prost::Message;

/// A BZ store holding client `07-tendermint-{n}` of `tracked` for each
/// `(n, tracked)` and connection `connection-{n}` on it.
fn bz_with(clients: &[(u64, &str)], genesis: Genesis) -> RefCell<Delta<MemState>> {
    let mut s = Delta::new(MemState::default());
    genesis.apply(&mut s, Side::Bz).expect("genesis");
    for (n, tracked) in clients {
        let client = ClientId::new("07-tendermint", *n).expect("client id");
        let cs = ClientState::new(
            ChainId::new(tracked).expect("chain id"),
            TrustThreshold::ONE_THIRD,
            Duration::from_secs(14 * 24 * 3600),
            Duration::from_secs(21 * 24 * 3600),
            Duration::from_secs(20),
            Height::new(0, 10).expect("height"),
            kawase_ibc::proof_specs(),
            vec!["upgrade".into(), "upgradedIBCState".into()],
            AllowUpdate { after_expiry: false, after_misbehaviour: false },
        )
        .expect("client state");
        let key = Path::from(ClientStatePath::new(client.clone())).to_string();
        s.put_raw(key.into_bytes(), Any::from(cs).encode_to_vec());
        let counterparty = Counterparty::new(
            ClientId::new("07-tendermint", 0).expect("id"),
            Some(ConnectionId::new(0)),
            CommitmentPrefix::from_bytes(b"ibc"),
        );
        let end = ConnectionEnd::new(State::Open, client, counterparty, ConnVersion::compatibles(), Duration::ZERO)
            .expect("connection end");
        let key = Path::from(ConnectionPath::new(&ConnectionId::new(*n))).to_string();
        s.put_raw(key.into_bytes(), end.encode_vec());
    }
    RefCell::new(s)
}

/// ChanOpenTry on the BZ over `connection-{n}`, then ChanOpenInit.
fn open(state: &RefCell<Delta<MemState>>, n: u64) -> Result<(), String> {
    let app = SettlementApp::new(state, Side::Bz);
    let port = PortId::new(kawase_ibc::SETTLEMENT_PORT.into()).expect("port");
    let cp = ChanCounterparty::new(port.clone(), Some(ChannelId::new(0)));
    let hops = [ConnectionId::new(n)];
    let v = Version::new(kawase_settlement::VERSION.into());
    app.on_chan_open_try_validate(Order::Unordered, &hops, &port, &ChannelId::new(0), &cp, &v)
        .map_err(|e| e.to_string())?;
    app.on_chan_open_init_validate(Order::Unordered, &hops, &port, &ChannelId::new(0), &cp, &v)
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[test]
fn a_bz_refuses_a_channel_over_a_client_of_another_chain_and_accepts_its_named_fz() {
    let bz = bz_with(&[(0, "fake-fz"), (1, "kawase-fz")], Genesis::bz_of("kawase-fz"));
    let err = open(&bz, 0).expect_err("a channel to a client of `fake-fz` must be refused");
    assert!(err.contains("fake-fz") && err.contains("kawase-fz"), "{err}");
    open(&bz, 1).expect("the named FZ's channel opens");
    assert_eq!(bz.borrow().bz_channel().expect("read"), None, "validation binds nothing");
}

#[test]
fn a_bz_that_names_no_fz_accepts_no_channel() {
    let bz = bz_with(&[(0, "kawase-fz")], Genesis::default());
    let err = open(&bz, 0).expect_err("no counterparty named: refused");
    assert!(err.contains("settlement.fz"), "{err}");
}

#[test]
fn a_bz_pinned_to_a_client_refuses_another_client_of_the_same_chain() {
    let pinned = FzCounterparty { client_id: "07-tendermint-1".into(), ..FzCounterparty::chain("kawase-fz") };
    let bz = bz_with(&[(0, "kawase-fz"), (1, "kawase-fz")], Genesis { fz: Some(pinned) });
    let err = open(&bz, 0).expect_err("the unpinned client is refused");
    assert!(err.contains("07-tendermint-1"), "{err}");
    open(&bz, 1).expect("the pinned client is accepted");
}
