//! Misbehaviour of the FZ as the BZ's light client sees it: a second valid
//! header for a height the client trusts, signed by the FZ's (only)
//! validator. Shared by the settlement system tests.
use kawase_client::{CosmosAny, Key, KeyKind};
use prost::{Message, Name};
use serde_json::Value;

use crate::zones::Net;

/// The FZ validator's ed25519 key, from its CometBFT `priv_validator_key.json`.
fn validator_key(home: &std::path::Path) -> ed25519_consensus::SigningKey {
    use base64::Engine as _;
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("config/priv_validator_key.json")).expect("validator key"),
    )
    .expect("json");
    let raw =
        base64::engine::general_purpose::STANDARD.decode(v["priv_key"]["value"].as_str().expect("b64")).expect("b64");
    let seed: [u8; 32] = raw[..32].try_into().expect("32-byte seed");
    ed25519_consensus::SigningKey::from(seed)
}

/// Submits, signed by the relayer, an equivocating FZ header at height `h`
/// (one the BZ's client `bz_client` already trusts): the client freezes.
pub async fn freeze_bz_client(net: &Net, bz_client: &str, h: u64) {
    use tendermint::block::{self, signed_header::SignedHeader, Commit, CommitSig};
    // The FZ's real header at a height the BZ's client already trusts.
    let fz = net.fz.client();
    let real = fz.commit(h).await.expect("commit").signed_header;
    let vals = fz.validators(h).await.expect("vals");
    let set = tendermint::validator::Set::without_proposer(vals.validators);

    // A second header for the same height, signed by the same (only)
    // validator: equivocation.
    let key = validator_key(&net.fz.home);
    let mut forged = real.header.clone();
    forged.app_hash = tendermint::AppHash::try_from(vec![0xAB; 32]).expect("hash");
    let block_id = block::Id { hash: forged.hash(), part_set_header: real.commit.block_id.part_set_header };
    let CommitSig::BlockIdFlagCommit { validator_address, timestamp, .. } = real.commit.signatures[0].clone() else {
        panic!("the validator signed block {h}")
    };
    let vote = tendermint::vote::Vote {
        vote_type: tendermint::vote::Type::Precommit,
        height: forged.height,
        round: real.commit.round,
        block_id: Some(block_id),
        timestamp: Some(timestamp),
        validator_address,
        validator_index: tendermint::vote::ValidatorIndex::try_from(0u32).expect("index"),
        signature: None,
        extension: Vec::new(),
        extension_signature: None,
    };
    let sig = key.sign(&vote.into_signable_vec(forged.chain_id.clone()));
    let commit = Commit {
        height: forged.height,
        round: real.commit.round,
        block_id,
        signatures: vec![CommitSig::BlockIdFlagCommit {
            validator_address,
            timestamp,
            signature: tendermint::Signature::try_from(sig.to_bytes().as_slice()).ok(),
        }],
    };
    let forged = SignedHeader::new(forged, commit).expect("signed header");

    // The validator set is fixed, so it is also the trusted next set.
    let trusted_vals = set.clone();
    let relayer_key = {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(net.relayer.config.with_file_name("bz-key.json")).expect("key"),
        )
        .expect("json");
        let s: [u8; 32] = hex::decode(v["secret_hex"].as_str().expect("hex")).expect("hex").try_into().expect("32");
        Key::from_seed(KeyKind::Ed25519, s).expect("key")
    };
    // Verified from the client's earliest consensus state, as a real
    // equivocation would be.
    let header = kawase_ibc::ibc::clients::tendermint::types::Header {
        signed_header: forged,
        validator_set: set,
        trusted_height: kawase_ibc::ibc::core::client::types::Height::new(0, earliest_trusted(net, bz_client, h).await)
            .expect("height"),
        trusted_next_validator_set: trusted_vals,
    };
    let update = kawase_ibc::ibc_proto::ibc::core::client::v1::MsgUpdateClient {
        client_id: bz_client.to_owned(),
        client_message: Some(header.into()),
        signer: relayer_key.address().to_string(),
    };
    let msg = CosmosAny {
        type_url: kawase_ibc::ibc_proto::ibc::core::client::v1::MsgUpdateClient::type_url(),
        value: update.encode_to_vec(),
    };
    net.bz.ok(&relayer_key, vec![msg]).await;
    assert!(frozen_height(net, bz_client).await > 0, "client frozen after misbehaviour");
}

/// The frozen height of the BZ's client (0 = not frozen).
pub async fn frozen_height(net: &Net, client: &str) -> u64 {
    let key = format!("clients/{client}/clientState");
    let value = net.bz.client().store(key.as_bytes()).await.expect("q");
    let any = kawase_ibc::ibc_proto::google::protobuf::Any::decode(value.as_slice()).expect("any");
    let cs = kawase_ibc::ibc_proto::ibc::lightclients::tendermint::v1::ClientState::decode(any.value.as_slice())
        .expect("client state");
    cs.frozen_height.map(|f| f.revision_height).unwrap_or(0)
}

/// The lowest height the BZ's client of the FZ holds a consensus state for
/// (the trusted base a misbehaving header is verified from).
pub async fn earliest_trusted(net: &Net, client: &str, below: u64) -> u64 {
    for h in 1..below {
        let key = format!("clients/{client}/consensusStates/0-{h}");
        if !net.bz.client().store(key.as_bytes()).await.expect("q").is_empty() {
            return h;
        }
    }
    panic!("no consensus state below {below}")
}
