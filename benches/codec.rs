//! Benchmarks of the reference model (code length 128): training steps and tile coding (the
//! container has its own, `cargo bench -p aec-format --bench container`), and of a
//! default-size hyperprior model on whole images, and the hyperprior trainer's step at both
//! sizes with f32 and bfloat16 products, and a built-in level's loading with a small image's
//! coding. Run with `cargo bench --bench codec`; filter with e.g. `cargo bench --bench codec --
//! encode`, `-- hyper`, `-- hyper_load` or `-- hyper_train_step`.

use std::hint::black_box;

use aec::codec::ImageCodec;
use aec::device::DeviceKind;
use aec::infer::{BurnCoder, CpuCoder, TileCoder};
use aec::model::{ModelConfig, TILE_VALUES};
use aec::train::{Penalties, State, Stepper};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Smooth synthetic tiles (gradients and a few edges), like natural image tiles.
fn tiles(n: usize) -> Vec<u8> {
    (0..n * TILE_VALUES)
        .map(|i| {
            let (t, c, p) = (i / TILE_VALUES, (i / 1024) % 3, i % 1024);
            let (x, y) = (p % 32, p / 32);
            ((x * 4 + y * 3 + c * 50 + t * 17 + if x > 20 { 60 } else { 0 }) % 256) as u8
        })
        .collect()
}

fn training(c: &mut Criterion) {
    aec::keep_freed_memory();
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10);
    for device in [DeviceKind::Cpu, DeviceKind::Flex, DeviceKind::Ndarray] {
        for batch in [10usize, 128] {
            let pixels = tiles(batch);
            let mut state = State::new(ModelConfig::default(), 0);
            let mut stepper = Stepper::new(Penalties::default(), device).expect("CPU device");
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(BenchmarkId::new(device.to_string(), batch), |b| {
                b.iter(|| stepper.step(&mut state, 0.0005, black_box(&pixels)))
            });
        }
    }
    g.finish();
}

fn coding(c: &mut Criterion) {
    aec::keep_freed_memory();
    let weights = aec::model::Weights::glorot(ModelConfig::default(), 0);
    let coders: Vec<(&str, Box<dyn TileCoder>)> = vec![
        ("cpu", Box::new(CpuCoder::new(&weights))),
        (
            "burn-flex",
            Box::new(BurnCoder::new(
                &weights,
                &DeviceKind::Flex.device().unwrap(),
            )),
        ),
        (
            "burn-ndarray",
            Box::new(BurnCoder::new(
                &weights,
                &DeviceKind::Ndarray.device().unwrap(),
            )),
        ),
    ];
    // 1 tile, a batch of 256, and a 768×512 photo (24 × 16 = 384 tiles).
    for n in [1usize, 256, 384] {
        let input = tiles(n);
        let mut g = c.benchmark_group(format!("encode_{n}"));
        g.sample_size(10).throughput(Throughput::Elements(n as u64));
        for (name, coder) in &coders {
            g.bench_function(*name, |b| b.iter(|| coder.encode(black_box(&input))));
        }
        g.finish();
        let codes = coders[0].1.encode(&input);
        let mut g = c.benchmark_group(format!("decode_{n}"));
        g.sample_size(10).throughput(Throughput::Elements(n as u64));
        for (name, coder) in &coders {
            g.bench_function(*name, |b| b.iter(|| coder.decode(black_box(&codes))));
        }
        g.finish();
    }
}

/// An entropy-coded model: the first built-in quality level, or if there is none the
/// notebook's network with the prior at its initial values.
fn entropy_codec() -> aec::codec::Codec {
    use aec::codec::{Builtin, Codec};
    if let Some(bytes) = Builtin::Tiled(4).bytes() {
        let model = aec::store::model_from_bytes(bytes).expect("built-in model");
        return Codec::new(model).expect("built-in model");
    }
    let builtin = Codec::builtin().expect("built-in model");
    let config = ModelConfig {
        prior: true,
        ..builtin.weights().config
    };
    let mut tensors = builtin.weights().tensors.clone();
    let fresh = aec::model::Weights::glorot(config, 0);
    tensors.extend_from_slice(&fresh.tensors[ModelConfig::NETWORK_TENSORS..]);
    let weights = aec::model::Weights { config, tensors };
    let bytes = aec::store::model_to_bytes(&weights, aec::format::Precision::F16, None).unwrap();
    Codec::new(aec::store::model_from_bytes(&bytes).unwrap()).unwrap()
}

