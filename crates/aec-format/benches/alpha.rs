//! Benchmarks of the alpha plane: each filter's encoding and decoding of a 768×512 plane of
//! the kinds alpha takes (a soft-edged disc over a hard-edged bar, and a band of smooth
//! waves), and the writer's choice among all five. Run with
//! `cargo bench -p aec-format --bench alpha`.

use std::hint::black_box;

use aec_format::{AlphaFilter, AlphaPlane};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const W: u32 = 768;
const H: u32 = 512;

/// A soft disc, a hard bar and smooth waves: every filter's case, deterministic.
fn plane() -> Vec<u8> {
    (0..H)
        .flat_map(|y| (0..W).map(move |x| (x as f32, y as f32)))
        .map(|(x, y)| {
            let d = (x - 300.0).hypot(y - 250.0);
            let disc = (255.0 * (180.0 - d) / 6.0).clamp(0.0, 255.0);
            let bar = if (600.0..700.0).contains(&x) {
                255.0
            } else {
                0.0
            };
            let waves = if y > 440.0 {
                128.0 + 100.0 * (x / 23.0).sin() * (y / 17.0).cos()
            } else {
                0.0
            };
            disc.max(bar).max(waves) as u8
        })
        .collect()
}

fn alpha(c: &mut Criterion) {
    let p = plane();
    let mut g = c.benchmark_group("alpha");
    g.throughput(Throughput::Elements(p.len() as u64));
    for f in [AlphaFilter::Gradient, AlphaFilter::Context] {
        let coded = AlphaPlane::with_filter(&p, W, H, f).unwrap();
        g.bench_function(format!("encode-{f:?}"), |b| {
            b.iter(|| AlphaPlane::with_filter(black_box(&p), W, H, f).unwrap())
        });
        g.bench_function(format!("decode-{f:?}"), |b| {
            b.iter(|| black_box(&coded).decode(W, H, 0).unwrap())
        });
    }
    g.bench_function("encode-best-of-five", |b| {
        b.iter(|| AlphaPlane::encode(black_box(&p), W, H).unwrap())
    });
    g.finish();
}

criterion_group!(benches, alpha);
criterion_main!(benches);
