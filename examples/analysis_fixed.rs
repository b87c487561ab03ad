//! The analysis transform of a model on one image in floats and in fixed point: each float
//! layer's time (with its GDN), the fixed-point transform's, and how far its `y` is from the
//! float one's. `cargo run --release --example analysis_fixed -- MODEL IMAGE`
use std::time::Instant;

use aec::cpu_path::Path;
use aec::model::hyper::cpu::fixed_analysis::FixedAnalysis;
use aec::model::hyper::cpu::infer::{Map, Plan};
use aec::model::hyper::file::HyperModel;
use aec::model::hyper::Layer;

fn best<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut t = f64::INFINITY;
    let mut out = None;
    for _ in 0..n {
        let s = Instant::now();
        out = Some(f());
        t = t.min(s.elapsed().as_secs_f64() * 1e3);
    }
    (t, out.expect("at least one run"))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model, _) = HyperModel::from_bytes(&std::fs::read(&args[1])?)?;
    let img = image::open(&args[2])?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let starts = model.weights.config.network_starts();
    let layers = &model.weights.config.networks()[0].1;
    let params = &model.weights.tensors[starts[0]..starts[1]];
    let path = Path::widest();
    fn map<T>(values: Vec<T>, (h, w): (usize, usize)) -> Map<T> {
        Map {
            height: h,
            width: w,
            channels: 3,
            values,
        }
    }
    let raw = img.as_raw();
    let reals = map(raw.iter().map(|&v| f32::from(v) / 255.0).collect(), (h, w));
    let pixels = map(raw.iter().map(|&v| i16::from(v)).collect(), (h, w));
    // Float, layer by layer (a convolution with the GDN after it).
    let (mut x, mut total) = (reals.clone(), 0.0);
    let (mut l, mut p) = (0, 0);
    while l < layers.len() {
        let n = if matches!(layers.get(l + 1), Some(Layer::Gdn(..))) {
            2
        } else {
            1
        };
        let plan = Plan::new(&layers[l..l + n], &params[p..p + 2 * n]);
        let (t, out) = best(9, || plan.run(path, x.clone()));
        println!("float {:?}: {t:.2} ms", layers[l]);
        total += t;
        x = out;
        l += n;
        p += 2 * n;
    }
    let float = Plan::new(layers, params);
    let (tf, y) = best(9, || float.run(path, reals.clone()));
    let fixed = FixedAnalysis::new(layers, params).expect("the family's analysis");
    let (tq, q) = best(9, || fixed.run(path, pixels.clone()));
    println!("float analysis {tf:.2} ms (layers {total:.2} ms), fixed point {tq:.2} ms");
    let d: Vec<f32> = (y.values.iter().zip(&q.values))
        .map(|(a, b)| (a - b).abs())
        .collect();
    let max = d.iter().copied().fold(0f32, f32::max);
    let mean = d.iter().sum::<f32>() / d.len() as f32;
    let flips = (y.values.iter().zip(&q.values))
        .filter(|(a, b)| a.round() != b.round())
        .count();
    println!(
        "y: |fixed − float| max {max:.4}, mean {mean:.5}; {flips} of {} roundings differ",
        d.len()
    );
    Ok(())
}
