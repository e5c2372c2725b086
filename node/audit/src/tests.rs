use crate::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("audit").join("audit.jsonl");
    (dir, path)
}

/// A log of `n` records, actors `op-0`, `op-1`, ...
fn chain(path: &Path, n: u64) {
    let mut log = AuditLog::open(path).expect("open");
    for i in 0..n {
        log.append(Event::new(kind::ADMIN_TX, format!("op-{i}")).detail("i", i).at(1_000 + i)).expect("append");
    }
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).expect("read").lines().map(str::to_owned).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write");
}

fn broken(result: Result<Verified, AuditError>) -> (u64, Option<u64>, BreakKind) {
    match result {
        Err(AuditError::Broken { line, seq, reason }) => (line, seq, reason),
        other => panic!("expected a break, got {other:?}"),
    }
}

#[test]
fn a_fresh_chain_of_five_verifies() {
    let (_dir, path) = temp();
    chain(&path, 5);
    let verified = verify(&path).expect("verifies");
    assert_eq!(verified.records, 5);
    let last: Record = serde_json::from_str(&lines(&path)[4]).expect("record");
    assert_eq!(last.seq, 4);
    assert_eq!(verified.last_hash, last.hash);
    let first: Record = serde_json::from_str(&lines(&path)[0]).expect("record");
    assert_eq!(first.prev, GENESIS_PREV);
}

#[test]
fn verify_names_the_first_edited_record() {
    let (_dir, path) = temp();
    chain(&path, 5);
    let mut l = lines(&path);
    l[2] = l[2].replace("\"actor\":\"op-2\"", "\"actor\":\"mallory\"");
    write_lines(&path, &l);
    let err = verify(&path).expect_err("edited");
    assert_eq!(err.code(), "audit/broken");
    assert_eq!(err.to_string(), "audit/broken: line 3 (seq 2): record edited — its hash does not match its content");
    assert_eq!(broken(verify(&path)), (3, Some(2), BreakKind::Edited));
}

#[test]
fn an_added_field_or_reformatted_line_is_an_edit() {
    let (_dir, path) = temp();
    chain(&path, 3);
    let mut l = lines(&path);
    l[1] = l[1].replacen('{', "{\"extra\":1,", 1);
    write_lines(&path, &l);
    assert_eq!(broken(verify(&path)), (2, Some(1), BreakKind::Edited));
    let mut l = lines(&path);
    l[1] = lines_of_fresh_chain(3)[1].replace(',', ", ");
    write_lines(&path, &l);
    assert_eq!(broken(verify(&path)), (2, Some(1), BreakKind::Edited));
}

fn lines_of_fresh_chain(n: u64) -> Vec<String> {
    let (_dir, path) = temp();
    chain(&path, n);
    lines(&path)
}

#[test]
fn a_deleted_record_is_removed_at_the_line_after_it() {
    let (_dir, path) = temp();
    chain(&path, 5);
    let mut l = lines(&path);
    l.remove(1);
    write_lines(&path, &l);
    let err = verify(&path).expect_err("removed");
    assert_eq!(err.to_string(), "audit/broken: line 2 (seq 2): records removed before it — its seq jumps forward");
    assert_eq!(broken(verify(&path)), (2, Some(2), BreakKind::Removed));
}

#[test]
fn a_deleted_first_record_is_removed_at_line_one() {
    let (_dir, path) = temp();
    chain(&path, 3);
    let mut l = lines(&path);
    l.remove(0);
    write_lines(&path, &l);
    assert_eq!(broken(verify(&path)), (1, Some(1), BreakKind::Removed));
}

#[test]
fn swapping_two_records_is_reordered_not_edited_or_removed() {
    let (_dir, path) = temp();
    chain(&path, 5);
    let mut l = lines(&path);
    l.swap(1, 2);
    write_lines(&path, &l);
    assert_eq!(broken(verify(&path)), (2, Some(2), BreakKind::Reordered));
    // The last two as well.
    let mut l = lines_of_fresh_chain(5);
    l.swap(3, 4);
    write_lines(&path, &l);
    assert_eq!(broken(verify(&path)), (4, Some(4), BreakKind::Reordered));
}

