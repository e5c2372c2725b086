//! What `kawased devnet` checks before it starts anything, so a newcomer gets
//! one line that says what to do instead of a node dying on a bound port:
//! no other devnet runs from the same data directory (a lock file held for
//! the supervisor's lifetime), and every port the devnet will listen on is
//! free (naming the port, what it is for, and the flag that moves it).
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::net::TcpListener;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::config::Ports;

/// The data directory's lock: held while this devnet runs, released by the
/// kernel however the supervisor ends (a SIGKILL too), so a stale lock never
/// blocks the next run.
pub struct DevnetLock {
    _file: File,
}

impl DevnetLock {
    /// Takes `DIR/devnet.lock`, or says which devnet holds it.
    pub fn take(root: &Path) -> Result<DevnetLock> {
        let path = root.join("devnet.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                bail!(
                    "a devnet is already running from {} (pid {}): use that one (its banner has the addresses), \
                     stop it with Ctrl-C, or start another beside it with --data-dir DIR --fz-port P --bz-port Q",
                    root.display(),
                    pid.trim()
                );
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
        // The pid is only for the message above; the lock is what counts.
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        Ok(DevnetLock { _file: file })
    }
}

/// Every port of a devnet: per zone and validator the node's five
/// (p2p, rpc, abci, gossip, metrics), and the relayer's metrics port.
pub fn ports(validators: u16, fz_port: u16, bz_port: u16) -> Vec<(u16, String, &'static str)> {
    let mut all = Vec::new();
    for (zone, first, flag) in [("FZ", fz_port, "--fz-port"), ("BZ", bz_port, "--bz-port")] {
        let base = first.saturating_sub(1);
        for i in 0..validators {
            let p = Ports::testnet(base, i);
            for (port, what) in
                [(p.p2p, "p2p"), (p.rpc, "RPC"), (p.abci, "ABCI"), (p.gossip, "gossip"), (p.metrics, "metrics")]
            {
                all.push((port, format!("{zone} node{i} {what}"), flag));
            }
        }
    }
    all.push((fz_port + 5, "the relayer's metrics".into(), "--fz-port"));
    all
}

/// Fails with one line naming the first port in use and the flag that moves it.
pub fn check_ports_free(validators: u16, fz_port: u16, bz_port: u16) -> Result<()> {
    let last = fz_port.max(bz_port).checked_add(10 * validators);
    if fz_port < 2 || bz_port < 2 || last.is_none() {
        bail!("--fz-port and --bz-port must leave room for {validators} validator(s) (2 ..= 65535 - 10 per validator)");
    }
    let all = ports(validators, fz_port, bz_port);
    for (i, (a, _, _)) in all.iter().enumerate() {
        if let Some((_, other, _)) = all[i + 1..].iter().find(|(b, _, _)| b == a) {
            bail!("the FZ and BZ port ranges overlap at port {a} ({other}): keep --fz-port and --bz-port at least {} apart", 10 * validators);
        }
    }
    for (port, what, flag) in all {
        if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
            bail!(
                "port {port} ({what}) is in use ({e}): is another devnet or node running? \
                 Stop it, or move this devnet with {flag} (and --data-dir for a second devnet)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_devnet_of_two_validators_listens_on_eleven_ports_per_zone_pair_and_no_port_twice() {
        let all = ports(2, 26657, 27657);
        assert_eq!(all.len(), 2 * 2 * 5 + 1);
        let mut seen: Vec<u16> = all.iter().map(|p| p.0).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), all.len());
        assert!(all.iter().any(|(p, w, f)| *p == 26657 && w == "FZ node0 RPC" && *f == "--fz-port"));
        assert!(all.iter().any(|(p, w, f)| *p == 27667 && w == "BZ node1 RPC" && *f == "--bz-port"));
    }

    #[test]
    fn a_port_in_use_is_named_with_the_flag_that_moves_it() {
        let held = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = held.local_addr().expect("addr").port();
        // Put the held port at the BZ's node0 RPC.
        let err = check_ports_free(1, 20_001, port).expect_err("busy").to_string();
        assert!(err.contains(&format!("port {port} (BZ node0 RPC) is in use")), "{err}");
        assert!(err.contains("--bz-port"), "{err}");
    }

    #[test]
    fn overlapping_zone_ranges_are_refused() {
        let err = check_ports_free(2, 26657, 26667).expect_err("overlap").to_string();
        assert!(err.contains("overlap"), "{err}");
    }

    #[test]
    fn a_second_devnet_on_the_same_data_directory_is_told_which_one_runs() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = DevnetLock::take(dir.path()).expect("first");
        let err = DevnetLock::take(dir.path()).err().expect("second refused").to_string();
        assert!(err.contains("already running"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(first);
        DevnetLock::take(dir.path()).expect("free again once the first is gone");
    }
}
