//! Times the version 2 symbol stream on a 768×512 photo's code (384 tiles × 128 symbols =
//! 49,152 symbols) in a plain loop and prints the best time per symbol over the runs, which a
//! busy machine disturbs less than criterion's means; also the stream's size against the
//! symbols' information content.
//!
//! `cargo run --release -p aec-format --example symbols_loop [RUNS]`

#[path = "../benches/common/symbols.rs"]
mod symbols;

use std::hint::black_box;
use std::time::Instant;

use aec_format::{decode_symbols, encode_symbols, SymbolTables};
use symbols::Mix;

/// Best of `runs` timings of `f`, in nanoseconds.
fn best_ns(runs: u32, mut f: impl FnMut()) -> f64 {
    f();
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: u32 = std::env::args().nth(1).map_or(Ok(200), |s| s.parse())?;
    for mix in [Mix::Low, Mix::High] {
        let tables = symbols::tables(mix);
        let syms = symbols::symbols(&tables, 384);
        let n = syms.len() as f64;
        let bytes = encode_symbols(&syms, &tables)?;
        let bits: f64 = syms
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let t = &tables.tables()[k % 128];
                24.0 - f64::from(t.probabilities[(s - t.min_symbol) as usize]).log2()
            })
            .sum();
        let enc = best_ns(runs, || {
            black_box(encode_symbols(black_box(&syms), &tables).unwrap());
        });
        let mut out = Vec::with_capacity(syms.len());
        let dec = best_ns(runs, || {
            decode_symbols(black_box(&bytes), &tables, syms.len(), &mut out).unwrap();
        });
        assert_eq!(out, syms);
        let raw = tables.tables().to_vec();
        let build = best_ns(runs, || {
            black_box(SymbolTables::new(black_box(raw.clone())).unwrap());
        });
        println!(
            "{mix:?}: {} symbols, {} bytes ({:+.2} over {:.2} bytes of information); encode {:.2} ns/symbol ({:.0} us), decode {:.2} ns/symbol ({:.0} us); building the 128 tables {:.1} us",
            syms.len(),
            bytes.len(),
            bytes.len() as f64 - bits / 8.0,
            bits / 8.0,
            enc / n,
            enc / 1e3,
            dec / n,
            dec / 1e3,
            build / 1e3
        );
    }
    Ok(())
}
