//! The codec on the samples with the built-in model: quality floors, determinism, precisions,
//! sparse codes, odd sizes and colour types.

use aec::codec::{Codec, CompressOptions, ImageCodec};
use aec::format::{AecFile, Layout, Precision};
use aec::metrics::psnr_rgb8;
use image::{DynamicImage, RgbImage};

fn sample(name: &str) -> DynamicImage {
    image::open(format!("samples/images/{name}")).unwrap()
}

fn round_trip(codec: &Codec, img: &DynamicImage, options: &CompressOptions) -> (Vec<u8>, RgbImage) {
    let file = codec.compress_file(img, options).unwrap();
    let bytes = file.to_bytes().unwrap();
    let back = AecFile::from_bytes(&bytes).unwrap();
    assert_eq!(back, file);
    (bytes, codec.decompress(&back).unwrap())
}

/// PSNR floors: the values the README reports for the samples (section "Reproducing the
/// notebook"), minus 0.5 dB.
#[test]
fn samples_round_trip_above_their_psnr_floors() {
    let codec = Codec::builtin().unwrap();
    for (name, floor) in [
        ("kodim23.png", KODIM23_FLOOR),
        ("cifar-test-0000-cat.png", CAT_FLOOR),
        ("cifar-test-0003-airplane.png", AIRPLANE_FLOOR),
    ] {
        let img = sample(name);
        let (bytes, decoded) = round_trip(&codec, &img, &CompressOptions::default());
        assert_eq!(decoded.dimensions(), img.to_rgb8().dimensions());
        let psnr = psnr_rgb8(&img.to_rgb8(), &decoded);
        assert!(
            psnr >= floor,
            "{name}: {psnr:.2} dB is below the floor {floor}"
        );
        // Compressing again gives the same bytes.
        let again = codec
            .compress_file(&img, &CompressOptions::default())
            .unwrap()
            .to_bytes()
            .unwrap();
        assert_eq!(bytes, again, "{name}: compress is not deterministic");
    }
}

const KODIM23_FLOOR: f64 = 22.17; // README: 22.67 dB
const CAT_FLOOR: f64 = 18.93; // README: 19.43 dB
const AIRPLANE_FLOOR: f64 = 20.73; // README: 21.23 dB

#[test]
fn f16_costs_under_five_hundredths_of_a_db() {
    let codec = Codec::builtin().unwrap();
    let img = sample("kodim23.png");
    let psnr = |precision| {
        let (_, d) = round_trip(
            &codec,
            &img,
            &CompressOptions {
                precision,
                sparse_threshold: None,
                ..CompressOptions::default()
            },
        );
        psnr_rgb8(&img.to_rgb8(), &d)
    };
    let (f32_db, f16_db) = (psnr(Precision::F32), psnr(Precision::F16));
    assert!(
        (f32_db - f16_db).abs() < 0.05,
        "f32 {f32_db:.4} dB vs f16 {f16_db:.4} dB"
    );
}

#[test]
fn sparse_with_threshold_zero_decodes_like_dense() {
    let codec = Codec::builtin().unwrap();
    let img = sample("cifar-test-0001-ship.png");
    for precision in [Precision::F16, Precision::F32] {
        let dense = codec
            .compress_file(
                &img,
                &CompressOptions {
                    precision,
                    sparse_threshold: None,
                    ..CompressOptions::default()
                },
            )
            .unwrap();
        let sparse = codec
            .compress_file(
                &img,
                &CompressOptions {
                    precision,
                    sparse_threshold: Some(0.0),
                    ..CompressOptions::default()
                },
            )
            .unwrap();
        assert_eq!(sparse.layout, Layout::Sparse);
        assert_eq!(
            codec.decompress(&dense).unwrap(),
            codec.decompress(&sparse).unwrap()
        );
        // A real threshold zeroes values and makes the file smaller.
        let thin = codec
            .compress_file(
                &img,
                &CompressOptions {
                    precision,
                    sparse_threshold: Some(0.3),
                    ..CompressOptions::default()
                },
            )
            .unwrap();
        assert!(thin.codes.count_zeros() > 0);
        assert!(thin.to_bytes().unwrap().len() < dense.to_bytes().unwrap().len());
    }
}

