//! Times each transform of a hyperprior model on one image: burn's `flex` backend against
//! aec's own CPU kernels (forward only), the encoder's fixed-point analysis against the float
//! one, then the codec's encode and decode of the image.
//! `cargo run --release --example hyper_stages -- MODEL IMAGE`
use std::time::Instant;

use aec::model::hyper::cpu::fixed_analysis::FixedAnalysis;
use aec::model::hyper::cpu::infer::{Map, Plan};
use aec::model::hyper::cpu::network::{forward, Shape};
use aec::model::hyper::cpu::pool::Buf;
use aec::model::hyper::file::HyperModel;
use aec::model::hyper::net::{host, HyperNet, Transform};
use burn::tensor::{Device, Tensor, TensorData};

fn best<T>(n: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut t = f64::INFINITY;
    let mut out = None;
    for _ in 0..n {
        let s = Instant::now();
        out = Some(f());
        t = t.min(s.elapsed().as_secs_f64() * 1e3);
    }
    (t, out.unwrap())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model, _) = HyperModel::from_bytes(&std::fs::read(&args[1])?)?;
    let img = image::open(&args[2])?.to_rgb8();
    let (w, h) = (
        img.width() as usize / 64 * 64,
        img.height() as usize / 64 * 64,
    );
    let mut v = vec![0f32; 3 * w * h];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                v[(c * h + y) * w + x] = f32::from(img.get_pixel(x as u32, y as u32)[c]) / 255.0;
            }
        }
    }
    let device = Device::flex();
    let net = HyperNet::from_weights(&model.weights, &device, false);
    let cfg = model.weights.config;
    let x = || Tensor::<4>::from_data(TensorData::new(v.clone(), [1, 3, h, w]), &device);
    let (ta, y) = best(5, || host(net.run(Transform::Analysis, x())));
    let yt = || {
        Tensor::<4>::from_data(
            TensorData::new(y.clone(), [1, cfg.m, h / 16, w / 16]),
            &device,
        )
    };
    let (th, _) = best(5, || host(net.run(Transform::HyperAnalysis, yt().abs())));
    let (ts, _) = best(5, || host(net.run(Transform::Synthesis, yt())));
    println!("burn flex: analysis {ta:.1} ms, hyper-analysis {th:.1} ms, synthesis {ts:.1} ms");
    let starts = cfg.network_starts();
    let nets = cfg.networks();
    let params = |k: usize| model.weights.tensors[starts[k]..starts[k + 1]].to_vec();
    let nhwc = aec::model::hyper::cpu::to_nhwc(&v, 1, 3, w * h);
    let shape = Shape {
        batch: 1,
        height: h,
        width: w,
        channels: 3,
    };
    let pa = params(0);
    let (ca, (ya, _, _)) = best(5, || forward(&nets[0].1, &pa, Buf::copy_of(&nhwc), shape));
    let yn = aec::model::hyper::cpu::to_nhwc(&y, 1, cfg.m, w * h / 256);
    let ys = Shape {
        batch: 1,
        height: h / 16,
        width: w / 16,
        channels: cfg.m,
    };
    let ps = params(1);
    let (cs, _) = best(5, || forward(&nets[1].1, &ps, Buf::copy_of(&yn), ys));
    println!(
        "cpu kernels: analysis {ca:.1} ms, synthesis {cs:.1} ms ({} values)",
        ya.len()
    );
    let path = aec::cpu_path::Path::detect();
    let plan_a = Plan::new(&nets[0].1, &pa);
    let map = |v: &[f32], h, w, c| Map {
        height: h,
        width: w,
        channels: c,
        values: v.to_vec(),
    };
    let (ia, out) = best(5, || plan_a.run(path, map(&nhwc, h, w, 3)));
    let map16 = |v: &[i16], h, w| Map {
        height: h,
        width: w,
        channels: 3,
        values: v.to_vec(),
    };
    let plan_s = Plan::new(&nets[1].1, &ps);
    let (is, direct) = best(5, || plan_s.run(path, map(&yn, h / 16, w / 16, cfg.m)));
    let plan_w = Plan::synthesis(&nets[1].1, &ps);
    let (iw, wino) = best(5, || plan_w.run(path, map(&yn, h / 16, w / 16, cfg.m)));
    let (far, flips) =
        (direct.values.iter().zip(&wino.values)).fold((0f32, 0), |(m, n), (a, b)| {
            let (ra, rb) = ((a * 255.0).round(), (b * 255.0).round());
            (m.max((a - b).abs()), n + usize::from(ra != rb))
        });
    println!(
        "decoder's synthesis (Winograd): {iw:.1} ms; within {far:e} of the direct one, {flips} of {} levels differ",
        wino.values.len()
    );
    // Each of its stages on the one before's output (a convolution with the GDN after it).
    let mut x = map(&yn, h / 16, w / 16, cfg.m);
    let mut times = Vec::new();
    for k in 0..plan_w.stages() {
        let stage = plan_w.stage(k);
        let (t, next) = best(5, || {
            stage.run(path, map(&x.values, x.height, x.width, x.channels))
        });
        times.push(format!("{t:.1}"));
        x = next;
    }
    println!("  its stages: {} ms", times.join(", "));
    let worst = out
        .values
        .iter()
        .zip(ya.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("banded: analysis {ia:.1} ms, synthesis {is:.1} ms (largest difference {worst:e})");
    // The encoder's analysis in 16-bit fixed point, against the banded float one.
    let fixed = FixedAnalysis::new(&nets[0].1, &pa).expect("the family's analysis");
    let pixels: Vec<i16> = nhwc.iter().map(|&v| (v * 255.0).round() as i16).collect();
    let (iq, q) = best(5, || fixed.run(path, map16(&pixels, h, w)));
    let d: Vec<f32> = (out.values.iter().zip(&q.values))
        .map(|(a, b)| (a - b).abs())
        .collect();
    let flips = (out.values.iter().zip(&q.values))
        .filter(|(a, b)| a.round() != b.round())
        .count();
    println!(
        "fixed point: analysis {iq:.1} ms; y within {:.4} of the float one (mean {:.5}), {flips} of {} roundings differ",
        d.iter().copied().fold(0f32, f32::max),
        d.iter().sum::<f32>() / d.len() as f32,
        d.len()
    );
    // The whole codec on the image as it is (best of 25): the analysis transforms alone, then
    // the file (quantization, the integer hyper-synthesis and range coding on top), then back.
    let codec = aec::codec::HyperCodec::from_bytes(&std::fs::read(&args[1])?)?;
    let (tr, _) = best(25, || {
        codec.analyse(&img).expect("an image of the codec's size")
    });
    let (tc, file) = best(25, || codec.compress_rgb(&img, 3).expect("its file"));
    let (td, _) = best(25, || codec.decode_rgb(&file).expect("its own file"));
    let (tl, _) = best(25, || codec.latent_report(&file).expect("its own file"));
    println!(
        "codec: analyse {tr:.1} ms, compress {tc:.1} ms, decode {td:.1} ms (its latents {tl:.1} ms)"
    );
    Ok(())
}
