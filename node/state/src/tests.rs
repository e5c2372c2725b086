use std::collections::BTreeMap;
use std::path::Path;

use kawase_primitives::{Changes, StateRead};
use proptest::prelude::*;

use crate::encoding::{CF_STALE, CF_VALUES};
use crate::{proof_spec, Storage, StorageConfig, StorageError};

fn open(dir: &Path, keep_recent: Option<u64>) -> Storage {
    Storage::open(dir, StorageConfig { keep_recent }).expect("open store")
}

fn changes(writes: &[(&[u8], Option<&[u8]>)]) -> Changes {
    let mut c = Changes::default();
    for (k, v) in writes {
        c.writes.insert(k.to_vec(), v.map(<[u8]>::to_vec));
    }
    c
}

/// Prepares and commits `c` as the next version; returns (version, root).
fn commit(store: &Storage, c: &Changes) -> (u64, [u8; 32]) {
    let version = store.latest_version().map_or(1, |v| v + 1);
    let prepared = store.prepare(version, c).expect("prepare");
    assert_eq!(prepared.version(), version);
    let root = prepared.root_hash();
    store.commit(prepared).expect("commit");
    assert_eq!(store.latest_version(), Some(version));
    assert_eq!(store.root_hash(version).expect("root after commit"), root);
    (version, root)
}

fn proves_membership(proof: &ics23::CommitmentProof, root: [u8; 32], key: &[u8], value: &[u8]) -> bool {
    ics23::verify_membership::<ics23::HostFunctionsManager>(proof, &proof_spec(), &root.to_vec(), key, value)
}

fn proves_absence(proof: &ics23::CommitmentProof, root: [u8; 32], key: &[u8]) -> bool {
    ics23::verify_non_membership::<ics23::HostFunctionsManager>(proof, &proof_spec(), &root.to_vec(), key)
}

#[test]
fn committed_values_read_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = changes(&[(b"acct/alice", Some(b"100")), (b"acct/bob", Some(b"7"))]);
    c.nonverifiable.insert(b"tx/1".to_vec(), b"ok".to_vec());
    let (root1, root2) = {
        let store = open(dir.path(), None);
        assert_eq!(store.latest_version(), None);
        assert_eq!(store.earliest_version(), None);
        let (_, root1) = commit(&store, &c);
        let (_, root2) = commit(&store, &changes(&[(b"acct/carol", Some(b"1"))]));
        (root1, root2)
    };
    let store = open(dir.path(), None);
    assert_eq!(store.latest_version(), Some(2));
    assert_eq!(store.earliest_version(), Some(1));
    assert_eq!(store.root_hash(1).expect("root 1"), root1);
    assert_eq!(store.root_hash(2).expect("root 2"), root2);
    let latest = store.latest();
    assert_eq!(latest.version(), Some(2));
    assert_eq!(latest.get_raw(b"acct/alice").expect("read"), Some(b"100".to_vec()));
    assert_eq!(latest.get_raw(b"acct/carol").expect("read"), Some(b"1".to_vec()));
    assert_eq!(latest.get_raw(b"acct/dave").expect("read"), None);
    assert_eq!(latest.get_nonverifiable(b"tx/1").expect("read"), Some(b"ok".to_vec()));
    let at1 = store.at_version(1).expect("version 1");
    assert_eq!(at1.get_raw(b"acct/bob").expect("read"), Some(b"7".to_vec()));
    assert_eq!(at1.get_raw(b"acct/carol").expect("read"), None);
    // The next version continues from the reopened state.
    commit(&store, &Changes::default());
    assert_eq!(store.root_hash(3).expect("root 3"), root2);
}