#[test]
fn a_repeated_record_is_reordered() {
    let (_dir, path) = temp();
    chain(&path, 3);
    let mut l = lines(&path);
    l.insert(2, l[1].clone());
    write_lines(&path, &l);
    assert_eq!(broken(verify(&path)), (3, Some(1), BreakKind::Reordered));
}

#[test]
fn a_record_rehashed_after_an_edit_breaks_the_chain_at_the_next_line() {
    let (_dir, path) = temp();
    chain(&path, 5);
    let mut l = lines(&path);
    let mut forged = Record::from_line(l[2].as_bytes()).expect("intact");
    forged.event.actor = "mallory".into();
    forged.hash = forged.expected_hash();
    l[2] = forged.to_line();
    write_lines(&path, &l);
    let err = verify(&path).expect_err("chain");
    assert_eq!(
        err.to_string(),
        "audit/broken: line 4 (seq 3): chain broken — its prev is not the previous record's hash"
    );
    assert_eq!(broken(verify(&path)), (4, Some(3), BreakKind::ChainMismatch));
}

#[test]
fn a_garbage_line_is_unparsable_and_named() {
    let (_dir, path) = temp();
    chain(&path, 3);
    let mut l = lines(&path);
    l[1] = "not json".into();
    write_lines(&path, &l);
    let err = verify(&path).expect_err("garbage");
    assert_eq!(err.to_string(), "audit/broken: line 2: unparsable — not a complete audit record");
    // A line longer than any record is refused without being read whole.
    let mut l = lines_of_fresh_chain(3);
    l[2] = "x".repeat(LINE_MAX_BYTES + 10);
    write_lines(&path, &l);
    assert_eq!(broken(verify(&path)), (3, None, BreakKind::Unparsable));
}

#[test]
fn reopening_continues_the_chain_and_verifies() {
    let (_dir, path) = temp();
    chain(&path, 3);
    let mut log = AuditLog::open(&path).expect("reopen");
    assert_eq!(log.next_seq(), 3);
    assert!(log.dropped_tail().is_none());
    let record = log.append(Event::new(kind::NODE_STOP, "node")).expect("append");
    assert_eq!(record.seq, 3);
    drop(log);
    let verified = verify(&path).expect("verifies");
    assert_eq!(verified, Verified { records: 4, last_hash: record.hash });
}

#[test]
fn a_torn_last_line_is_dropped_on_open_recorded_and_the_chain_still_verifies() {
    let (_dir, path) = temp();
    chain(&path, 3);
    let intact = fs::read(&path).expect("read");
    let mut torn = intact.clone();
    let next = Record::seal(3, "ab".repeat(32), Event::new(kind::KEY_EXPORT, "op").at(5)).to_line();
    torn.extend_from_slice(&next.as_bytes()[..next.len() / 2]);
    fs::write(&path, &torn).expect("tear");

    // verify is read-only: it reports the torn line and leaves it.
    let err = verify(&path).expect_err("torn");
    assert_eq!(err.code(), "audit/torn");
    assert!(matches!(err, AuditError::Torn { line: 4, .. }), "{err}");

    let mut log = AuditLog::open(&path).expect("open drops the tail");
    let tail = log.dropped_tail().expect("dropped").clone();
    assert_eq!(tail.offset, intact.len() as u64);
    assert_eq!(tail.bytes, (next.len() / 2) as u64);
    assert_eq!(tail.after_seq, Some(2));
    assert_eq!(log.next_seq(), 4, "the drop itself is record 3");
    log.append(Event::new(kind::NODE_START, "node")).expect("append");
    drop(log);

    let l = lines(&path);
    let report = Record::from_line(l[3].as_bytes()).expect("intact");
    assert_eq!(report.seq, 3);
    assert_eq!(report.event.kind, kind::AUDIT_TORN_TAIL_DROPPED);
    assert_eq!(report.event.detail["bytes"], tail.bytes);
    assert_eq!(report.event.detail["sha256"], hex::encode(Sha256::digest(&torn[intact.len()..])));
    assert_eq!(verify(&path).expect("verifies").records, 5);
}

