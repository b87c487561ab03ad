//! Times one inner synthesis layer (64 → 64 channels, a 192×128 input: the third layer of a
//! 768×512 decode) computed by its four phases and by Winograd's algorithm.
//! `cargo run --release --example winograd_layer`
use std::time::Instant;

use aec::model::hyper::cpu::infer::{Map, Plan};
use aec::model::hyper::Layer;

fn main() {
    let (c, h, w) = (64, 128, 192);
    let weights: Vec<f32> = (0..c * c * 25)
        .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.05)
        .collect();
    let bias = vec![0.01f32; c];
    // Two layers, of which only the second runs (the decoder keeps its first on the four
    // phases).
    let layers = [Layer::Deconv(c, c, 5, 2); 2];
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
    let only = std::env::args().nth(1);
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