#[test]
fn proof_at_past_height_verifies_against_that_heights_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    let (_, root1) = commit(&store, &changes(&[(b"k", Some(b"v1")), (b"other", Some(b"o"))]));
    let (_, root2) = commit(&store, &changes(&[(b"k", Some(b"v2"))]));
    assert_ne!(root1, root2);

    let (value, proof) = store.get_with_proof(b"k", 1).expect("proof at 1");
    assert_eq!(value, Some(b"v1".to_vec()));
    assert!(proves_membership(&proof, root1, b"k", b"v1"));
    assert!(!proves_membership(&proof, root2, b"k", b"v1"));
    assert!(!proves_membership(&proof, root1, b"k", b"tampered"));

    let (value, proof) = store.get_with_proof(b"k", 2).expect("proof at 2");
    assert_eq!(value, Some(b"v2".to_vec()));
    assert!(proves_membership(&proof, root2, b"k", b"v2"));
    assert!(!proves_membership(&proof, root2, b"k", b"v1"));

    for version in [1, 2] {
        let root = store.root_hash(version).expect("root");
        let (value, proof) = store.get_with_proof(b"absent", version).expect("absence proof");
        assert_eq!(value, None);
        assert!(proves_absence(&proof, root, b"absent"));
        assert!(!proves_absence(&proof, root, b"k"));
    }

    assert_eq!(
        store.get_with_proof(b"k", 3).map(|_| ()),
        Err(StorageError::VersionUnknown { requested: 3, latest: Some(2) })
    );
}

#[test]
fn same_changes_give_same_root_on_two_fresh_stores() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (a, b) = (open(dir_a.path(), None), open(dir_b.path(), Some(1)));
    let history = [
        changes(&[(b"x", Some(b"1")), (b"y", Some(b"2")), (b"z", Some(b"3"))]),
        changes(&[(b"y", None), (b"w", Some(b"4"))]),
        Changes::default(),
        changes(&[(b"x", Some(b"5"))]),
    ];
    for c in &history {
        let prepared_a = a.prepare(a.latest_version().map_or(1, |v| v + 1), c).expect("prepare");
        let prepared_b = b.prepare(b.latest_version().map_or(1, |v| v + 1), c).expect("prepare");
        assert_eq!(prepared_a.root_hash(), prepared_b.root_hash());
        // Preparing twice gives the same answer and writes nothing.
        let again = a.prepare(prepared_a.version(), c).expect("prepare again");
        assert_eq!(again.root_hash(), prepared_a.root_hash());
        a.commit(prepared_a).expect("commit");
        b.commit(prepared_b).expect("commit");
    }
    assert_eq!(a.root_hash(4).expect("root"), b.root_hash(4).expect("root"));
}

#[test]
fn empty_block_keeps_root_and_advances_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), Some(3));
    // A fresh chain whose first blocks are empty reports the empty root.
    let (v1, root1) = commit(&store, &Changes::default());
    assert_eq!((v1, root1), (1, Storage::empty_root()));
    let (_, root2) = commit(&store, &Changes::default());
    assert_eq!(root2, Storage::empty_root());
    assert!(matches!(store.get_with_proof(b"k", 2), Err(StorageError::EmptyTree { version: 2 })));

    let (_, root3) = commit(&store, &changes(&[(b"k", Some(b"v"))]));
    assert_ne!(root3, Storage::empty_root());
    let nodes_before = store.node_count().expect("count");
    for _ in 0..10 {
        let (version, root) = commit(&store, &Changes::default());
        assert_eq!(root, root3);
        let (value, proof) = store.get_with_proof(b"k", version).expect("proof");
        assert_eq!(value, Some(b"v".to_vec()));
        assert!(proves_membership(&proof, root, b"k", b"v"));
    }
    assert_eq!(store.latest_version(), Some(13));
    // Empty blocks add one root copy each, and pruning removes the old ones.
    assert!(store.node_count().expect("count") <= nodes_before + 3, "root copies leak");
    // A block with only non-verifiable writes is also "empty" for the tree.
    let mut c = Changes::default();
    c.nonverifiable.insert(b"index".to_vec(), b"1".to_vec());
    let (_, root) = commit(&store, &c);
    assert_eq!(root, root3);
    assert_eq!(store.latest().get_nonverifiable(b"index").expect("read"), Some(b"1".to_vec()));
}

