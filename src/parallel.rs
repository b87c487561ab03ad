//! Building a model's kernels on threads of their own.
//!
//! A codec packs its kernels once, on first use, inside a `OnceLock` that other inputs' tasks
//! may wait on. Split with the rayon pool's `join` or parallel iterators, a pool worker waiting
//! for its share can take another task that waits on the same lock, and never return to it.
//! Scoped threads run nothing but the work they are given. Besides the thread that asks, at
//! most one fewer than the pool's thread count run at once, over the whole process (so
//! `--threads 1` builds on the calling thread alone); where none is free, or a thread cannot be
//! started, the caller does the work itself.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

/// Threads started here and still running.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// On a thread started here: the pool size of the thread that started it, which bounds
    /// the threads it may start in turn.
    static POOL: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The thread count that bounds this thread's claims.
fn pool_size() -> usize {
    POOL.get().unwrap_or_else(rayon::current_num_threads)
}

/// A claim on one thread, given back when dropped.
struct Claim;

impl Claim {
    fn take() -> Option<Self> {
        let limit = pool_size().saturating_sub(1);
        (RUNNING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < limit).then_some(n + 1)
        }))
        .ok()
        .map(|_| Claim)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `f` with this thread's claims bounded by `pool`.
fn within<R>(pool: usize, f: impl FnOnce() -> R) -> R {
    POOL.set(Some(pool));
    f()
}

/// `(a(), b())`, `b` on a thread of its own where one is free.
pub(crate) fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let Some(claim) = Claim::take() else {
        return (a(), b());
    };
    // Taken by the thread, or by the caller if the thread could not start.
    let b = Mutex::new(Some(b));
    let take_b = || b.lock().unwrap_or_else(|e| e.into_inner()).take();
    let pool = pool_size();
    thread::scope(|s| {
        let run = || {
            let _claim = claim;
            within(pool, || take_b().map(|b| b()))
        };
        let handle = thread::Builder::new().spawn_scoped(s, run);
        let a = a();
        let b = match handle {
            Ok(h) => h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        (a, b.unwrap_or_else(|| take_b().expect("`b` runs once")()))
    })
}

/// `items` mapped by `f`, in order; items are handed out one at a time to the calling thread
/// and to as many free threads as there are items after the first.
pub(crate) fn map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let claims: Vec<Claim> = (1..items.len()).map_while(|_| Claim::take()).collect();
    if claims.is_empty() {
        return items.into_iter().map(f).collect();
    }
    let len = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let results: Vec<Mutex<Option<R>>> = (0..len).map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
        let Some((i, item)) = next else { break };
        let r = f(item);
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    };
    let pool = pool_size();
    thread::scope(|s| {
        let handles: Vec<_> = (claims.into_iter())
            .filter_map(|claim| {
                let work = &work;
                let run = move || {
                    let _claim = claim;
                    within(pool, work)
                };
                thread::Builder::new().spawn_scoped(s, run).ok()
            })
            .collect();
        work();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    (results.into_iter())
        .map(|r| {
            let r = r.into_inner().unwrap_or_else(|e| e.into_inner());
            r.expect("every item mapped")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_threads;

    /// Results come back in order whatever the thread count, and no more of this test's
    /// tasks run at once than the pool has threads, nested calls included.
    #[test]
    fn maps_in_order_within_the_pool_size() {
        for threads in [1, 2, 16] {
            let (active, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let task = |v: usize| {
                let now = active.fetch_add(1, Ordering::AcqRel) + 1;
                peak.fetch_max(now, Ordering::AcqRel);
                thread::sleep(std::time::Duration::from_millis(1));
                active.fetch_sub(1, Ordering::AcqRel);
                v
            };
            let out = on_threads(threads, || {
                map((0..40).collect(), |i: usize| {
                    let inner = map((0..5).collect(), |j: usize| task(i * 10 + j));
                    let (x, y) = join(|| task(inner[0]), || task(inner[4]));
                    x + y
                })
            });
            let want: Vec<usize> = (0..40).map(|i| 20 * i + 4).collect();
            assert_eq!(out, want, "{threads} threads");
            let peak = peak.into_inner();
            assert!(peak <= threads, "{peak} tasks at once on {threads} threads");
        }
    }

    /// A panic in a task reaches the caller.
    #[test]
    fn panics_reach_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            on_threads(4, || {
                map(vec![1, 2, 3, 4], |i: i32| assert!(i != 3, "item {i}"))
            })
        });
        assert!(caught.is_err());
    }
}
