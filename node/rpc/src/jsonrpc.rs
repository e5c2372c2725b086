//! JSON-RPC 2.0 envelopes and parameter decoding, with CometBFT's rules for
//! both transports: JSON params (by name or by position) and URI query
//! strings (`/block?height=5`, `/tx?hash=0xAB..`, `/abci_query?path="/a"`).

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::RpcError;

/// One decoded request.
#[derive(Debug)]
pub(crate) struct Request {
    /// The id as the client sent it (a string or a number).
    pub id: Value,
    pub method: String,
    pub params: Params,
}

/// What one element of a JSON-RPC body turned out to be.
#[derive(Debug)]
pub(crate) enum Incoming {
    Request(Request),
    /// No id: CometBFT does not answer these.
    Notification,
    /// Answer with this error under this id.
    Invalid(Value, RpcError),
}

/// Decode one request object. `arg_names` gives a method's parameter names in
/// order, so positional params can be read by name.
pub(crate) fn parse_request(value: Value, arg_names: impl Fn(&str) -> Option<&'static [&'static str]>) -> Incoming {
    let Value::Object(mut obj) = value else {
        return Incoming::Invalid(Value::Null, RpcError::InvalidRequest("request must be a JSON object".into()));
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => return Incoming::Notification,
        Some(id @ (Value::String(_) | Value::Number(_))) => id,
        Some(other) => {
            return Incoming::Invalid(
                Value::Null,
                RpcError::InvalidRequest(format!("invalid id {other}: must be a string or a number")),
            )
        }
    };
    if let Some(v) = obj.get("jsonrpc") {
        if v != "2.0" {
            return Incoming::Invalid(id, RpcError::InvalidRequest(format!("jsonrpc must be \"2.0\", got {v}")));
        }
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => return Incoming::Invalid(id, RpcError::InvalidRequest("method must be a string".into())),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(Value::Array(items)) => {
            let names = arg_names(&method).unwrap_or(&[]);
            if items.len() > names.len() {
                return Incoming::Invalid(
                    id,
                    RpcError::InvalidParams(format!(
                        "expected at most {} parameters ({}), got {}",
                        names.len(),
                        names.join(", "),
                        items.len()
                    )),
                );
            }
            names.iter().zip(items).map(|(name, v)| ((*name).to_owned(), v)).collect()
        }
        Some(_) => {
            return Incoming::Invalid(id, RpcError::InvalidParams("params must be an object or an array".into()))
        }
    };
    Incoming::Request(Request { id, method, params: Params::Json(params) })
}

