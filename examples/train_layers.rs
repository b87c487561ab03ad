//! The trainer's layers at the whole-image family's shapes (a shard's batch of four, one
//! thread): a convolution forward, a transposed convolution forward, a transposed
//! convolution's input gradient (a convolution of its output's gradient) and a convolution's
//! weight gradient, in G multiply-adds/s (kernels packed beforehand; the packing's own time
//! last), beside the same convolution and weight gradient
//! through a patch matrix and `gemm` (what the trainer ran before), each the best of seven;
//! then the four products again in bfloat16 on AMX tiles (`train-hyper --bf16`) where the
//! CPU has them.
//!
//! ```sh
//! cargo run --release --example train_layers
//! ```

use std::time::Instant;

use aec::model::hyper::cpu::bf16::{self, Products};
use aec::model::hyper::cpu::conv::{self, Geometry, Needs};

fn best(mut f: impl FnMut()) -> f64 {
    (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| (((i + seed) * 7919 % 1013) as f32 - 506.0) / 9700.0)
        .collect()
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool of one thread");
    println!("large grid, channels: G multiply-adds/s (ms)");
    pool.install(|| {
        // The analysis's four layers of the default size on 128×128 crops (the synthesis
        // mirrors them; the last has the latents' 96 channels), then two of the large size's
        // (N = 128).
        let shapes = [
            (128, 3, 64),
            (64, 64, 64),
            (32, 64, 64),
            (16, 64, 96),
            (64, 128, 128),
            (32, 128, 128),
        ];
        for (large, l, s) in shapes {
            let g = Geometry::new(4, (large, large), (l, s), 5, 2);
            let w = values(s * l * 25, 1);
            let x = values(g.large_rows() * l, 2);
            let dy = values(g.small_rows() * s, 3);
            let (zs, zl) = (vec![0.0; s], vec![0.0; l]);
            let macs = (g.small_rows() * s * g.patch_len()) as f64;
            let rate = |t: f64| format!("{:.0} ({:.2})", macs / t / 1e9, t * 1e3);
            let input = Needs {
                input: true,
                params: false,
            };
            let params = Needs {
                input: false,
                params: true,
            };
            let forward = conv::Weights::conv((&w, &zs), (l, s), (5, 2), Products::F32);
            let backward = conv::Weights::deconv((&w, &zl), (s, l), (5, 2), Products::F32);
            let forward16 = conv::Weights::conv((&w, &zs), (l, s), (5, 2), Products::Bf16);
            let backward16 = conv::Weights::deconv((&w, &zl), (s, l), (5, 2), Products::Bf16);
            let mut timings = vec![
                ("conv", best(|| drop(conv::conv_forward(&g, &forward, &x)))),
                (
                    "conv by patches",
                    best(|| drop(conv::conv_forward_by_patches(&g, &w, &zs, &x))),
                ),
                (
                    "deconv",
                    best(|| drop(conv::deconv_forward(&g, &backward, &dy))),
                ),
                (
                    "deconv input gradient",
                    best(|| drop(conv::deconv_backward(&g, &backward, &dy, &x, input))),
                ),
                (
                    "weight gradient",
                    best(|| drop(conv::conv_backward(&g, &forward, &x, &dy, params))),
                ),
                (
                    "weight gradient by patches",
                    best(|| drop(conv::weight_gradient_by_patches(&g, &x, &dy))),
                ),
            ];
            if bf16::available() {
                timings.extend([
                    (
                        "conv bf16",
                        best(|| drop(conv::conv_forward(&g, &forward16, &x))),
                    ),
                    (
                        "deconv bf16",
                        best(|| drop(conv::deconv_forward(&g, &backward16, &dy))),
                    ),
                    (
                        "deconv input gradient bf16",
                        best(|| drop(conv::deconv_backward(&g, &backward16, &dy, &x, input))),
                    ),
                    (
                        "weight gradient bf16",
                        best(|| drop(conv::conv_backward(&g, &forward16, &x, &dy, params))),
                    ),
                ]);
            }
            let line: Vec<String> = timings
                .iter()
                .map(|(name, t)| format!("{name} {}", rate(*t)))
                .collect();
            // Packing both directions' kernels, once a step for every shard.
            let pack = best(|| {
                drop(conv::Weights::conv(
                    (&w, &zs),
                    (l, s),
                    (5, 2),
                    Products::F32,
                ));
            });
            println!(
                "{large}², {l} → {s}: {}, packing {:.2} ms",
                line.join(", "),
                pack * 1e3
            );
        }
    });
}
