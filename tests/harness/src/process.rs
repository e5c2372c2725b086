//! The one launcher of the harness: a `kawased` node, a `kawase-relayer`,
//! or any other long-running child (a devnet, a bare ABCI server), started
//! from a [`Launch`] and held as a [`Process`]. It waits for the child's
//! readiness line, appends its stderr and stdout to a log, stops it
//! (a signal, then SIGKILL), kills it, pauses it, starts it again, and on
//! drop kills it, however the test ends (a panicking test also prints the
//! last lines of every log).
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::node::{kawased, relayer_bin};
use crate::rpc::Rpc;

/// How long a starting node or relayer may take to print `ready`.
pub const START_LIMIT: Duration = Duration::from_secs(120);
/// How long a stopped process may take to exit before it is SIGKILLed.
pub const STOP_LIMIT: Duration = Duration::from_secs(30);
/// How many log lines failure messages show.
const TAIL: usize = 15;

/// What tells that a child is ready: a stdout line, exactly or by prefix.
#[derive(Clone, Debug)]
enum ReadyOn {
    Line(String),
    Prefix(String),
}

impl ReadyOn {
    fn matches(&self, line: &str) -> bool {
        match self {
            ReadyOn::Line(l) => line == l,
            ReadyOn::Prefix(p) => line.starts_with(p.as_str()),
        }
    }
}

/// How to start a child: program, arguments, environment, log, readiness
/// and how to stop it. Built with [`Launch::node`], [`Launch::relayer`] or
/// [`Launch::new`] and the setters below.
#[derive(Clone, Debug)]
pub struct Launch {
    name: String,
    home: PathBuf,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    log: PathBuf,
    ready: ReadyOn,
    ready_within: Duration,
    stop_signal: Signal,
    stop_within: Duration,
    supervised: bool,
    /// An address it must have announced by the time it is ready.
    announces: Option<String>,
}