#[test]
fn deletion_removes_from_latest_and_prefix_and_changes_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    let (_, root1) = commit(&store, &changes(&[(b"p/a", Some(b"1")), (b"p/b", Some(b"2"))]));
    let (_, root2) = commit(&store, &changes(&[(b"p/a", None)]));
    assert_ne!(root1, root2);
    let latest = store.latest();
    assert_eq!(latest.get_raw(b"p/a").expect("read"), None);
    assert_eq!(latest.prefix_raw(b"p/").expect("prefix"), vec![(b"p/b".to_vec(), b"2".to_vec())]);
    assert_eq!(store.at_version(1).expect("v1").get_raw(b"p/a").expect("read"), Some(b"1".to_vec()));
    assert_eq!(store.at_version(2).expect("v2").get_raw(b"p/a").expect("read"), None);
    let (value, proof) = store.get_with_proof(b"p/a", 2).expect("absence proof");
    assert_eq!(value, None);
    assert!(proves_absence(&proof, root2, b"p/a"));

    // Deleting a key that never existed changes nothing in the tree.
    let (_, root3) = commit(&store, &changes(&[(b"never", None)]));
    assert_eq!(root3, root2);
    // Deleting the last key empties the tree.
    let (_, root4) = commit(&store, &changes(&[(b"p/b", None)]));
    assert_eq!(root4, Storage::empty_root());
    assert_eq!(store.latest().prefix_raw(b"").expect("prefix"), vec![]);
    // And it can be refilled.
    let (_, root5) = commit(&store, &changes(&[(b"p/a", Some(b"1")), (b"p/b", Some(b"2"))]));
    assert_eq!(root5, root1);
}

#[test]
fn pruning_removes_old_versions_but_keeps_recent_and_latest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), Some(2));
    let mut roots = vec![[0; 32]];
    for v in 1..=5u64 {
        let value = format!("v{v}");
        let mut c = changes(&[(b"k", Some(value.as_bytes()))]);
        if v == 1 {
            c.writes.insert(b"fixed".to_vec(), Some(b"f".to_vec()));
        }
        let (_, root) = commit(&store, &c);
        roots.push(root);
    }
    assert_eq!(store.earliest_version(), Some(4));
    let pruned = StorageError::VersionPruned { requested: 1, earliest: 4 };
    assert_eq!(store.root_hash(1), Err(pruned.clone()));
    assert_eq!(store.get_with_proof(b"k", 1).map(|_| ()), Err(pruned.clone()));
    assert_eq!(store.at_version(1).map(|_| ()), Err(pruned));
    assert!(matches!(store.root_hash(3), Err(StorageError::VersionPruned { requested: 3, earliest: 4 })));
    for v in [4u64, 5] {
        let root = store.root_hash(v).expect("retained root");
        assert_eq!(root, roots[v as usize]);
        let expected = format!("v{v}");
        let (value, proof) = store.get_with_proof(b"k", v).expect("retained proof");
        assert_eq!(value.as_deref(), Some(expected.as_bytes()));
        assert!(proves_membership(&proof, root, b"k", expected.as_bytes()));
        let snapshot = store.at_version(v).expect("retained version");
        assert_eq!(snapshot.get_raw(b"k").expect("read"), Some(expected.into_bytes()));
        // Written only at version 1, whose entry must survive pruning.
        assert_eq!(snapshot.get_raw(b"fixed").expect("read"), Some(b"f".to_vec()));
    }
    assert_eq!(store.latest().get_raw(b"k").expect("read"), Some(b"v5".to_vec()));

    let bounded = store.node_count().expect("count");
    let values_bounded = store.count_entries(CF_VALUES).expect("count");
    let stale_bounded = store.count_entries(CF_STALE).expect("count");
    for v in 6..=40u64 {
        let value = format!("v{v}");
        commit(&store, &changes(&[(b"k", Some(value.as_bytes()))]));
        if v % 3 == 0 {
            commit(&store, &Changes::default());
        }
    }
    assert!(store.node_count().expect("count") <= bounded, "node count grew under pruning");
    assert!(store.count_entries(CF_VALUES).expect("count") <= values_bounded, "values grew");
    assert!(store.count_entries(CF_STALE).expect("count") <= stale_bounded, "stale index grew");
    // Reopening keeps the pruning state.
    drop(store);
    let store = open(dir.path(), Some(2));
    let latest = store.latest_version().expect("latest");
    assert_eq!(store.earliest_version(), Some(latest - 1));
    assert!(store.at_version(latest - 2).is_err());
}

