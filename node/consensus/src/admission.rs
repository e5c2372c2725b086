//! Admission by combining. Transactions submitted one per request (JSON-RPC
//! `broadcast_tx_*`, one thread each) would each be decoded and verified
//! alone; instead every caller queues its transaction, and whichever caller
//! finds no batch running admits everything queued as one batch (up to
//! [`MAX_BATCH`]) and hands each caller its own result. Under load the
//! signatures are verified in batches; a lone transaction is admitted at
//! once, with no timer and no added wait. Results are exactly those of
//! admitting the same transactions in queue order, one by one.
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

/// The most transactions one combined batch admits: one ed25519 batch
/// (`kawase_app::sigverify::BATCH`) per core of a small machine.
pub const MAX_BATCH: usize = 512;

/// The queue of transactions waiting to be admitted and the results of those
/// admitted, by ticket.
pub struct Combiner<R> {
    state: Mutex<State<R>>,
    finished: Condvar,
}

struct State<R> {
    queue: Vec<(u64, Vec<u8>)>,
    results: HashMap<u64, Outcome<R>>,
    running: bool,
    next_ticket: u64,
}

enum Outcome<R> {
    Done(R),
    /// The batch's admission panicked; the panic went on in the caller
    /// that ran it, the others get `abandoned`.
    Abandoned,
}

impl<R> Default for Combiner<R> {
    fn default() -> Self {
        Combiner {
            state: Mutex::new(State { queue: Vec::new(), results: HashMap::new(), running: false, next_ticket: 0 }),
            finished: Condvar::new(),
        }
    }
}

impl<R> Combiner<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits `tx` by `admit_all` (one result per transaction, in order),
    /// possibly together with other callers' transactions, and returns its
    /// result; `abandoned` is the answer when another caller's batch that
    /// held `tx` panicked.
    pub fn submit(&self, tx: Vec<u8>, admit_all: &dyn Fn(Vec<Vec<u8>>) -> Vec<R>, abandoned: impl Fn() -> R) -> R {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push((ticket, tx));
        loop {
            if let Some(outcome) = state.results.remove(&ticket) {
                return match outcome {
                    Outcome::Done(r) => r,
                    Outcome::Abandoned => abandoned(),
                };
            }
            if state.running {
                state = self.finished.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Run the next batch: the oldest queued transactions, whoever
            // queued them (ours is among them or in a later batch).
            state.running = true;
            let take = state.queue.len().min(MAX_BATCH);
            let (tickets, txs): (Vec<u64>, Vec<Vec<u8>>) = state.queue.drain(..take).unzip();
            drop(state);
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| admit_all(txs)));
            state = self.lock();
            state.running = false;
            let panicked = match ran {
                Ok(results) => {
                    debug_assert_eq!(results.len(), tickets.len(), "one result per transaction");
                    let mut results = results.into_iter();
                    for t in &tickets {
                        let outcome = results.next().map_or(Outcome::Abandoned, Outcome::Done);
                        state.results.insert(*t, outcome);
                    }
                    None
                }
                Err(panic) => {
                    for t in &tickets {
                        state.results.insert(*t, Outcome::Abandoned);
                    }
                    Some(panic)
                }
            };
            self.finished.notify_all();
            if let Some(panic) = panicked {
                state.results.remove(&ticket);
                drop(state);
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn reversed(txs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        txs.into_iter()
            .map(|mut tx| {
                tx.reverse();
                tx
            })
            .collect()
    }

    #[test]
    fn every_caller_gets_its_own_result_under_concurrency() {
        let combiner = Arc::new(Combiner::<Vec<u8>>::default());
        let threads: Vec<_> = (0..16u8)
            .map(|t| {
                let combiner = combiner.clone();
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        let got = combiner.submit(vec![t, i], &reversed, Vec::new);
                        assert_eq!(got, vec![i, t], "thread {t} tx {i} got another's result");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no caller panics");
        }
        let state = combiner.lock();
        assert!(state.results.is_empty() && state.queue.is_empty() && !state.running);
    }

    #[test]
    fn transactions_queued_while_a_batch_runs_are_admitted_together_in_the_next() {
        let combiner = Arc::new(Combiner::<Vec<u8>>::default());
        let sizes = Arc::new(Mutex::new(Vec::new()));
        // The first batch waits until three more callers have queued.
        let first = {
            let (combiner, sizes) = (combiner.clone(), sizes.clone());
            std::thread::spawn(move || {
                let c = combiner.clone();
                let wait_for_three = move |txs: Vec<Vec<u8>>| {
                    while c.lock().queue.len() < 3 {
                        std::thread::yield_now();
                    }
                    sizes.lock().expect("sizes").push(txs.len());
                    reversed(txs)
                };
                combiner.submit(vec![0, 1], &wait_for_three, Vec::new)
            })
        };
        while !combiner.lock().running {
            std::thread::yield_now();
        }
        let others: Vec<_> = (1..=3u8)
            .map(|t| {
                let (combiner, sizes) = (combiner.clone(), sizes.clone());
                std::thread::spawn(move || {
                    let record = move |txs: Vec<Vec<u8>>| {
                        sizes.lock().expect("sizes").push(txs.len());
                        reversed(txs)
                    };
                    combiner.submit(vec![t, 9], &record, Vec::new)
                })
            })
            .collect();
        assert_eq!(first.join().expect("first"), vec![1, 0]);
        for (t, h) in (1..=3u8).zip(others) {
            assert_eq!(h.join().expect("other"), vec![9, t]);
        }
        assert_eq!(*sizes.lock().expect("sizes"), vec![1, 3]);
    }

    #[test]
    fn a_lone_transaction_is_admitted_alone_at_once() {
        let combiner = Combiner::<usize>::default();
        assert_eq!(combiner.submit(vec![1, 2, 3], &|txs| txs.iter().map(Vec::len).collect(), || 0), 3);
    }

    #[test]
    fn a_panicking_batch_panics_its_runner_and_leaves_the_combiner_usable() {
        let combiner = Combiner::<u8>::default();
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            combiner.submit(vec![1], &|_| panic!("admission failed"), || 0)
        }));
        assert!(ran.is_err());
        assert_eq!(combiner.submit(vec![7], &|txs| txs.iter().map(|t| t[0]).collect(), || 0), 7);
    }
}
