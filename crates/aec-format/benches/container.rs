//! Benchmarks of the container: writing and parsing the file of a 768×512 photo (384 tiles of
//! 128 values) in each precision and layout. Run with `cargo bench -p aec-format --bench container`.

use std::hint::black_box;

use aec_format::{AecFile, Codes, Layout, Precision};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn container(c: &mut Criterion) {
    // Values spread over [-1, 1] in a scrambled order; the sparse case zeroes those below 0.5
    // in magnitude (half of them, at unpredictable positions).
    let values: Vec<f32> = (0..384 * 128)
        .map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    let mut g = c.benchmark_group("container");
    for (precision, layout, label) in [
        (Precision::F16, Layout::Dense, "f16-dense"),
        (Precision::F32, Layout::Dense, "f32-dense"),
        (Precision::F16, Layout::Sparse, "f16-sparse"),
        (Precision::F32, Layout::Sparse, "f32-sparse"),
    ] {
        let mut v = values.clone();
        if layout == Layout::Sparse {
            v.iter_mut()
                .filter(|x| x.abs() < 0.5)
                .for_each(|x| *x = 0.0);
        }
        let file = AecFile {
            model_id: [7; 16],
            width: 768,
            height: 512,
            channels: 3,
            tile_size: 32,
            code_length: 128,
            layout,
            codes: Codes::from_f32(&v, precision),
        };
        let bytes = file.to_bytes().expect("valid file");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("write-{label}"), |b| {
            b.iter(|| black_box(&file).to_bytes().unwrap())
        });
        g.bench_function(format!("read-{label}"), |b| {
            b.iter(|| AecFile::from_bytes(black_box(&bytes)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, container);
criterion_main!(benches);
