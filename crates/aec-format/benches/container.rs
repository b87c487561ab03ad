//! Benchmarks of the container: writing and parsing the file of a 768×512 photo (384 tiles of
//! 128 values) in each precision and layout. Run with `cargo bench -p aec-format --bench container`.

mod common;

use std::hint::black_box;

use aec_format::{AecFile, Layout, Precision};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn container(c: &mut Criterion) {
    let mut g = c.benchmark_group("container");
    for (precision, layout, label) in [
        (Precision::F16, Layout::Dense, "f16-dense"),
        (Precision::F32, Layout::Dense, "f32-dense"),
        (Precision::F16, Layout::Sparse, "f16-sparse"),
        (Precision::F32, Layout::Sparse, "f32-sparse"),
    ] {
        let file = common::photo_file(precision, layout);
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
