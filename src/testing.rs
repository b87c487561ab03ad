//! Helpers shared by the unit tests.

/// `f` on a pool of `threads` threads.
pub fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

/// `n` values spread over `±scale/2` without a pattern that lines up with channels or tiles
/// (a different spread for each `seed`).
pub fn values(n: usize, seed: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (((i + seed) * 7919 % 1009) as f32 / 1009.0 - 0.5) * scale)
        .collect()
}
