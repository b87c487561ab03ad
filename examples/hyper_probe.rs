//! Diagnostics of a hyperprior model on one image: the float path against the coded path.
use aec::model::hyper::file::HyperModel;
use aec::model::hyper::integer::{FixedMap, IntegerNetwork};
use aec::model::hyper::net::{host, HyperNet, Transform};
use burn::tensor::{Device, Tensor, TensorData};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (model, _) = HyperModel::from_bytes(&std::fs::read(&args[1])?)?;
    let img = image::open(&args[2])?.to_rgb8();
    let (w, h) = (
        img.width() as usize / 64 * 64,
        img.height() as usize / 64 * 64,
    );
    let device = Device::flex();
    let net = HyperNet::from_weights(&model.weights, &device, false);
    let mut v = vec![0f32; 3 * w * h];
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                v[(c * h + y) * w + x] = f32::from(img.get_pixel(x as u32, y as u32)[c]) / 255.0;
            }
        }
    }
    let x = Tensor::<4>::from_data(TensorData::new(v.clone(), [1, 3, h, w]), &device);
    let y = net.run(Transform::Analysis, x);
    let z = net.run(Transform::HyperAnalysis, y.clone().abs());
    let zr = z.clone().round();
    let s_float = host(net.run(Transform::HyperSynthesis, zr.clone()));
    let zv = host(zr);
    let int = IntegerNetwork::hyper_synthesis(&model.weights)?;
    let n = model.weights.config.n;
    let s_int = int.run(FixedMap {
        channels: n,
        height: h / 64,
        width: w / 64,
        values: zv.iter().map(|&q| (q * 4096.0) as i32).collect(),
    });
    let worst = s_int
        .values
        .iter()
        .zip(&s_float)
        .map(|(&i, &f)| (f64::from(i) / 4096.0 - f64::from(f)).abs())
        .fold(0.0, f64::max);
    let yv = host(y.clone());
    let ymax = yv.iter().fold(0f32, |a, &b| a.max(b.abs()));
    let mut clamped = 0;
    for (k, &val) in yv.iter().enumerate() {
        let level = model.tables.level(s_int.values[k]);
        let t = &model.tables.y[level];
        let q = val.round() as i32;
        if q < t.min_symbol || q > t.max_symbol() {
            clamped += 1;
        }
    }
    let xhat = host(net.run(Transform::Synthesis, y.round()));
    let mse: f64 = xhat
        .iter()
        .zip(&v)
        .map(|(&a, &b)| {
            let d = (f64::from(a.clamp(0.0, 1.0)) * 255.0).round() / 255.0 - f64::from(b);
            d * d
        })
        .sum::<f64>()
        / v.len() as f64;
    println!(
        "int vs float scales: worst {worst:.4}; |y| max {ymax:.1}; clamped {clamped} of {}; PSNR of round(y) {:.2} dB; z range {:?}",
        yv.len(),
        -10.0 * mse.log10(),
        zv.iter().fold((f32::MAX, f32::MIN), |(a, b), &c| (a.min(c), b.max(c)))
    );
    let codec = aec::codec::HyperCodec::from_bytes(&std::fs::read(&args[1])?)?;
    let bytes = codec.compress_rgb(&img, 3)?;
    let dec = codec.decode_rgb(&bytes)?;
    let mut diff = 0usize;
    let mut mse2 = 0f64;
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let a = f64::from(dec.get_pixel(x as u32, y as u32)[c]);
                let b = (f64::from(xhat[(c * h + y) * w + x].clamp(0.0, 1.0)) * 255.0).round();
                if a != b {
                    diff += 1;
                }
                let o = f64::from(img.get_pixel(x as u32, y as u32)[c]);
                mse2 += (a - o) * (a - o);
            }
        }
    }
    let mse2 = mse2 / (3 * w * h) as f64;
    println!(
        "coded: {} bytes, {diff} samples differ from the float path, PSNR {:.2} dB",
        bytes.len(),
        10.0 * (255.0f64 * 255.0 / mse2).log10()
    );
    Ok(())
}
