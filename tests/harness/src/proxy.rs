//! A TCP proxy the fault tests control, placed between two processes on
//! loopback (a validator and its peer, or the relayer and a node's RPC):
//! it forwards bytes, or stalls them (a partition short enough that TCP
//! would ride it out), or cuts every connection and refuses new ones (a
//! partition long enough that connections die). Plain std threads: it is
//! a handful of sockets, and it must keep working while the test's async
//! runtime is busy.
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass = 0,
    /// Keep connections open but move no bytes (they wait in the kernel).
    Stall = 1,
    /// Close every connection and refuse new ones.
    Cut = 2,
}

/// At most this many live connections through one proxy (bounded work).
const MAX_CONNS: usize = 64;
/// How often idle loops look at the mode and the stop flag.
const POLL: Duration = Duration::from_millis(50);

struct Shared {
    mode: AtomicU8,
    stop: AtomicBool,
    next_id: AtomicU64,
    accepted: AtomicU64,
    conns: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
}

impl Shared {
    fn mode(&self) -> Mode {
        match self.mode.load(Ordering::SeqCst) {
            0 => Mode::Pass,
            1 => Mode::Stall,
            _ => Mode::Cut,
        }
    }

    fn close(&self, id: u64) {
        if let Some((a, b)) = self.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    fn close_all(&self) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for (_, (a, b)) in conns.drain() {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }
}

/// One listening port on 127.0.0.1 forwarding to `target`; stops (and
/// closes its connections) when dropped.
pub struct Proxy {
    pub port: u16,
    pub target: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Binds a fresh loopback port now (so it can be written into a
    /// config before anything starts) and forwards to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        assert!(target.ip().is_loopback(), "the fault tests only ever talk to loopback");
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind proxy port");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(Mode::Pass as u8),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name(format!("proxy-{port}"))
            .spawn(move || accept_loop(listener, target, s))
            .expect("spawn proxy");
        Proxy { port, target, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn set(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
        if mode == Mode::Cut {
            self.shared.close_all();
        }
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Connections accepted and forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, s: Arc<Shared>) {
    while !s.stop.load(Ordering::SeqCst) {
        let inbound = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(_) => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        let full = s.conns.lock().unwrap_or_else(|p| p.into_inner()).len() >= MAX_CONNS;
        if s.mode() == Mode::Cut || full {
            let _ = inbound.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(outbound) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
            let _ = inbound.shutdown(Shutdown::Both);
            continue;
        };
        let _ = inbound.set_nonblocking(false);
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let id = s.next_id.fetch_add(1, Ordering::SeqCst);
        let (Ok(i2), Ok(o2), Ok(i3), Ok(o3)) =
            (inbound.try_clone(), outbound.try_clone(), inbound.try_clone(), outbound.try_clone())
        else {
            continue;
        };
        s.conns.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (i3, o3));
        s.accepted.fetch_add(1, Ordering::SeqCst);
        for (from, to, dir) in [(inbound, o2, "up"), (outbound, i2, "down")] {
            let s = s.clone();
            let _ = std::thread::Builder::new().name(format!("pump-{id}-{dir}")).spawn(move || pump(from, to, id, s));
        }
    }
}

/// Copies `from` to `to` while the mode allows; closes both ends (and so
/// the other direction) when either side ends or the proxy cuts.
fn pump(mut from: TcpStream, mut to: TcpStream, id: u64, s: Arc<Shared>) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if s.stop.load(Ordering::SeqCst) {
            break;
        }
        match s.mode() {
            Mode::Cut => break,
            Mode::Stall => {
                std::thread::sleep(POLL);
                continue;
            }
            Mode::Pass => {}
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
    s.close(id);
}