#[test]
fn archive_store_keeps_every_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    for v in 1..=5u64 {
        commit(&store, &changes(&[(b"k", Some(format!("v{v}").as_bytes()))]));
    }
    assert_eq!(store.earliest_version(), Some(1));
    for v in 1..=5u64 {
        let value = store.at_version(v).expect("version").get_raw(b"k").expect("read");
        assert_eq!(value, Some(format!("v{v}").into_bytes()));
    }
    // Switching the same data directory to pruning catches up at open.
    drop(store);
    let store = open(dir.path(), Some(1));
    assert_eq!(store.earliest_version(), Some(5));
    assert!(matches!(store.root_hash(4), Err(StorageError::VersionPruned { .. })));
    assert!(store.get_with_proof(b"k", 5).is_ok());
}

#[test]
fn commit_rejects_a_stale_prepare() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    let first = store.prepare(1, &changes(&[(b"a", Some(b"1"))])).expect("prepare");
    let rival = store.prepare(1, &changes(&[(b"a", Some(b"2"))])).expect("prepare");
    store.commit(first).expect("commit");
    assert_eq!(store.commit(rival), Err(StorageError::StalePrepare { version: 1, prepared_on: None, latest: Some(1) }));
    assert_eq!(store.latest().get_raw(b"a").expect("read"), Some(b"1".to_vec()));
    assert_eq!(
        store.prepare(3, &Changes::default()).map(|_| ()),
        Err(StorageError::WrongVersion { expected: 2, got: 3 })
    );
    assert_eq!(
        store.prepare(1, &Changes::default()).map(|_| ()),
        Err(StorageError::WrongVersion { expected: 2, got: 1 })
    );
    assert!(matches!(
        Storage::open(&dir.path().join("other"), StorageConfig { keep_recent: Some(0) }),
        Err(StorageError::InvalidConfig(_))
    ));
}

#[test]
fn prefix_raw_on_latest_is_ordered_and_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    commit(
        &store,
        &changes(&[
            (b"bal/", Some(b"root")),
            (b"bal/zed", Some(b"3")),
            (b"bal/amy", Some(b"1")),
            (b"bal/bo", Some(b"2")),
            (b"bak/x", Some(b"n")),
            (b"bal0", Some(b"n")),
            (b"ba", Some(b"n")),
            (b"bam/", Some(b"n")),
        ]),
    );
    let keys: Vec<Vec<u8>> = store.latest().prefix_raw(b"bal/").expect("prefix").into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![b"bal/".to_vec(), b"bal/amy".to_vec(), b"bal/bo".to_vec(), b"bal/zed".to_vec()]);
    assert_eq!(store.latest().prefix_raw(b"nothing").expect("prefix"), vec![]);
    assert_eq!(store.latest().prefix_raw(b"").expect("prefix").len(), 8);
    // Past versions only serve prefix reads while they are the latest.
    assert_eq!(store.at_version(1).expect("v1").prefix_raw(b"bal/").expect("prefix").len(), 4);
    commit(&store, &Changes::default());
    assert!(store.at_version(1).expect("v1").prefix_raw(b"bal/").is_err());
}

