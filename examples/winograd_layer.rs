//! Times one synthesis layer computed by its four phases and by Winograd's algorithm: by
//! default 64 → 64 channels on a 192×128 input (the third layer of a 768×512 decode).
//! `cargo run --release --example winograd_layer -- [direct|winograd|both] [IN OUT HEIGHT WIDTH]`
//! (`both 64 3 256 384`: the last layer of that decode).
use std::time::Instant;

use aec::model::hyper::cpu::infer::{Map, Plan};
use aec::model::hyper::Layer;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(2)
        .map(|a| a.parse().unwrap())
        .collect();
    let (c, o, h, w) = match args[..] {
        [c, o, h, w] => (c, o, h, w),
        _ => (64, 64, 128, 192),
    };
    let weights: Vec<f32> = (0..c * o * 25)
        .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.05)
        .collect();
    let bias = vec![0.01f32; o];
    // Two layers, of which only the second runs (the decoder keeps its first on the four
    // phases).
    let layers = [Layer::Deconv(c, o, 5, 2); 2];
    let params = vec![weights.clone(), bias.clone(), weights, bias];
    let direct = Plan::new(&layers, &params).stage(1);
    let wino = Plan::synthesis(&layers, &params).stage(1);
    let x: Vec<f32> = (0..h * w * c)
        .map(|i| (i * 31 % 97) as f32 / 97.0)
        .collect();
    let map = || Map {
        height: h,
        width: w,
        channels: c,
        values: x.clone(),
    };
    let path = aec::cpu_path::Path::detect();
    let only = std::env::args().nth(1).filter(|o| o != "both");
    for (name, plan) in [("direct", &direct), ("winograd", &wino)] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let mut best = f64::INFINITY;
        for _ in 0..20 {
            let t = Instant::now();
            std::hint::black_box(plan.run(path, map()));
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        println!("{name}: {best:.2} ms");
    }
}
