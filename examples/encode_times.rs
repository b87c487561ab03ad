//! Times the whole-image encoder on one image: the coding side alone (`compress_analysed`:
//! the side latent's coding, the integer hyper-synthesis, the levels and the range coding)
//! and the whole encode (`compress_rgb`), alternated, as minimum, first quartile and median.
//! The model is criterion's (the default size, fresh weights) unless a model file is given.
//!
//! `cargo run --release --example encode_times -- IMAGE RUNS [MODEL]`
use aec::codec::hyper::Step;
use aec::codec::HyperCodec;
use aec::model::hyper::file::HyperModel;
use aec::model::hyper::{HyperConfig, HyperWeights};

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |f: f64| ms[((ms.len() - 1) as f64 * f) as usize];
    format!(
        "min {:.2} q1 {:.2} median {:.2} ms",
        at(0.0),
        at(0.25),
        at(0.5)
    )
}

fn main() -> anyhow::Result<()> {
    aec::keep_freed_memory();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() >= 3, "usage: encode_times IMAGE RUNS [MODEL]");
    let rgb = image::open(&args[1])?.to_rgb8();
    let runs: usize = args[2].parse()?;
    anyhow::ensure!(runs > 0, "RUNS must be at least 1");
    let codec = match args.get(3) {
        Some(path) => HyperCodec::from_bytes(&std::fs::read(path)?)?,
        None => {
            let weights = HyperWeights::init(HyperConfig::default(), 0);
            HyperCodec::from_bytes(&HyperModel::from_weights(weights, 0.0067)?.to_bytes())?
        }
    };
    let analysed = codec.analyse(&rgb)?;
    let (mut coding, mut whole) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = std::time::Instant::now();
        std::hint::black_box(codec.compress_analysed(&analysed, 3, Step::UNIT)?);
        coding.push(t.elapsed().as_secs_f64() * 1e3);
        let t = std::time::Instant::now();
        std::hint::black_box(codec.compress_rgb(&rgb, 3)?);
        whole.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("coding side: {}", summary(coding));
    println!("whole encode: {}", summary(whole));
    Ok(())
}