/// A success envelope.
pub(crate) fn success(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error envelope; `data` is left out when empty, as CometBFT does.
pub(crate) fn failure(id: &Value, err: &RpcError) -> Value {
    let mut error = json!({ "code": err.code(), "message": err.message() });
    if !err.data().is_empty() {
        error["data"] = Value::String(err.data().to_owned());
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": error })
}

/// Parameters of one call, from either transport.
#[derive(Debug)]
pub(crate) enum Params {
    /// JSON-RPC params; positional ones already keyed by name.
    Json(Map<String, Value>),
    /// URI query parameters, percent-decoded, values still in CometBFT's URI
    /// syntax (`5`, `"text"`, `0xHEX`, `true`).
    Uri(HashMap<String, String>),
}

fn bad(name: &str, why: impl std::fmt::Display) -> RpcError {
    RpcError::InvalidParams(format!("invalid parameter {name}: {why}"))
}

fn int_from_str(name: &str, s: &str) -> Result<i64, RpcError> {
    s.trim().parse::<i64>().map_err(|e| bad(name, format!("{s:?} is not an integer ({e})")))
}

/// Is this URI value an integer literal (`-?[0-9]+`)?
fn is_int_literal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn hex_literal(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

impl Params {
    /// A URI-only parameter value, `None` when absent or empty (CometBFT
    /// treats both as "use the default").
    fn uri(map: &HashMap<String, String>, name: &str) -> Option<String> {
        map.get(name).filter(|v| !v.is_empty()).cloned()
    }

    /// A JSON parameter, `None` when absent or null.
    fn json<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
        map.get(name).filter(|v| !v.is_null())
    }

    /// An integer: a JSON number or a decimal string (CometBFT encodes
    /// 64-bit integers as strings).
    pub fn int(&self, name: &str) -> Result<Option<i64>, RpcError> {
        match self {
            Params::Json(map) => match Self::json(map, name) {
                None => Ok(None),
                Some(Value::Number(n)) => {
                    n.as_i64().map(Some).ok_or_else(|| bad(name, format!("{n} is not a 64-bit integer")))
                }
                Some(Value::String(s)) => int_from_str(name, s).map(Some),
                Some(other) => Err(bad(name, format!("expected an integer, got {other}"))),
            },
            Params::Uri(map) => match Self::uri(map, name) {
                None => Ok(None),
                Some(s) if is_int_literal(&s) => int_from_str(name, &s).map(Some),
                Some(s) => match serde_json::from_str::<Value>(&s) {
                    Ok(Value::String(inner)) => int_from_str(name, &inner).map(Some),
                    Ok(Value::Null) => Ok(None),
                    _ => Err(bad(name, format!("{s:?} is not an integer"))),
                },
            },
        }
    }

    /// A boolean, false when absent.
    pub fn bool(&self, name: &str) -> Result<bool, RpcError> {
        let parse = |s: &str| match s.trim().trim_matches('"') {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(bad(name, format!("{other:?} is not a boolean"))),
        };
        match self {
            Params::Json(map) => match Self::json(map, name) {
                None => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(Value::String(s)) => parse(s),
                Some(other) => Err(bad(name, format!("expected a boolean, got {other}"))),
            },
            Params::Uri(map) => Self::uri(map, name).map_or(Ok(false), |s| parse(&s)),
        }
    }

    /// A string. In a URI it is normally quoted (`query="tm.event='Tx'"`);
    /// `0x` hex is decoded as CometBFT does, and a bare value is taken as is.
    pub fn string(&self, name: &str) -> Result<Option<String>, RpcError> {
        match self {
            Params::Json(map) => match Self::json(map, name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(bad(name, format!("expected a string, got {other}"))),
            },
            Params::Uri(map) => {
                let Some(s) = Self::uri(map, name) else {
                    return Ok(None);
                };
                if let Some(h) = hex_literal(&s) {
                    let bytes = hex::decode(h).map_err(|e| bad(name, e))?;
                    return String::from_utf8(bytes).map(Some).map_err(|e| bad(name, e));
                }
                if s.starts_with('"') {
                    return match serde_json::from_str::<Value>(&s) {
                        Ok(Value::String(inner)) => Ok(Some(inner)),
                        _ => Err(bad(name, format!("{s} is not a valid quoted string"))),
                    };
                }
                Ok(Some(s))
            }
        }
    }

    /// Bytes that JSON carries as base64 (`tx`, the `/tx` hash).
    pub fn bytes_base64(&self, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
        self.bytes(name, |s| base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| e.to_string()))
    }

    /// Bytes that JSON carries as hex (`abci_query` data).
    pub fn bytes_hex(&self, name: &str) -> Result<Option<Vec<u8>>, RpcError> {
        self.bytes(name, |s| hex::decode(s).map_err(|e| e.to_string()))
    }

    /// Bytes: JSON strings go through `decode`; in a URI, `0x` hex is
    /// decoded and a quoted string is taken literally (CometBFT's rules).
    fn bytes(&self, name: &str, decode: impl Fn(&str) -> Result<Vec<u8>, String>) -> Result<Option<Vec<u8>>, RpcError> {
        match self {
            Params::Json(map) => match Self::json(map, name) {
                None => Ok(None),
                Some(Value::String(s)) => decode(s).map(Some).map_err(|e| bad(name, e)),
                Some(other) => Err(bad(name, format!("expected a string, got {other}"))),
            },
            Params::Uri(map) => {
                let Some(s) = Self::uri(map, name) else {
                    return Ok(None);
                };
                if let Some(h) = hex_literal(&s) {
                    return hex::decode(h).map(Some).map_err(|e| bad(name, e));
                }
                match serde_json::from_str::<Value>(&s) {
                    Ok(Value::String(inner)) => Ok(Some(inner.into_bytes())),
                    _ => Err(bad(name, format!("{s:?} must be 0x-prefixed hex or a quoted string"))),
                }
            }
        }
    }
}

/// Percent-decode a URI query into parameters (`+` is a space, as Go's
/// `URL.Query` has it). Repeated keys keep the first value.
pub(crate) fn parse_query_string(query: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k)).or_insert_with(|| percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    out.push(hex_val(hi) << 4 | hex_val(lo));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Value of an ASCII hex digit (callers check `is_ascii_hexdigit`).
fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b.to_ascii_lowercase().wrapping_sub(b'a').wrapping_add(10),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_plus_and_truncated_escapes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%27x%27"), "'x'");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("5%2"), "5%2");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e3%81%82"), "あ");
    }

    #[test]
    fn uri_values_follow_cometbft_rules() {
        let p = Params::Uri(parse_query_string(
            "height=5&h2=%225%22&tx=0x0a0B&q=%22tm.event%3D%27Tx%27%22&raw=tm.event='Tx'&b=true&lit=%22abc%22",
        ));
        assert_eq!(p.int("height").unwrap(), Some(5));
        assert_eq!(p.int("h2").unwrap(), Some(5));
        assert_eq!(p.int("missing").unwrap(), None);
        assert_eq!(p.bytes_base64("tx").unwrap(), Some(vec![10, 11]));
        assert_eq!(p.bytes_base64("lit").unwrap(), Some(b"abc".to_vec()));
        assert_eq!(p.string("q").unwrap().unwrap(), "tm.event='Tx'");
        assert_eq!(p.string("raw").unwrap().unwrap(), "tm.event='Tx'");
        assert!(p.bool("b").unwrap());
        assert!(p.int("q").is_err());
        assert!(p.bytes_base64("raw").is_err());
    }

    #[test]
    fn positional_params_are_keyed_by_name() {
        let names = |_: &str| Some(&["height", "page"][..]);
        let req = json!({"jsonrpc":"2.0","id":1,"method":"validators","params":["3", 2]});
        let Incoming::Request(r) = parse_request(req, names) else { panic!("not a request") };
        assert_eq!(r.params.int("height").unwrap(), Some(3));
        assert_eq!(r.params.int("page").unwrap(), Some(2));
        let too_many = json!({"id":1,"method":"validators","params":[1,2,3]});
        assert!(matches!(parse_request(too_many, names), Incoming::Invalid(_, RpcError::InvalidParams(_))));
    }

    #[test]
    fn requests_without_id_are_notifications_and_odd_ids_are_invalid() {
        let none = |_: &str| None;
        assert!(matches!(parse_request(json!({"method":"status"}), none), Incoming::Notification));
        assert!(matches!(
            parse_request(json!({"id":[1],"method":"status"}), none),
            Incoming::Invalid(_, RpcError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_request(json!({"id":1,"method":5}), none),
            Incoming::Invalid(_, RpcError::InvalidRequest(_))
        ));
        assert!(matches!(parse_request(json!("status"), none), Incoming::Invalid(_, RpcError::InvalidRequest(_))));
    }
}
