//! Benchmarks of the version 2 symbol stream: encoding and decoding a 768×512 photo's code
//! (384 tiles × 128 symbols = 49,152 symbols) with two spreads of tables, and building the
//! 128 tables. Run with `cargo bench -p aec-format --bench symbols`.

#[path = "common/symbols.rs"]
mod symbols;

use std::hint::black_box;

use aec_format::{decode_symbols, encode_symbols, SymbolTables};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use symbols::Mix;

fn stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("symbols");
    for (mix, label) in [(Mix::Low, "low"), (Mix::High, "high")] {
        let tables = symbols::tables(mix);
        let syms = symbols::symbols(&tables, 384);
        let bytes = encode_symbols(&syms, &tables).unwrap();
        g.throughput(Throughput::Elements(syms.len() as u64));
        g.bench_function(format!("encode-{label}"), |b| {
            b.iter(|| encode_symbols(black_box(&syms), &tables).unwrap())
        });
        let mut out = Vec::with_capacity(syms.len());
        g.bench_function(format!("decode-{label}"), |b| {
            b.iter(|| decode_symbols(black_box(&bytes), &tables, syms.len(), &mut out).unwrap())
        });
        g.throughput(Throughput::Elements(128));
        let raw = tables.tables().to_vec();
        g.bench_function(format!("build-tables-{label}"), |b| {
            b.iter(|| SymbolTables::new(black_box(raw.clone())).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, stream);
criterion_main!(benches);
