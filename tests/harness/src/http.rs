//! A plain HTTP/1.0 GET, for the endpoints that are not JSON-RPC (a node's
//! or relayer's Prometheus `/metrics`).
use std::io::{Read as _, Write as _};
use std::time::Duration;

/// The body of `GET path` from `addr` (`host:port`).
pub fn get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}