#[test]
fn odd_sizes_and_colour_types_round_trip_to_their_own_size() {
    let codec = Codec::builtin().unwrap();
    for (w, h) in [(1, 1), (33, 17), (31, 64)] {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 4) as u8, 128])
        }));
        let (_, d) = round_trip(&codec, &img, &CompressOptions::default());
        assert_eq!(d.dimensions(), (w, h));
    }
    let rgb = sample("cifar-test-0002-ship.png");
    let grey = DynamicImage::ImageLuma8(rgb.to_luma8());
    let rgba = DynamicImage::ImageRgba8(rgb.to_rgba8());
    let grey16 = DynamicImage::ImageLuma16(rgb.to_luma16());
    for (img, channels) in [(grey, 1), (rgba, 4), (grey16, 1)] {
        let file = codec
            .compress_file(&img, &CompressOptions::default())
            .unwrap();
        assert_eq!(file.channels, channels);
        let d = codec.decompress(&file).unwrap();
        assert!(psnr_rgb8(&img.to_rgb8(), &d) > 15.0);
    }
}

#[test]
fn a_file_from_another_model_is_refused() {
    let codec = Codec::builtin().unwrap();
    let mut file = codec
        .compress_file(
            &sample("cifar-test-0000-cat.png"),
            &CompressOptions::default(),
        )
        .unwrap();
    file.model_id[0] ^= 1;
    let err = codec.decompress(&file).unwrap_err().to_string();
    assert!(err.contains("made by model"), "{err}");
}

#[test]
fn a_file_declaring_too_many_pixels_is_refused_before_decoding() {
    let codec = Codec::builtin().unwrap();
    // 16,385² pixels is just over the decoder's limit of 2²⁸.
    let side = 16_385u32;
    let tiles = (side as usize).div_ceil(32).pow(2);
    let file = AecFile {
        model_id: codec.model_id().short(),
        width: side,
        height: side,
        channels: 3,
        tile_size: 32,
        code_length: 128,
        layout: Layout::Sparse,
        codes: aec::format::Codes::F16(vec![half::f16::ZERO; tiles * 128]),
    };
    let err = codec.decompress(&file).unwrap_err().to_string();
    assert!(
        err.contains("16385×16385") && err.contains("the limit is 268435456"),
        "{err}"
    );
    // A lower limit refuses smaller files, and images to compress, alike.
    let codec = codec.with_max_pixels(1000);
    let image = sample("cifar-test-0000-cat.png");
    let err = codec
        .compress_file(&image, &CompressOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("32×32 (1024 pixels)") && err.contains("1000"),
        "{err}"
    );
    let file = Codec::builtin()
        .unwrap()
        .compress_file(&image, &CompressOptions::default())
        .unwrap();
    let err = codec.decompress(&file).unwrap_err().to_string();
    assert!(err.contains("the limit is 1000"), "{err}");
}

/// A small entropy-coded model: the built-in network with a prior at its initial values.
fn entropy_codec() -> Codec {
    use aec::model::{ModelConfig, Weights};
    let builtin = Codec::builtin().unwrap();
    let config = ModelConfig {
        prior: true,
        ..builtin.weights().config
    };
    let mut tensors = builtin.weights().tensors.clone();
    tensors.extend(
        Weights::glorot(config, 0)
            .tensors
            .split_off(ModelConfig::NETWORK_TENSORS),
    );
    let weights = Weights { config, tensors };
    let bytes = aec::store::model_to_bytes(&weights, Precision::F16, Some(0.01)).unwrap();
    Codec::new(aec::store::model_from_bytes(&bytes).unwrap()).unwrap()
}

