//! The RPC server's own threads for backend calls.
//!
//! Backend calls block (RocksDB reads, the application's Query). Running
//! them on tokio's shared blocking pool would let a burst of RPC requests
//! occupy the threads block execution also needs, so the server keeps a
//! fixed set of named threads (`kawase-rpc-N`) and a semaphore with one
//! permit per thread. A call first waits for a permit, asynchronously and
//! so cancellable by its request's timeout; only then is it queued, so a
//! queued call always has a thread free and no call runs after its caller
//! gave up.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{oneshot, Semaphore};

use crate::error::RpcError;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of threads running at most `size` calls at once. The
/// threads end when the pool is dropped (after finishing their call).
#[derive(Debug)]
pub(crate) struct Pool {
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
}

impl Pool {
    /// Start `size` threads (at least one, so calls cannot wait forever).
    pub fn new(size: usize) -> std::io::Result<Pool> {
        let size = size.max(1);
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..size {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new().name(format!("kawase-rpc-{i}")).spawn(move || worker(&rx))?;
        }
        Ok(Pool { permits: Arc::new(Semaphore::new(size)), jobs })
    }

    /// Run `f` on a pool thread once one is free. Dropping the returned
    /// future while it waits means `f` never runs. A panic in `f` becomes an
    /// internal error (and is logged); the thread survives it.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, RpcError> {
        let stopped = || RpcError::internal("the RPC server is shutting down");
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(|_| stopped())?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have timed out between queuing and now.
            if tx.is_closed() {
                return;
            }
            let out = catch_unwind(AssertUnwindSafe(f));
            // Free the thread's permit before answering, so the next call
            // can start as soon as this one is seen to end.
            drop(permit);
            let _ = tx.send(out);
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %what, "RPC backend call panicked");
                Err(RpcError::internal("the node failed while answering"))
            }
            Err(_) => Err(stopped()),
        }
    }
}

/// Take jobs until the pool (the only sender) is dropped.
fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // Jobs never run under the lock (and catch their panics), so a
        // poisoned lock still guards a healthy receiver.
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn calls_run_on_named_threads_and_panics_become_errors() {
        let pool = Pool::new(1).unwrap();
        let name = pool.run(|| std::thread::current().name().map(str::to_string)).await.unwrap();
        assert_eq!(name.as_deref(), Some("kawase-rpc-0"));
        let err = pool.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert_eq!(err.code(), -32603);
        // The thread survived the panic.
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }
}