/// Whole images through an entropy-coded model (a 768×512 photo and a 32×32 image), and the
/// entropy coder's share: coding and decoding the symbols alone.
fn images(c: &mut Criterion) {
    use aec::format::{decode_symbols, encode_symbols, CodedFile, SymbolTable, SymbolTables};
    aec::keep_freed_memory();
    let codec = entropy_codec();
    let tables = codec.tables().expect("a model with a prior");
    let symbol_tables = SymbolTables::new(
        tables
            .min_symbol
            .iter()
            .zip(&tables.probabilities)
            .map(|(&min_symbol, p)| SymbolTable {
                min_symbol,
                probabilities: p.clone(),
            })
            .collect(),
    )
    .unwrap();
    let options = aec::codec::CompressOptions::default();
    for name in ["kodim23.png", "cifar-test-0000-cat.png"] {
        let image = image::open(format!("samples/images/{name}")).unwrap();
        let bytes = codec.compress(&image, &options).unwrap();
        let payload = CodedFile::from_bytes(&bytes).unwrap().payload;
        let count = (image.width().div_ceil(32) * image.height().div_ceil(32)) as usize * 128;
        let mut symbols = Vec::new();
        decode_symbols(&payload, &symbol_tables, count, &mut symbols).unwrap();
        let mut g = c.benchmark_group(format!("image/{}x{}", image.width(), image.height()));
        g.sample_size(20);
        g.bench_function("compress", |b| {
            b.iter(|| codec.compress(black_box(&image), &options))
        });
        g.bench_function("decompress", |b| {
            b.iter(|| codec.decode_rgb(black_box(&bytes)))
        });
        g.bench_function("entropy_encode", |b| {
            b.iter(|| encode_symbols(black_box(&symbols), &symbol_tables))
        });
        let mut out = Vec::new();
        g.bench_function("entropy_decode", |b| {
            b.iter(|| decode_symbols(black_box(&payload), &symbol_tables, count, &mut out))
        });
        g.finish();
    }
}

/// Whole images through a hyperprior model of the default size (N = 64, M = 96) at its
/// initial weights, built here, and through the default built-in level (its context
/// included): a 768×512 photo and a 32×32 image, encode and decode. The time of the first
/// hardly depends on the weights (the transforms' work is fixed; only the range coder's share
/// follows the bit count).
fn hyper(c: &mut Criterion) {
    use aec::codec::HyperCodec;
    use aec::model::hyper::file::HyperModel;
    use aec::model::hyper::{HyperConfig, HyperWeights};
    aec::keep_freed_memory();
    let weights = HyperWeights::init(HyperConfig::default(), 0);
    let model = HyperModel::from_weights(weights, 0.0067).expect("a model of fresh weights");
    let codec = HyperCodec::from_bytes(&model.to_bytes()).expect("its own model file");
    hyper_group(c, "hyper", &codec);
    // The default level as users get it: trained weights and the checkerboard context.
    let default = aec::codec::Builtin::default_model()
        .bytes()
        .expect("the default model");
    let codec = HyperCodec::from_bytes(default).expect("the built-in model");
    hyper_group(c, "hyper-default", &codec);
}

/// Encode and decode of a photo and a small image through `codec`, as group `group`.
fn hyper_group(c: &mut Criterion, group: &str, codec: &aec::codec::HyperCodec) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1));
    for name in ["kodim23.png", "cifar-test-0000-cat.png"] {
        let rgb = image::open(format!("samples/images/{name}"))
            .unwrap()
            .to_rgb8();
        let size = format!("{}x{}", rgb.width(), rgb.height());
        let bytes = codec.compress_rgb(&rgb, 3).unwrap();
        let pixels = u64::from(rgb.width() * rgb.height());
        // Ten runs of the photo take about 6 s on 2 cores; the small image needs far less.
        let seconds = if pixels > 65_536 { 7 } else { 2 };
        g.throughput(Throughput::Elements(pixels))
            .measurement_time(std::time::Duration::from_secs(seconds));
        g.bench_function(BenchmarkId::new("encode", &size), |b| {
            b.iter(|| codec.compress_rgb(black_box(&rgb), 3))
        });
        g.bench_function(BenchmarkId::new("decode", &size), |b| {
            b.iter(|| codec.decode_rgb(black_box(&bytes)))
        });
    }
    g.finish();
}