#[test]
fn a_torn_first_line_is_dropped_too() {
    let (_dir, path) = temp();
    fs::create_dir_all(path.parent().expect("dir")).expect("dir");
    fs::write(&path, b"{\"event\":{\"act").expect("tear");
    let log = AuditLog::open(&path).expect("open");
    assert_eq!(log.dropped_tail().expect("dropped").after_seq, None);
    assert_eq!(log.next_seq(), 1);
    drop(log);
    assert_eq!(verify(&path).expect("verifies").records, 1);
}

#[test]
fn an_unterminated_tail_longer_than_a_record_is_refused_not_dropped() {
    let (_dir, path) = temp();
    chain(&path, 2);
    let mut bytes = fs::read(&path).expect("read");
    bytes.extend(std::iter::repeat_n(b'x', LINE_MAX_BYTES + 1));
    fs::write(&path, &bytes).expect("write");
    let err = AuditLog::open(&path).expect_err("refused");
    assert!(matches!(err, AuditError::Torn { line: 3, bytes } if bytes == LINE_MAX_BYTES as u64 + 1), "{err}");
    assert_eq!(fs::read(&path).expect("read"), bytes, "left as it was");
}

#[test]
fn a_broken_last_complete_line_is_refused_on_open_and_left_alone() {
    let (_dir, path) = temp();
    chain(&path, 3);
    let mut l = lines(&path);
    l[2] = l[2].replace("op-2", "op-X");
    write_lines(&path, &l);
    let before = fs::read(&path).expect("read");
    let err = AuditLog::open(&path).expect_err("edited tail");
    assert!(matches!(err, AuditError::Broken { line: 3, seq: Some(2), reason: BreakKind::Edited }), "{err}");

    l[2] = "{\"seq\":2,".into();
    write_lines(&path, &l);
    let err = AuditLog::open(&path).expect_err("unparsable tail");
    assert!(matches!(err, AuditError::Broken { line: 3, seq: None, reason: BreakKind::Unparsable }), "{err}");
    // Even with a torn line after it: nothing is cut off on the way to an error.
    let mut torn = before.clone();
    torn.extend_from_slice(b"{\"ev");
    fs::write(&path, &torn).expect("write");
    assert!(AuditLog::open(&path).is_err());
    assert_eq!(fs::read(&path).expect("read"), torn);
}

#[test]
fn a_huge_detail_is_capped_with_a_marker() {
    let (_dir, path) = temp();
    let mut log = AuditLog::open(&path).expect("open");
    let hostile = "\"\\".repeat(1 << 20);
    let record = log
        .append(Event::new(kind::AUTH_FAILURE, "x".repeat(10_000)).refused().detail("subject", hostile))
        .expect("append");
    let detail = &record.event.detail;
    assert_eq!(detail["truncated"], true);
    assert_eq!(detail["cap_bytes"], DETAIL_MAX_BYTES as u64);
    assert!(detail["prefix"].as_str().expect("prefix").starts_with("{\"subject\":\""));
    assert!(serde_json::to_string(detail).expect("json").len() <= DETAIL_MAX_BYTES);
    assert!(record.event.actor.len() <= 256 && record.event.actor.ends_with("…[truncated]"));
    assert!(lines(&path)[0].len() < LINE_MAX_BYTES);
    // A detail under the cap is kept as it is.
    let small = log.append(Event::new(kind::KEY_IMPORT, "op").detail("name", "validator")).expect("append");
    assert_eq!(small.event.detail, serde_json::json!({ "name": "validator" }));
    drop(log);
    assert_eq!(verify(&path).expect("verifies").records, 2);
}