#[test]
fn snapshots_are_shareable_across_threads() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<Storage>();
    assert_send_sync_clone::<crate::Snapshot>();
    assert_send_sync_clone::<crate::VersionedSnapshot>();

    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), Some(4));
    commit(&store, &changes(&[(b"k", Some(b"0"))]));
    let reader = {
        let store = store.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                let value = store.latest().get_raw(b"k").expect("read").expect("present");
                assert!(!value.is_empty());
            }
        })
    };
    for v in 1..30u32 {
        commit(&store, &changes(&[(b"k", Some(v.to_string().as_bytes()))]));
    }
    reader.join().expect("reader thread");
}

/// One block of the random history: (key index, value or deletion).
type Block = Vec<(u8, Option<Vec<u8>>)>;

fn key_of(i: u8) -> Vec<u8> {
    // Shared prefixes so that prefix reads and tree paths interact.
    format!("k/{}/{}", i % 3, i).into_bytes()
}

fn block_changes(block: &Block) -> Changes {
    let mut c = Changes::default();
    for (i, value) in block {
        c.writes.insert(key_of(*i), value.clone());
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_match_a_model_and_replay_to_the_same_roots(
        history in prop::collection::vec(
            prop::collection::vec((0u8..12, prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..4))), 0..6),
            1..10,
        ),
        keep_recent in prop::option::of(1u64..4),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path(), keep_recent);
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut models = vec![model.clone()];
        let mut roots = vec![Storage::empty_root()];
        for block in &history {
            let c = block_changes(block);
            for (k, v) in &c.writes {
                match v {
                    Some(v) => { model.insert(k.clone(), v.clone()); }
                    None => { model.remove(k); }
                }
            }
            let (_, root) = commit(&store, &c);
            roots.push(root);
            models.push(model.clone());
            let latest: BTreeMap<_, _> = store.latest().prefix_raw(b"").expect("prefix").into_iter().collect();
            prop_assert_eq!(&latest, &model);
            if model.is_empty() {
                prop_assert_eq!(root, Storage::empty_root());
            }
        }
        // Every retained version reads back its own history.
        let latest = store.latest_version().expect("latest");
        let earliest = store.earliest_version().expect("earliest");
        if let Some(keep) = keep_recent {
            prop_assert_eq!(earliest, (latest + 1).saturating_sub(keep).max(1));
        }
        for v in earliest..=latest {
            let snapshot = store.at_version(v).expect("retained");
            for i in 0..12u8 {
                let key = key_of(i);
                prop_assert_eq!(snapshot.get_raw(&key).expect("read"), models[v as usize].get(&key).cloned());
            }
        }
        // A fresh archive store fed the same history reaches the same roots.
        let replay_dir = tempfile::tempdir().expect("tempdir");
        let replay = open(replay_dir.path(), None);
        for (i, block) in history.iter().enumerate() {
            let (v, root) = commit(&replay, &block_changes(block));
            prop_assert_eq!(root, roots[i + 1]);
            if v >= earliest {
                prop_assert_eq!(store.root_hash(v).expect("root"), root);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Absence proofs verify for any absent key, whatever the tree's shape
    /// (IBC timeouts rest on them).
    #[test]
    fn absence_proofs_verify_for_random_trees(
        keys in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 1..24), 1..600),
        probes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..24), 1..60),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path(), None);
        let mut c = Changes::default();
        for k in &keys {
            c.writes.insert(k.clone(), Some(b"v".to_vec()));
        }
        let (version, root) = commit(&store, &c);
        for p in probes.iter().filter(|p| !keys.contains(*p)) {
            let (value, proof) = store.get_with_proof(p, version).expect("proof");
            prop_assert!(value.is_none());
            prop_assert!(proves_absence(&proof, root, p), "absence of {} not proven among {} keys", hex::encode(p), keys.len());
        }
    }
}

