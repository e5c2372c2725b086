//! One `kawase-relayer` configuration: its long-running `start` process
//! (the harness launcher, [`Launch::relayer`]) and its one-shot commands.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kawase_client::Key;
use serde_json::Value;

use crate::node::relayer_bin;
use crate::process::{tail, Launch, Process};

/// A relayer key file, as `kawase-relayer` reads it.
pub fn key_file(path: &Path, key: &Key) {
    let v = serde_json::json!({
        "name": "relayer", "kind": "ed25519",
        "address": key.address().to_string(), "secret_hex": hex::encode(key.secret_bytes()),
    });
    std::fs::write(path, serde_json::to_string_pretty(&v).expect("json")).expect("key file");
}

/// A relayer config file and the `start` process on it (logging to
/// `relayer.log` beside the config).
pub struct Relayer {
    pub config: PathBuf,
    pub proc: Process,
}

impl Relayer {
    pub fn new(config: &Path) -> Relayer {
        Relayer::with(config, Launch::relayer(config))
    }

    /// A relayer on `config` whose `start` is `launch` (a variant of
    /// [`Launch::relayer`]).
    pub fn with(config: &Path, launch: Launch) -> Relayer {
        Relayer { config: config.to_path_buf(), proc: launch.stopped() }
    }

    /// The directory of its config, key files, path file and logs.
    pub fn dir(&self) -> &Path {
        self.proc.home()
    }

    /// `kawase-relayer --config CONFIG`, for a one-shot command.
    pub fn command(&self) -> Command {
        let mut c = Command::new(relayer_bin());
        c.arg("--config").arg(&self.config);
        c
    }

    pub fn run(&self, cmd: &str) -> String {
        self.run_args(&[cmd])
    }

    /// Runs a relayer command to completion, asserting success; its stdout.
    pub fn run_args(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("relayer");
        assert!(out.status.success(), "kawase-relayer {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a relayer command with extra environment; its output, whatever
    /// the exit status.
    pub fn output(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command().args(args).envs(env.iter().copied()).output().expect("relayer")
    }

    /// Runs a relayer command to completion (bounded), its stderr appended
    /// to `cli.log`; its stdout, or why not.
    pub fn run_bounded(&self, args: &[&str], limit: Duration) -> Result<String, String> {
        let log = self.dir().join("cli.log");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log");
        let mut child =
            self.command().args(args).stdout(Stdio::piped()).stderr(Stdio::from(file)).spawn().expect("spawn relayer");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut out = String::new();
                let _ = std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut out);
                return if status.success() {
                    Ok(out)
                } else {
                    Err(format!("kawase-relayer {args:?}: {status}\n{}", tail(&log, 15)))
                };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("kawase-relayer {args:?} did not finish in {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a relayer command (stderr to `cli.log`) and SIGKILLs it after
    /// `after`; whether it had already finished by then.
    pub fn run_and_kill(&self, args: &[&str], after: Duration) -> bool {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(self.dir().join("cli.log")).expect("log");
        let mut child =
            self.command().args(args).stdout(Stdio::null()).stderr(Stdio::from(file)).spawn().expect("spawn relayer");
        std::thread::sleep(after);
        let finished = matches!(child.try_wait(), Ok(Some(_)));
        let _ = child.kill();
        let _ = child.wait();
        finished
    }

    /// The path file `create-path` wrote.
    pub fn path_file(&self) -> Value {
        let text = std::fs::read_to_string(self.config.with_file_name("path.json")).expect("path.json");
        serde_json::from_str(&text).expect("path json")
    }

    /// `kawase-relayer start`, waiting for `ready`; panics if it does not.
    pub fn start(&mut self) {
        self.proc.start();
    }

    pub fn try_start(&mut self) -> Result<(), String> {
        self.proc.try_start()
    }

    pub fn running(&self) -> bool {
        self.proc.running()
    }

    /// SIGKILL: no chance to finish anything in flight.
    pub fn kill(&mut self) {
        self.proc.kill();
    }
}
