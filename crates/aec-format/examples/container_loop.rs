//! Writes or parses the container benchmark's file many times in a plain loop and prints the
//! time per file: a quick A/B of two builds (run them alternately), where criterion's runs of
//! a few seconds each spread too much on a busy machine.
//!
//! `cargo run --release -p aec-format --example container_loop -- f16|f32 dense|sparse write|read [N]`

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use aec_format::AecFile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [precision, layout, op, rest @ ..] = args.as_slice() else {
        return Err("usage: container_loop f16|f32 dense|sparse write|read [N]".into());
    };
    let n: u32 = rest.first().map_or(Ok(20_000), |s| s.parse())?;
    let file = common::photo_file(precision.parse()?, layout.parse()?);
    let bytes = file.to_bytes()?;
    let start = Instant::now();
    for _ in 0..n {
        match op.as_str() {
            "write" => drop(black_box(black_box(&file).to_bytes()?)),
            "read" => drop(black_box(AecFile::from_bytes(black_box(&bytes))?)),
            _ => return Err(format!("unknown operation {op:?}: write or read").into()),
        }
    }
    let per_file = start.elapsed().as_secs_f64() / f64::from(n);
    println!(
        "{precision} {layout} {op}: {} bytes, {:.1} µs per file, {:.2} GiB/s",
        bytes.len(),
        per_file * 1e6,
        bytes.len() as f64 / per_file / f64::from(1u32 << 30)
    );
    Ok(())
}