#[test]
fn strings_with_control_characters_and_floats_round_trip_through_the_hash() {
    let (_dir, path) = temp();
    let mut log = AuditLog::open(&path).expect("open");
    let record = log
        .append(
            Event::new(kind::TLS_RELOAD_FAILED, "ops\n\u{1}\"é")
                .failed()
                .detail("ratio", 0.1)
                .detail("nested", serde_json::json!({ "b": [1, -2, 3.5], "a": null })),
        )
        .expect("append");
    assert_eq!(record.event.detail["ratio"], "0.1", "floats are stored as text");
    assert_eq!(record.event.detail["nested"]["b"][2], "3.5");
    let mut deep = serde_json::json!(1);
    for _ in 0..100 {
        deep = serde_json::json!([deep]);
    }
    let record = log.append(Event::new(kind::ADMIN_TX, "op").detail("deep", deep)).expect("append");
    let mut inner = &record.event.detail["deep"];
    while let Some(next) = inner.get(0) {
        inner = next;
    }
    assert_eq!(inner, "[too deep]");
    drop(log);
    assert_eq!(verify(&path).expect("verifies").records, 2);
}

#[test]
fn the_line_and_hash_encoding_is_pinned() {
    let record = Record::seal(0, GENESIS_PREV.into(), Event::new("node_start", "node").detail("v", 1).at(7));
    let event = r#"{"actor":"node","at_unix_ms":7,"detail":{"v":1},"kind":"node_start","outcome":"ok"}"#;
    let preimage = format!("kawase-audit/v1\n{{\"event\":{event},\"prev\":\"{GENESIS_PREV}\",\"seq\":0}}");
    let hash = hex::encode(Sha256::digest(preimage.as_bytes()));
    assert_eq!(record.hash, hash);
    assert_eq!(
        record.to_line(),
        format!("{{\"event\":{event},\"hash\":\"{hash}\",\"prev\":\"{GENESIS_PREV}\",\"seq\":0}}")
    );
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_log() {
    let (_dir, path) = temp();
    let first = AuditLog::open(&path).expect("open");
    let err = AuditLog::open(&path).expect_err("locked");
    assert_eq!(err.code(), "audit/locked");
    drop(first);
    AuditLog::open(&path).expect("free again");
}

#[test]
fn verify_against_an_anchor_catches_records_cut_from_the_end() {
    let (_dir, path) = temp();
    chain(&path, 4);
    let anchor = verify(&path).expect("verifies");
    let empty = Verified { records: 0, last_hash: GENESIS_PREV.into() };
    assert_eq!(verify_against(&path, &empty).expect("the empty anchor").records, 4);
    chain(&path, 2);
    assert_eq!(verify_against(&path, &anchor).expect("grown is fine").records, 6);

    let l = lines(&path);
    write_lines(&path, &l[..3]);
    verify(&path).expect("a cut tail alone verifies");
    let err = verify_against(&path, &anchor).expect_err("cut");
    assert_eq!(err.code(), "audit/anchor");

    write_lines(&path, &lines_of_fresh_chain(5));
    let err = verify_against(&path, &Verified { records: 4, last_hash: "ab".repeat(32) }).expect_err("rewritten");
    assert!(err.to_string().contains("rewritten"), "{err}");
}

#[test]
fn shared_audit_records_from_clones_in_one_chain() {
    let (_dir, path) = temp();
    let audit = SharedAudit::open(&path).expect("open");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let audit = audit.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    audit.record(Event::new(kind::AUTH_FAILURE, format!("t{t}")).refused().detail("i", i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(audit.try_record(Event::new(kind::NODE_STOP, "node")).expect("append").seq, 20);
    drop(audit);
    assert_eq!(verify(&path).expect("verifies").records, 21);
}