#[test]
fn entropy_coded_files_round_trip_deterministically() {
    let codec = entropy_codec();
    assert_eq!(codec.rate_lambda(), Some(0.01));
    for name in ["kodim23.png", "cifar-test-0000-cat.png"] {
        let img = sample(name);
        let bytes = codec.compress(&img, &CompressOptions::default()).unwrap();
        assert_eq!(
            &bytes[..5],
            &[0x8a, b'A', b'E', b'C', 2],
            "{name}: version 2"
        );
        assert_eq!(
            bytes,
            codec.compress(&img, &CompressOptions::default()).unwrap()
        );
        let decoded = codec.decode_rgb(&bytes).unwrap();
        assert_eq!(decoded.dimensions(), img.to_rgb8().dimensions());
        // The quantized codes lose little against the unquantized ones at steps of 0.05.
        let raw = Codec::builtin().unwrap();
        let unquantized = raw
            .decompress(
                &raw.compress_file(
                    &img,
                    &CompressOptions {
                        precision: Precision::F32,
                        sparse_threshold: None,
                        ..CompressOptions::default()
                    },
                )
                .unwrap(),
            )
            .unwrap();
        let (q, u) = (
            psnr_rgb8(&img.to_rgb8(), &decoded),
            psnr_rgb8(&img.to_rgb8(), &unquantized),
        );
        assert!(q > u - 0.5, "{name}: {q:.2} dB quantized, {u:.2} dB not");
        // Decoding is the same on one thread and on many.
        for threads in [1, 3, 8, 16] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let again = pool.install(|| codec.decode_rgb(&bytes).unwrap());
            assert_eq!(again, decoded, "{name}: {threads} threads");
        }
    }
}

#[test]
fn entropy_coded_files_check_their_model() {
    let codec = entropy_codec();
    let bytes = codec
        .compress(
            &sample("cifar-test-0001-ship.png"),
            &CompressOptions::default(),
        )
        .unwrap();
    // The notebook's model refuses a version 2 file of another model.
    let err = Codec::builtin()
        .unwrap()
        .decode_rgb(&bytes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("made by model"), "{err}");
    // Sparse settings do not apply.
    let err = codec
        .compress(
            &sample("cifar-test-0001-ship.png"),
            &CompressOptions {
                precision: Precision::F16,
                sparse_threshold: Some(0.1),
                ..CompressOptions::default()
            },
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("--sparse"), "{err}");
    // Damage is caught (by the CRC or the stream's checks), never a panic.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x21;
        assert!(codec.decode_rgb(&b).is_err(), "flip at byte {i} accepted");
    }
    for n in 0..bytes.len() {
        assert!(
            codec.decode_rgb(&bytes[..n]).is_err(),
            "cut at {n} accepted"
        );
    }
}

/// The committed files of the default level (`samples/aec/whole-image`, made by `aec
/// compress samples/images/*.png --out-dir samples/aec/whole-image`) decode through the
/// library to the PSNR that `docs/reproduction.md` reports, and stay decodable when later
/// levels replace the one that made them.
#[test]
fn default_level_samples_decode_to_their_reported_psnr() {
    for (stem, bytes, psnr) in [
        ("cifar-test-0000-cat", 139, 25.73),
        ("cifar-test-0001-ship", 132, 26.85),
        ("cifar-test-0002-ship", 111, 28.23),
        ("cifar-test-0003-airplane", 122, 27.06),
        ("kodim23", 9929, 33.78),
    ] {
        let file = std::fs::read(format!("samples/aec/whole-image/{stem}.aec")).unwrap();
        assert_eq!(file.len(), bytes, "{stem}");
        let decoded = aec::codec::decompress(&file).unwrap();
        let original = sample(&format!("{stem}.png")).to_rgb8();
        let got = psnr_rgb8(&original, &decoded.to_rgb8());
        assert!(
            (got - psnr).abs() < 0.005,
            "{stem}: {got:.3} dB, reported {psnr}"
        );
    }
}
