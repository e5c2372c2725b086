//! The canonical JSON every line is written in and every hash is taken over.
//!
//! Our own writer, not `serde_json::to_string`: the bytes must not depend on
//! serde_json's features (`preserve_order` changes key order) or version, and
//! a verifier in another language must be able to reproduce them. The rules
//! are those of Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False)`: object keys sorted (by UTF-8 bytes, which is code
//! point order), no whitespace, strings escaped as serde_json does (`\"`,
//! `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other controls `\u00xx`), everything
//! else raw UTF-8, numbers as integers (events never hold floats: see
//! [`Event::detail`](crate::Event::detail)).
use serde_json::Value;
use std::fmt::Write as _;

/// Appends `s` as a JSON string; like [`write_value`], stops and returns
/// false once `out` is longer than `limit` (a huge string costs no more).
pub(crate) fn write_str(out: &mut String, s: &str, limit: usize) -> bool {
    out.push('"');
    for c in s.chars() {
        if out.len() > limit {
            return false;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out.len() <= limit
}

/// Appends `v` canonically; stops early and returns false once `out` is
/// longer than `limit` bytes, so capping a hostile value costs no more than
/// the cap.
pub(crate) fn write_value(out: &mut String, v: &Value, limit: usize) -> bool {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => {
            if !write_str(out, s, limit) {
                return false;
            }
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !write_value(out, item, limit) {
                    return false;
                }
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if !write_str(out, key, limit) {
                    return false;
                }
                out.push(':');
                if !write_value(out, item, limit) {
                    return false;
                }
            }
            out.push('}');
        }
    }
    out.len() <= limit
}
