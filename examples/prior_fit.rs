//! How well the learned logistic prior fits the symbols it codes: for each built-in tiled
//! entropy-coded model, the bits per image under the model's stored tables against the
//! entropy of the symbols' own per-dimension histograms on the same images, which no
//! factorized prior (parametric or not) can beat on them.
//!
//! ```sh
//! cargo run --release --example prior_fit -- ../shared/data/cifar10-exact/test_batch_first1000.bin
//! ```

use std::collections::HashMap;

use aec::codec::Builtin;
use aec::infer::{CpuCoder, TileCoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: prior_fit CIFAR10_BINARY_FILE")?;
    let set = aec::data::read_cifar(std::path::Path::new(&path))?;
    println!("{} images from {path}", set.len());
    println!("| level | bits/image under the tables | histogram entropy bits/image | excess |");
    println!("|---|---:|---:|---:|");
    for q in 1.. {
        let Some(bytes) = Builtin::Tiled(q).bytes() else {
            break;
        };
        let codec = aec::codec::Codec::new(aec::store::model_from_bytes(bytes)?)?;
        let tables = codec.tables().ok_or("a model with a prior")?;
        let codes = CpuCoder::new(codec.weights()).encode(&set.pixels);
        let symbols = tables.quantize(&codes);
        let l = tables.code_length();
        let model_bits = tables.ideal_bits(&symbols);
        let mut counts: Vec<HashMap<i32, u64>> = vec![HashMap::new(); l];
        for (k, &s) in symbols.iter().enumerate() {
            *counts[k % l].entry(s).or_default() += 1;
        }
        let n = (symbols.len() / l) as f64;
        let empirical: f64 = counts
            .iter()
            .flat_map(|c| c.values())
            .map(|&c| {
                let p = c as f64 / n;
                -(c as f64) * p.log2()
            })
            .sum();
        println!(
            "| Q{q} | {:.1} | {:.1} | {:+.1}% |",
            model_bits / n,
            empirical / n,
            100.0 * (model_bits / empirical - 1.0)
        );
    }
    Ok(())
}
