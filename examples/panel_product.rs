//! Multiply-adds per second of the panel kernel on one thread, for products shaped as a
//! Winograd layer's: `rows` tiles of `k` input channels against `n` columns, the 36 points'
//! kernels in turn (as a layer runs them: 2.3 MB for 64 → 64 channels, more than the
//! second-level cache) or one kernel throughout (all in cache). The core's peak:
//! `examples/cpu_peak`.
//! `cargo run --release --example panel_product -- ROWS K N` (a decode's inner layers:
//! `16 64 256`; its last: `16 64 12`)
use std::time::Instant;

use aec::model::hyper::cpu::panel::{product_runs, Out, Packed, Runs};

/// Points of a Winograd F(4×4, 3×3) tile.
const POINTS: usize = 36;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("ROWS K N"))
        .collect();
    let [rows, k, n] = args[..] else {
        panic!("usage: panel_product ROWS K N");
    };
    let path = aec::cpu_path::Path::detect();
    let kernel = |p: usize| {
        let b = |r: usize, c: usize| ((r * 7 + c * 3 + p) % 11) as f32 * 0.01;
        Packed::new(k, n, b, &vec![0.1; n])
    };
    let kernels: Vec<Packed> = (0..POINTS).map(kernel).collect();
    let src: Vec<f32> = (0..rows * POINTS * k)
        .map(|i| (i % 13) as f32 * 0.1)
        .collect();
    let mut out = vec![0f32; rows * n];
    // About 2·10⁹ multiply-adds a timing.
    let reps = (2_000_000_000 / (rows * k * n)).max(POINTS);
    // Where each point's rows start, made once (a layer keeps them in its task's buffers).
    let starts: Vec<Vec<usize>> = (0..POINTS)
        .map(|p| (0..rows).map(|t| (t * POINTS + p) * k).collect())
        .collect();
    for (name, distinct) in [("36 kernels", POINTS), ("one kernel", 1)] {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            for r in 0..reps {
                let p = r % POINTS;
                let runs = Runs {
                    src: &src,
                    gathered: &[],
                    lens: &[k],
                    starts: &starts[p],
                };
                let out = Out {
                    values: &mut out,
                    stride: n,
                };
                product_runs(path, &runs, rows, &kernels[p % distinct], out);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        let rate = (rows * k * n * reps) as f64 / best / 1e9;
        println!("{rows}×{k}×{n}, {name}: {rate:.1} G multiply-adds/s");
    }
}
