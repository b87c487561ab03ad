//! Times the whole-image decoder on one image, each decode on its own (no criterion
//! warm-up or batching): the best and the median of RUNS decodes of the image's file at
//! quality 3. The model is criterion's (the default size, fresh weights) unless `default`
//! asks for the default built-in level (N = 64 with its checkerboard context). Alternate two
//! builds' binaries to compare them.
//!
//! `cargo run --release --example decode_times -- IMAGE RUNS [default]`
use std::time::Instant;

use aec::codec::{Builtin, HyperCodec};
use aec::model::hyper::file::HyperModel;
use aec::model::hyper::{HyperConfig, HyperWeights};

fn main() -> anyhow::Result<()> {
    aec::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    let [_, image, runs, rest @ ..] = &args[..] else {
        anyhow::bail!("usage: decode_times IMAGE RUNS [default]");
    };
    let runs: usize = runs.parse()?;
    let codec = match rest {
        [kind] if kind == "default" => {
            let bytes = Builtin::default_model().bytes();
            HyperCodec::from_bytes(bytes.ok_or_else(|| anyhow::anyhow!("no default model"))?)?
        }
        _ => {
            let weights = HyperWeights::init(HyperConfig::default(), 0);
            HyperCodec::from_bytes(&HyperModel::from_weights(weights, 0.0067)?.to_bytes())?
        }
    };
    let rgb = image::open(image)?.to_rgb8();
    let bytes = codec.compress_rgb(&rgb, 3)?;
    let mut ms = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(codec.decode_rgb(&bytes)?);
            Ok(t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    ms.sort_by(f64::total_cmp);
    println!(
        "decode: best {:.1} ms, median {:.1} ms",
        ms[0],
        ms[ms.len() / 2]
    );
    Ok(())
}