/// What a command pays per file on a small image: a built-in level loaded from its bytes (its
/// tensors, integer networks and packed kernels) and a 32×32 image compressed or decoded with
/// it, at the default level and at the published size's (quality 8).
fn hyper_load(c: &mut Criterion) {
    use aec::codec::{Builtin, CompressOptions, MAX_PIXELS};
    aec::keep_freed_memory();
    let image = image::open("samples/images/cifar-test-0000-cat.png").unwrap();
    let mut g = c.benchmark_group("hyper_load");
    g.sample_size(10)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    let options = CompressOptions::default();
    for level in [3, 8] {
        let model = Builtin::Quality(level);
        let bytes = model.codec(MAX_PIXELS).unwrap().compress(&image, &options);
        let bytes = bytes.unwrap();
        g.bench_function(BenchmarkId::new("compress", format!("q{level}")), |b| {
            b.iter(|| {
                model
                    .codec(MAX_PIXELS)
                    .unwrap()
                    .compress(black_box(&image), &options)
            })
        });
        g.bench_function(BenchmarkId::new("decompress", format!("q{level}")), |b| {
            b.iter(|| {
                model
                    .codec(MAX_PIXELS)
                    .unwrap()
                    .decode_bytes(black_box(&bytes))
            })
        });
    }
    g.finish();
}

/// One step's loss and gradients of the whole-image family's trainer (aec's own kernels, a
/// batch of 8 crops of 128², fresh weights with means) at the default size and at N = 128,
/// M = 192, with the convolutions' products in f32 and in bfloat16 (on AMX tiles where the
/// CPU has them, else the same as f32).
fn hyper_training(c: &mut Criterion) {
    use aec::model::hyper::rate::Noise;
    use aec::model::hyper::{HyperConfig, HyperWeights};
    use aec::train::hyper::fused::{loss_and_gradients, Products};
    aec::keep_freed_memory();
    let mut g = c.benchmark_group("hyper_train_step");
    g.sample_size(10);
    let (b, side) = (8, 128);
    let images: Vec<f32> = (0..b * 3 * side * side)
        .map(|i| ((i * 7 + (i / 97) * 13) % 256) as f32 / 255.0)
        .collect();
    for (size, n, m) in [("default", 64, 96), ("large", 128, 192)] {
        let config = HyperConfig::new(n, m).with_means(true);
        let weights = HyperWeights::init(config, 0);
        let noise = Noise::draw(0, 0, (b, side, side), config);
        for (name, products) in [("f32", Products::F32), ("bf16", Products::Bf16)] {
            g.bench_function(BenchmarkId::new(name, size), |bench| {
                bench.iter(|| {
                    let settings = (0.0067, products);
                    loss_and_gradients(
                        &weights,
                        black_box(&images),
                        (b, side, side),
                        &noise,
                        settings,
                    )
                })
            });
        }
    }
    g.finish();
}

/// Lossless files: the tests that spare a photo the lossless encoding and the exact blocks
/// (what every lossy encode pays in `aec compress`), and the lossless encode and decode of a screenshot-like
/// drawing and of the photo.
fn lossless(c: &mut Criterion) {
    use aec::codec::lossless;
    let mut g = c.benchmark_group("lossless");
    g.sample_size(10);
    let photo = image::open("samples/images/kodim23.png").unwrap();
    g.bench_function("gate/768x512", |b| {
        b.iter(|| lossless::candidates(black_box(&photo), 20_000))
    });
    // The exact blocks' count, which a photo pays on every encode by a whole-image level.
    g.bench_function("flat_blocks/768x512", |b| {
        b.iter(|| aec::codec::exact_blocks::flat_blocks(black_box(&photo)))
    });
    let drawing = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(768, 512, |x, y| {
        let ink = (x / 6 + y / 11) % 7 == 0 && x % 6 < 4 && y % 11 < 8;
        image::Rgb(if ink { [20, 20, 30] } else { [250, 250, 252] })
    }));
    for (name, image) in [("drawing", &drawing), ("photo", &photo)] {
        let bytes = lossless::encode(image).unwrap();
        g.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| lossless::encode(black_box(image)))
        });
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| lossless::decode(black_box(&bytes), 1 << 28))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    coding,
    training,
    images,
    hyper,
    hyper_load,
    hyper_training,
    lossless
);
criterion_main!(benches);
