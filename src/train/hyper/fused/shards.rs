//! A batch split into a fixed number of shards that run side by side, each on its own thread
//! pool: the kernels of one small crop batch leave cores waiting on each other (short parallel
//! loops, one product after another), two half batches on separate cores do not.
//!
//! The shard count depends only on the batch, never on the machine, and the kernels give the
//! same bits on any number of threads, so a step's result is the same everywhere.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Shards per batch (fewer when the batch is smaller).
pub const SHARDS: usize = 2;

/// The shards of a batch of `batch` images: contiguous, sizes differing by at most one.
pub fn split(batch: usize) -> Vec<Range<usize>> {
    let n = batch.clamp(1, SHARDS);
    (0..n)
        .map(|i| (i * batch / n)..((i + 1) * batch / n))
        .collect()
}

/// Pools kept between steps, with the thread count they were made for.
static POOLS: Mutex<Option<(usize, Arc<Vec<ThreadPool>>)>> = Mutex::new(None);

/// One pool per shard, sharing the caller's threads between them (at least one each).
fn pools(shards: usize) -> Arc<Vec<ThreadPool>> {
    let threads = rayon::current_num_threads();
    let mut cached = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((t, pools)) = cached.as_ref() {
        if *t == threads && pools.len() >= shards {
            return pools.clone();
        }
    }
    let each = (threads / shards).max(1);
    let pools: Arc<Vec<ThreadPool>> = Arc::new(
        (0..shards)
            .map(|_| {
                ThreadPoolBuilder::new()
                    .num_threads(each)
                    .build()
                    .expect("a thread pool")
            })
            .collect(),
    );
    *cached = Some((threads, pools.clone()));
    pools
}

/// `f` of every shard, run side by side, results in shard order (one after another when the
/// caller has fewer threads than shards: a thread limit holds).
pub fn run<T: Send>(shards: &[Range<usize>], f: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    if shards.len() == 1 || rayon::current_num_threads() < shards.len() {
        return shards.iter().map(|r| f(r.clone())).collect();
    }
    let pools = pools(shards.len());
    let f = &f;
    std::thread::scope(|scope| {
        let others: Vec<_> = (shards.iter().zip(pools.iter()))
            .skip(1)
            .map(|(r, pool)| scope.spawn(move || pool.install(|| f(r.clone()))))
            .collect();
        let first = pools[0].install(|| f(shards[0].clone()));
        let mut out = vec![first];
        for handle in others {
            out.push(
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch() {
        assert_eq!(split(8), vec![0..4, 4..8]);
        assert_eq!(split(5), vec![0..2, 2..5]);
        assert_eq!(split(1), vec![0..1]);
        let got = run(&split(8), |r| r.len());
        assert_eq!(got, vec![4, 4]);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let threads = one.install(|| run(&split(8), |_| rayon::current_num_threads()));
        assert_eq!(threads, vec![1, 1], "one thread runs the shards in turn");
    }
}
