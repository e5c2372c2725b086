//! `kawased devnet` as the CLI tests meet it: started on free ports until
//! it prints `devnet ready`, its banner and exports, a shell with them,
//! Ctrl-C (SIGINT) to stop it, also when dropped.
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::node::kawased;
use crate::process::{Launch, Process, Stopped};

/// First RPC ports (FZ, BZ) of two free loopback port ranges for
/// `validators` nodes per zone, below the ephemeral range; tests running
/// side by side get different ranges.
pub fn free_ports(validators: u16) -> (u16, u16) {
    let base = crate::node::free_ports(20 * validators + 10);
    (base + 1, base + 1 + 10 * validators)
}

/// `kawased devnet` on `data` with the FZ and BZ first RPC ports `ports`.
pub fn devnet_command(data: &Path, ports: (u16, u16)) -> Command {
    let mut cmd = Command::new(kawased());
    cmd.args(devnet_args(data, ports));
    cmd
}

fn devnet_args(data: &Path, ports: (u16, u16)) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["devnet".into(), "--data-dir".into(), data.into()];
    args.extend(["--fz-port".into(), ports.0.to_string().into(), "--bz-port".into(), ports.1.to_string().into()]);
    args
}

/// A running `kawased devnet`, interrupted (and reaped) when dropped.
pub struct Devnet {
    pub proc: Process,
    pub shell: Shell,
    /// What it printed up to `devnet ready`.
    pub banner: Vec<String>,
}

/// Runs command lines the way the README's reader would: bash, the
/// devnet's exports, and `kawased` on PATH.
pub struct Shell {
    pub env: BTreeMap<String, String>,
}

impl Shell {
    pub fn sh(&self, line: &str) -> Output {
        let bin_dir = kawased().parent().expect("bin dir").to_path_buf();
        let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
        Command::new("bash").arg("-c").arg(line).envs(&self.env).env("PATH", path).output().expect("bash")
    }
}

impl Devnet {
    /// `kawased devnet` (output to `devnet.log` beside `dir`), once it has
    /// printed `devnet ready`; Ctrl-C (SIGINT) stops it.
    pub fn start(dir: &Path, ports: (u16, u16), extra: &[&str]) -> Devnet {
        let launch = Launch::new(kawased(), dir, dir.with_extension("log"))
            .name("devnet")
            .args(devnet_args(dir, ports))
            .args(extra)
            .ready_line("devnet ready")
            .ready_within(Duration::from_secs(600))
            .stop_with(nix::sys::signal::Signal::SIGINT, Duration::from_secs(40));
        let proc = launch.start();
        let banner = proc.banner().to_vec();
        let export = banner.iter().find_map(|l| l.trim().strip_prefix("export ")).expect("export line").to_string();
        let env = export
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("k=v");
                (k.to_string(), v.to_string())
            })
            .collect();
        Devnet { proc, shell: Shell { env }, banner }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid().expect("devnet running")
    }

    /// Ctrl-C, as a user would press it; returns the exit status.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        match self.proc.stop() {
            Stopped::Exited(s) => s,
            other => panic!("devnet did not stop within 40 s of Ctrl-C: {other:?}"),
        }
    }

    pub fn sh(&self, line: &str) -> Output {
        self.shell.sh(line)
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        self.proc.stop();
    }
}
