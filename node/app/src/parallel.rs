//! Work spread over the machine's cores with scoped threads: the stateless
//! half of a block (decode, signatures) before its sequential execution.
//! Results come back in input order, so what runs in parallel never
//! changes what the sequential pass sees.
use std::sync::OnceLock;

/// Threads to use: the machine's cores, at most 8. Read once: on Linux
/// `available_parallelism` reads cgroup files on every call, which showed
/// in CheckTx's profile.
pub fn workers() -> usize {
    static WORKERS: OnceLock<usize> = OnceLock::new();
    *WORKERS.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8))
}

/// Runs `f` on chunks of at most `chunk` items, spread over [`workers`]
/// threads, and concatenates the results in order. `f` must return one
/// result per item.
pub fn par_chunks<T: Sync, R: Send>(items: &[T], chunk: usize, f: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let chunk = chunk.max(1);
    let threads = workers().min(items.len().div_ceil(chunk));
    if threads <= 1 {
        return items.chunks(chunk).flat_map(&f).collect();
    }
    // Thread `t` takes chunks t, t + threads, ...: balanced when chunks cost
    // the same, and each result lands back at its chunk's place.
    let chunks: Vec<&[T]> = items.chunks(chunk).collect();
    let f = &f;
    let chunks = &chunks;
    let mut done: Vec<Option<Vec<R>>> = std::iter::repeat_with(|| None).take(chunks.len()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || (t..chunks.len()).step_by(threads).map(|i| (i, f(chunks[i]))).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("workers only run pure checks, which do not panic") {
                done[i] = Some(r);
            }
        }
    });
    done.into_iter().flat_map(|r| r.expect("every chunk was given to a thread")).collect()
}

/// `f` on every item, in parallel above `min_parallel` items.
pub fn par_map<T: Sync, R: Send>(items: &[T], min_parallel: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < min_parallel {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(workers()).max(1);
    par_chunks(items, chunk, |c| c.iter().map(&f).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parallel_results_come_back_in_input_order() {
        let items: Vec<u32> = (0..10_001).collect();
        let doubled = super::par_chunks(&items, 7, |c| c.iter().map(|x| x * 2).collect());
        assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        let squared = super::par_map(&items, 1, |x| u64::from(*x) * u64::from(*x));
        assert_eq!(squared[10_000], 100_000_000);
        assert_eq!(super::par_map(&items[..3], 64, |x| *x), vec![0, 1, 2]);
        assert!(super::par_chunks(&items[..0], 4, |c| c.to_vec()).is_empty());
    }
}