/// Why no module may write an empty value: ICS-23 refuses an existence
/// proof without a value, so the key can't be proven, nor serve as the
/// neighbour in an absence proof of the keys beside it.
#[test]
fn an_empty_value_cannot_be_proven_so_state_never_holds_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    let (version, root) = commit(&store, &changes(&[(b"marker", Some(b"")), (b"other", Some(b"v"))]));
    let (value, proof) = store.get_with_proof(b"marker", version).expect("proof");
    assert_eq!(value, Some(Vec::new()));
    assert!(!proves_membership(&proof, root, b"marker", b""));
}

#[test]
fn a_frozen_view_keeps_its_version_while_a_block_commits_under_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    commit(&store, &changes(&[(b"acct/alice", Some(b"100")), (b"acct/bob", Some(b"7"))]));
    let seen = store
        .with_frozen_latest(|view| {
            assert_eq!(view.version(), Some(1));
            // A commit lands between the view's first and second read.
            let first = view.get_raw(b"acct/alice").expect("read");
            commit(&store, &changes(&[(b"acct/alice", Some(b"90")), (b"acct/bob", None), (b"acct/carol", Some(b"1"))]));
            let live = store.latest();
            assert_eq!(live.get_raw(b"acct/alice").expect("read").as_deref(), Some(&b"90"[..]), "a live view moves on");
            let list = view.prefix_raw(b"acct/").expect("prefix");
            (first, view.get_raw(b"acct/bob").expect("read"), list.len(), view.version())
        })
        .expect("frozen view");
    assert_eq!(seen.0.as_deref(), Some(&b"100"[..]));
    assert_eq!(seen.1.as_deref(), Some(&b"7"[..]), "bob was deleted after the view was taken");
    assert_eq!(seen.2, 2, "the prefix read sees alice and bob, not carol");
    assert_eq!(seen.3, Some(1));
}

/// Bytes of RocksDB's write-ahead logs (`*.log`) in a store's directory.
fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("store dir")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

#[test]
fn a_commit_larger_than_a_memtable_is_flushed_so_a_restart_replays_no_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 80 MiB in one batch (a genesis with many accounts), past the 64 MiB memtable.
    let mut big = changes(&[(b"acct/alice", Some(b"100"))]);
    for i in 0..80u32 {
        big.nonverifiable.insert(format!("blob/{i:03}").into_bytes(), vec![i as u8; 1 << 20]);
    }
    let root = {
        let store = open(dir.path(), None);
        let (_, root) = commit(&store, &big);
        assert!(wal_bytes(dir.path()) < 8 << 20, "the log still holds {} bytes", wal_bytes(dir.path()));
        // A small commit stays in the log and memtable as before.
        commit(&store, &changes(&[(b"acct/bob", Some(b"7"))]));
        root
    };
    let store = open(dir.path(), None);
    assert_eq!(store.root_hash(1).expect("root 1"), root);
    assert_eq!(store.latest().get_nonverifiable(b"blob/079").expect("read").map(|v| v.len()), Some(1 << 20));
    assert_eq!(store.latest().get_raw(b"acct/bob").expect("read"), Some(b"7".to_vec()));
}

#[test]
fn the_write_ahead_log_stays_bounded_although_a_small_column_family_never_fills_its_memtable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), None);
    // 360 commits of 1 MiB each: every one also writes the tiny meta family,
    // whose memtable alone would keep every log file alive.
    for i in 0..360u32 {
        let mut c = changes(&[]);
        c.nonverifiable.insert(format!("blob/{}", i % 8).into_bytes(), vec![i as u8; 1 << 20]);
        commit(&store, &c);
    }
    let wal = wal_bytes(dir.path());
    assert!(wal < 320 << 20, "the write-ahead log grew to {} MiB", wal >> 20);
    let usage = store.disk_usage().expect("usage");
    assert_eq!(usage.len(), 7, "one figure per column family");
    assert!(usage.iter().any(|(name, sst, mem)| *name == "nonverifiable" && sst + mem >= 8 << 20));
}