impl Launch {
    /// `program` working on `home` (named by it in messages), logging to
    /// `log`, ready when it prints `ready`, stopped with SIGTERM.
    pub fn new(program: impl Into<PathBuf>, home: &Path, log: impl Into<PathBuf>) -> Launch {
        Launch {
            name: home.display().to_string(),
            home: home.to_path_buf(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            log: log.into(),
            ready: ReadyOn::Line("ready".into()),
            ready_within: START_LIMIT,
            stop_signal: Signal::SIGTERM,
            stop_within: STOP_LIMIT,
            supervised: false,
            announces: None,
        }
    }

    /// `kawased start --home HOME` with `RUST_LOG=info`, logging to
    /// `HOME/node.log`, supervised, announcing its RPC address.
    pub fn node(home: &Path) -> Launch {
        Launch::new(kawased(), home, home.join("node.log"))
            .arg("start")
            .arg("--home")
            .arg(home)
            .rust_log("info")
            .supervised(true)
            .announces("rpc")
    }

    /// `kawase-relayer --config CONFIG start` with `RUST_LOG` from
    /// `RELAYER_LOG` (default `info`), logging to `relayer.log` beside the
    /// config, supervised.
    pub fn relayer(config: &Path) -> Launch {
        let dir = config.parent().unwrap_or(Path::new("."));
        Launch::new(relayer_bin(), dir, config.with_file_name("relayer.log"))
            .name("relayer")
            .arg("--config")
            .arg(config)
            .arg("start")
            .rust_log(&std::env::var("RELAYER_LOG").unwrap_or_else(|_| "info".into()))
            .supervised(true)
    }

    /// The name failure messages give the process.
    pub fn name(mut self, name: &str) -> Launch {
        self.name = name.into();
        self
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Launch {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Launch {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable (e.g. the test-only crash hook
    /// `KAWASE_CRASH_AT`); a later value for the same name wins.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Launch {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    pub fn rust_log(self, filter: &str) -> Launch {
        self.env("RUST_LOG", filter)
    }

    /// Ready when stdout shows exactly `line`.
    pub fn ready_line(mut self, line: &str) -> Launch {
        self.ready = ReadyOn::Line(line.into());
        self
    }

    /// Ready at the first stdout line starting with `prefix` (e.g. `kawased
    /// abci`'s `abci listening on tcp://`).
    pub fn ready_prefix(mut self, prefix: &str) -> Launch {
        self.ready = ReadyOn::Prefix(prefix.into());
        self
    }

    /// Not ready unless a `WHAT listening on ...` line for `what` came first.
    pub fn announces(mut self, what: &str) -> Launch {
        self.announces = Some(what.into());
        self
    }

    pub fn ready_within(mut self, limit: Duration) -> Launch {
        self.ready_within = limit;
        self
    }

    /// [`Process::stop`] sends `signal` and waits `within` before SIGKILL.
    pub fn stop_with(mut self, signal: Signal, within: Duration) -> Launch {
        self.stop_signal = signal;
        self.stop_within = within;
        self
    }

    /// Supervised, the child gets a pipe as stdin that only this process
    /// holds, and `KAWASE_STOP_ON_STDIN_EOF`: if the test process dies
    /// without stopping it (a SIGKILL), the child stops by itself (as under
    /// `kawased devnet`). Unsupervised, its stdin is null.
    pub fn supervised(mut self, on: bool) -> Launch {
        self.supervised = on;
        self
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// A process for this launch, not started yet.
    pub fn stopped(self) -> Process {
        Process {
            launch: self,
            child: None,
            stdin: None,
            addrs: Vec::new(),
            banner: Vec::new(),
            paused: false,
            started: false,
        }
    }

    /// Starts it and waits for readiness; panics with the log's tail if it
    /// exits or hangs instead.
    pub fn start(self) -> Process {
        let mut p = self.stopped();
        p.start();
        p
    }

    pub fn try_start(self) -> Result<Process, String> {
        let mut p = self.stopped();
        p.try_start()?;
        Ok(p)
    }
}

/// How [`Process::stop`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    NotRunning,
    /// Exited within the stop limit, with this status.
    Exited(ExitStatus),
    /// Still running at the limit: SIGKILLed.
    Killed,
}

/// A started (or stoppable, restartable) child; killed when dropped.
pub struct Process {
    launch: Launch,
    child: Option<Child>,
    /// The supervision pipe's write end (see [`Launch::supervised`]).
    stdin: Option<ChildStdin>,
    /// `(what, host:port)` of each `WHAT listening on tcp://ADDR` line.
    addrs: Vec<(String, String)>,
    banner: Vec<String>,
    paused: bool,
    /// Whether this handle ever started it (its log is then worth showing).
    started: bool,
}

impl Process {
    pub fn launch(&self) -> &Launch {
        &self.launch
    }

    pub fn name(&self) -> &str {
        &self.launch.name
    }

    /// The node's home, the relayer's directory, the devnet's data dir.
    pub fn home(&self) -> &Path {
        &self.launch.home
    }

    pub fn log(&self) -> &Path {
        &self.launch.log
    }

    /// The last `n` lines of its log.
    pub fn tail(&self, n: usize) -> String {
        tail(&self.launch.log, n)
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The address (`host:port`) of the last `WHAT listening on ...` line
    /// for `what` (`rpc`, `abci`, `gossip`, `metrics`).
    pub fn addr(&self, what: &str) -> Option<&str> {
        self.addrs.iter().rev().find(|(w, _)| w == what).map(|(_, a)| a.as_str())
    }

    /// The RPC URL the node announced (`http://ADDR`).
    pub fn rpc(&self) -> String {
        let a = self.addr("rpc").unwrap_or_else(|| panic!("{} announced no RPC address", self.name()));
        format!("http://{a}")
    }

    /// A JSON-RPC client of the node.
    pub fn client(&self) -> Rpc {
        Rpc::new(&self.rpc())
    }

    /// Its stdout up to and including the readiness line.
    pub fn banner(&self) -> &[String] {
        &self.banner
    }

    /// Starts it; panics with the log's tail if it exits or hangs instead.
    pub fn start(&mut self) {
        if let Err(e) = self.try_start() {
            panic!("{e}");
        }
    }

    /// Starts the child with stdout piped and stderr appended to the log
    /// (so it survives restarts), waiting (bounded) for readiness. Stdout
    /// is read to its end on a thread and copied into the log as
    /// `[stdout] ...` lines, so the child never blocks on a full pipe. If
    /// the child exits or is too slow it is killed, and the error holds the
    /// log's last lines. An address the launch [`Launch::announces`] must come first.
    pub fn try_start(&mut self) -> Result<(), String> {
        // One that died by itself may start again.
        self.try_wait();
        assert!(self.child.is_none(), "{} already running", self.name());
        let l = &self.launch;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&l.log).expect("log file");
        let mut cmd = Command::new(&l.program);
        cmd.args(&l.args).envs(l.env.iter().map(|(k, v)| (k, v))).stdout(Stdio::piped()).stderr(Stdio::from(file));
        if l.supervised {
            cmd.env(kawase_client::STOP_ON_STDIN_EOF, "1").stdin(Stdio::piped());
        } else {
            cmd.env_remove(kawase_client::STOP_ON_STDIN_EOF).stdin(Stdio::null());
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", l.program.display()));
        self.started = true;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let (copy, ready) = (l.log.clone(), l.ready.clone());
        std::thread::spawn(move || {
            let mut seen = Some((Vec::new(), Vec::new()));
            let mut sink = std::fs::OpenOptions::new().create(true).append(true).open(copy).ok();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((addrs, banner)) = seen.as_mut() {
                    if let Some(a) = listening(&line) {
                        addrs.push(a);
                    }
                    banner.push(line.clone());
                    if ready.matches(&line) {
                        let _ = tx.send(seen.take());
                    }
                }
                if let Some(f) = sink.as_mut() {
                    let _ = writeln!(f, "[stdout] {line}");
                }
            }
            if seen.is_some() {
                let _ = tx.send(None);
            }
        });
        let why = match rx.recv_timeout(l.ready_within) {
            Ok(Some((addrs, banner))) => match &l.announces {
                Some(a) if !addrs.iter().any(|(w, _)| w == a) => format!("announced no {a} address"),
                _ => {
                    self.child = Some(child);
                    self.stdin = stdin;
                    self.addrs = addrs;
                    self.banner = banner;
                    self.paused = false;
                    return Ok(());
                }
            },
            Ok(None) => "exited before ready".into(),
            Err(_) => "did not become ready in time".into(),
        };
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("{} did not start: {why}:\n{}", self.name(), self.tail(TAIL)))
    }

    /// SIGKILL: nothing gets to finish. The log is kept.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stdin = None;
        self.paused = false;
    }

    /// The launch's stop signal (SIGTERM unless set), resuming it first if
    /// paused; SIGKILL if it has not exited within the launch's limit.
    pub fn stop(&mut self) -> Stopped {
        self.resume();
        let Some(mut c) = self.child.take() else { return Stopped::NotRunning };
        let _ = kill(Pid::from_raw(c.id() as i32), self.launch.stop_signal);
        let deadline = Instant::now() + self.launch.stop_within;
        let stopped = loop {
            if let Ok(Some(status)) = c.try_wait() {
                break Stopped::Exited(status);
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                break Stopped::Killed;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        self.stdin = None;
        stopped
    }

    /// [`Process::stop`], then start again (panics if it does not start).
    pub fn restart(&mut self) -> Stopped {
        let s = self.stop();
        self.start();
        s
    }

    /// SIGSTOP: it holds its sockets but answers nothing.
    pub fn pause(&mut self) {
        if let Some(c) = &self.child {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGSTOP);
            self.paused = true;
        }
    }

    pub fn resume(&mut self) {
        if let (Some(c), true) = (&self.child, self.paused) {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGCONT);
        }
        self.paused = false;
    }

    /// Its exit status if it has exited (it is then reaped and no longer
    /// running); `None` while it runs or if it was never started.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        self.stdin = None;
        self.paused = false;
        Some(status)
    }

    /// Whether it died by itself (a crash, not a perturbation): then why,
    /// with the log's tail.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.try_wait()?;
        Some(format!("{} exited by itself ({status}):\n{}", self.name(), self.tail(TAIL)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows why each process stopped or fell behind.
        if std::thread::panicking() && self.started {
            eprintln!("--- {} (last lines of {})\n{}", self.name(), self.log().display(), self.tail(TAIL));
        }
    }
}

/// `(what, host:port)` of a `WHAT listening on tcp://ADDR` (or
/// `http://ADDR/...`, `https://ADDR/...`) line.
fn listening(line: &str) -> Option<(String, String)> {
    let (what, at) = line.split_once(" listening on ")?;
    let at = ["tcp://", "http://", "https://"].iter().find_map(|p| at.strip_prefix(p))?;
    let at = at.split(['/', ' ']).next()?;
    Some((what.to_owned(), at.to_owned()))
}

/// The last `n` lines of a log.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
