//! The whole-image hyperprior family through the `aec` binary: training, compression,
//! decompression, inspection. Models here are tiny (N = 4, M = 6) and barely trained: these
//! tests are about the plumbing, the files and the errors, not the quality.

use std::path::{Path, PathBuf};

use aec::model::hyper::file::HyperModel;
use aec::model::hyper::{HyperConfig, HyperWeights};
use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;
use predicates::prelude::*;

mod common;
use common::{aec, run_measured};

const KODIM: &str = "samples/images/kodim23.png";
const CAT: &str = "samples/images/cifar-test-0000-cat.png";

/// A folder holding one photo, for training.
fn photo_folder(dir: &Path) -> PathBuf {
    let data = dir.join("photos");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(KODIM, data.join("a.png")).unwrap();
    data
}

/// `aec train-hyper` of a tiny model (N = 4, M = 6) on crops of 64², two a batch, a checkpoint
/// every two steps, resuming.
fn tiny_training(data: &Path, out: &Path, steps: &str) -> Command {
    let mut cmd = aec();
    cmd.args(["train-hyper", "--lambda", "0.01", "--n", "4", "--m", "6"])
        .args([
            "--crop",
            "64",
            "--batch-size",
            "2",
            "--every",
            "2",
            "--resume",
        ])
        .args(["--steps", steps, "--data"])
        .arg(data)
        .arg("--out")
        .arg(out);
    cmd
}

fn tiny_model(dir: &Path, seed: u64) -> PathBuf {
    let w = HyperWeights::init(HyperConfig::new(4, 6), seed);
    let path = dir.join(format!("tiny-{seed}.safetensors"));
    std::fs::write(&path, HyperModel::from_weights(w, 0.01).unwrap().to_bytes()).unwrap();
    path
}

#[test]
fn compress_decompress_inspect_with_a_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path(), 1);
    for (input, size) in [(KODIM, "768x512"), (CAT, "32x32")] {
        let file = dir.path().join("out.aec");
        let png = dir.path().join("out.png");
        aec()
            .args(["compress", input, "--force", "--verify", "--model"])
            .arg(&model)
            .arg("-o")
            .arg(&file)
            .assert()
            .success()
            .stderr(predicate::str::contains(size).and(predicate::str::contains("PSNR")));
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!((bytes[4], bytes[5]), (2, 2), "version 2, kind 2");
        aec()
            .args(["decompress", "--force", "--model"])
            .arg(&model)
            .arg(&file)
            .arg("-o")
            .arg(&png)
            .assert()
            .success();
        let decoded = image::open(&png).unwrap();
        assert_eq!(
            format!("{}x{}", decoded.width(), decoded.height()),
            size,
            "the decoded image has the source's size"
        );
        aec()
            .arg("inspect")
            .arg(&file)
            .assert()
            .success()
            .stdout(predicate::str::contains("WholeImageHyperprior"));
        aec()
            .args(["inspect", "--model"])
            .arg(&model)
            .arg(&file)
            .assert()
            .success()
            .stdout(
                predicate::str::contains("escaped_values:")
                    .and(predicate::str::contains("ideal_bytes_y:")),
            );
    }
    aec()
        .args(["model", "info"])
        .arg(&model)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("N = 4, M = 6").and(predicate::str::contains("λ:      0.01")),
        );
}

#[test]
fn decompress_finds_the_model_in_a_folder_and_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let model = tiny_model(&models, 2);
    let other = tiny_model(dir.path(), 3);
    let file = dir.path().join("cat.aec");
    aec()
        .args(["compress", CAT, "--model"])
        .arg(&model)
        .arg("-o")
        .arg(&file)
        .assert()
        .success();
    aec()
        .args(["decompress", "--model-dir"])
        .arg(&models)
        .arg(&file)
        .arg("-o")
        .arg(dir.path().join("a.png"))
        .assert()
        .success();
    aec()
        .args(["decompress", "--model"])
        .arg(&other)
        .arg(&file)
        .arg("-o")
        .arg(dir.path().join("b.png"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("no model with id"));
    assert!(!dir.path().join("b.png").exists(), "no output on failure");
}

#[test]
fn train_hyper_writes_resumes_and_feeds_compress() {
    let dir = tempfile::tempdir().unwrap();
    let data = photo_folder(dir.path());
    let out = dir.path().join("h.safetensors");
    let train = |steps: &str| tiny_training(&data, &out, steps);
    train("2").assert().success();
    let log = std::fs::read_to_string(dir.path().join("h.safetensors.csv")).unwrap();
    assert_eq!(log.lines().count(), 2, "header and one row: {log}");
    train("4")
        .assert()
        .success()
        .stderr(predicate::str::contains("step       4"));
    let log = std::fs::read_to_string(dir.path().join("h.safetensors.csv")).unwrap();
    assert!(log.lines().nth(2).unwrap().starts_with("4,"), "{log}");
    aec()
        .args(["compress", CAT, "--model"])
        .arg(&out)
        .arg("-o")
        .arg(dir.path().join("cat.aec"))
        .assert()
        .success();
    // A crop that is not a multiple of 64 is refused before any work.
    aec()
        .args(["train-hyper", "--lambda", "0.01", "--crop", "100", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("bad.safetensors"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("multiple of 64"));
    // Flat-coloured rectangles over a fraction of the batches: said, and trained with; a
    // fraction outside 0 to 1 is refused.
    let shapes = dir.path().join("shapes.safetensors");
    tiny_training(&data, &shapes, "2")
        .args(["--shape-fraction", "0.5"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "rectangles over the crops of 50% of the batches",
        ));
    assert!(shapes.exists());
    tiny_training(&data, &dir.path().join("no.safetensors"), "2")
        .args(["--shape-fraction", "1.5"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a fraction from 0 to 1"));
    // Products in bfloat16: run, and said, by the CPU's bfloat16 kernel where it has one, in
    // f32 elsewhere; refused on burn's devices.
    let bf16 = dir.path().join("bf16.safetensors");
    use aec::model::hyper::cpu::bf16::{kernel, Kernel};
    let said = match kernel(aec::cpu_path::Path::detect()) {
        Some(Kernel::Amx) => "products in bfloat16 on AMX tiles",
        Some(Kernel::Dot) => "products in bfloat16 by AVX-512 BF16",
        None => "products in f32 (no AMX-BF16 or AVX-512 BF16 here)",
    };
    tiny_training(&data, &bf16, "2")
        .arg("--bf16")
        .assert()
        .success()
        .stderr(predicate::str::contains(said));
    assert!(bf16.exists());
    aec()
        .args([
            "train-hyper",
            "--lambda",
            "0.01",
            "--bf16",
            "--device",
            "flex",
            "--data",
        ])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("flex.safetensors"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("needs --device cpu"));
}

/// `--means` turns a scale-only model into a mean-scale one, and `--context` that into one with
/// a checkerboard context; each trains, says what it is, codes (with `--refine` too) and
/// decodes.
#[test]
fn train_hyper_adds_means_to_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = photo_folder(dir.path());
    let init = tiny_model(dir.path(), 4);
    let means = dir.path().join("ms.safetensors");
    let context = dir.path().join("ctx.safetensors");
    for (from, flag, out, kind) in [
        (&init, "--means", &means, "mean-scale hyperprior"),
        (&means, "--context", &context, "checkerboard context"),
    ] {
        tiny_training(&data, out, "2")
            .arg("--init")
            .arg(from)
            .arg(flag)
            .assert()
            .success();
        aec()
            .args(["model", "info"])
            .arg(out)
            .assert()
            .success()
            .stdout(predicate::str::contains(kind));
        let file = dir.path().join("k.aec");
        aec()
            .args([
                "compress", KODIM, "--verify", "--refine", "2", "--force", "--model",
            ])
            .arg(out)
            .arg("-o")
            .arg(&file)
            .assert()
            .success()
            .stderr(predicate::str::contains("PSNR"));
        aec()
            .args(["decompress", "--force", "--model"])
            .arg(out)
            .arg(&file)
            .arg("-o")
            .arg(dir.path().join("k.png"))
            .assert()
            .success();
    }
}

/// Memory of a large image with a model of the default size (N = 64, M = 96) and of the
/// larger network of the levels from 4.5 up (N = 128, M = 192): the transforms run in
/// regions, so the peak grows with the image's own bytes and its latents, not with the
/// feature maps (one map of a 2048² image at half resolution is 64 MB at N = 64; without
/// regions the synthesis would hold several, and its convolutions' patch matrices, over
/// 1 GB).
#[test]
fn large_images_code_in_bounded_memory() {
    for context in [false, true] {
        bounded_memory(HyperConfig::default().with_context(context), 16);
    }
    let large = HyperConfig::new(128, 192).with_means(true);
    bounded_memory(large.with_context(true), 20);
}

/// Codes a 2048² image with a fresh model of `config` within the README's bound of 250 MB
/// and `per_pixel` bytes a pixel.
fn bounded_memory(config: HyperConfig, per_pixel: u64) {
    let dir = tempfile::tempdir().unwrap();
    let w = HyperWeights::init(config, 4);
    let model = dir.path().join("m.safetensors");
    std::fs::write(
        &model,
        HyperModel::from_weights(w, 0.01).unwrap().to_bytes(),
    )
    .unwrap();
    let side = 2048u32;
    let src = dir.path().join("big.png");
    image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x / 7) as u8, (y / 5) as u8, ((x + y) % 251) as u8])
    })
    .save(&src)
    .unwrap();
    let file = dir.path().join("big.aec");
    let pixels = u64::from(side * side);
    // The README's bound: 250 MB for the model and the regions the transforms see at once
    // (a 2048² image is 16 of them), and bytes a pixel for the source and the output (3
    // each), their encoders' buffers, and the coding's arrays of 16 to 25 bytes a latent
    // (M / 256 latents a pixel: 0.375 at M = 96, 0.75 at M = 192).
    let bound = 250_000_000 + per_pixel * pixels;
    let mut cmd = std::process::Command::cargo_bin("aec").unwrap();
    cmd.arg("compress")
        .arg(&src)
        .arg("--model")
        .arg(&model)
        .arg("-o")
        .arg(&file);
    let (code, err, peak) = run_measured(cmd);
    assert_eq!(code, 0, "{err}");
    eprintln!("compress {side}², {}: peak {peak} bytes", config.kind());
    assert!(peak < bound, "compress peaked at {peak} bytes");
    let mut cmd = std::process::Command::cargo_bin("aec").unwrap();
    cmd.arg("decompress").arg(&file).arg("--model").arg(&model);
    cmd.arg("-o").arg(dir.path().join("out.png"));
    let (code, err, peak) = run_measured(cmd);
    assert_eq!(code, 0, "{err}");
    eprintln!("decompress {side}², {}: peak {peak} bytes", config.kind());
    assert!(peak < bound, "decompress peaked at {peak} bytes");
}

/// A run stopped and resumed writes the same model file, byte for byte, as one that ran
/// straight through (batches and noise are drawn from the seed and the step; the checkpoint
/// holds Adam's state).
#[test]
fn resumed_training_equals_uninterrupted_training() {
    let dir = tempfile::tempdir().unwrap();
    let data = photo_folder(dir.path());
    let train = |out: &Path, steps: &str| {
        tiny_training(&data, out, steps)
            .env("RAYON_NUM_THREADS", "2")
            .assert()
            .success();
    };
    let straight = dir.path().join("straight.safetensors");
    train(&straight, "4");
    let resumed = dir.path().join("resumed.safetensors");
    train(&resumed, "2");
    train(&resumed, "4");
    assert_eq!(
        std::fs::read(&straight).unwrap(),
        std::fs::read(&resumed).unwrap()
    );
}

/// `--refine` with the built-in default on a crop of a photo: the loss it reports falls, the
/// file decodes, and models without whole-image latents refuse the setting.
#[test]
fn refine_lowers_the_loss_of_the_built_in_model() {
    let dir = tempfile::tempdir().unwrap();
    let crop = dir.path().join("crop.png");
    image::open(KODIM)
        .unwrap()
        .crop_imm(300, 100, 160, 128)
        .save(&crop)
        .unwrap();
    let out = dir.path().join("crop.aec");
    let assert = aec()
        .args(["compress", "--refine", "8", "--verify", "-o"])
        .arg(&out)
        .arg(&crop)
        .assert()
        .success();
    let line = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let losses: Vec<f64> = line
        .split("refined: loss ")
        .nth(1)
        .expect("a refinement report")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(losses[1] < losses[0], "{line}");
    aec()
        .arg("decompress")
        .arg(&out)
        .arg("-o")
        .arg(dir.path().join("crop.out.png"))
        .assert()
        .success();
    aec()
        .args(["compress", "--model", "tiled-q3", "--refine", "4", "-o"])
        .arg(dir.path().join("t.aec"))
        .arg(&crop)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--refine applies to the whole-image models",
        ));
}

/// The crop of Kodak 23 the fixtures below code, unless they say otherwise.
const CROP: &str = "tests/fixtures/kodim23-crop.png";

/// Models, the stems of their committed files of [`CROP`], and the compression settings that
/// made them.
const FIXTURES: &[(&str, &str, &[&str])] = &[
    (
        "samples/model/hyper/scale-only/q3.safetensors",
        "tests/fixtures/kodim23-crop-q3",
        &[],
    ),
    // A checkerboard context: its two passes and integer context networks.
    (
        "samples/model/hyper/context-v1/q3.safetensors",
        "tests/fixtures/kodim23-crop-ctx-q3",
        &[],
    ),
    // A quantization step (kind 3): levels and values of the scaled step.
    (
        "samples/model/hyper/context-v1/q3.safetensors",
        "tests/fixtures/kodim23-crop-ctx-q3-step",
        &["--step", "0.75"],
    ),
    // The published size (N = 128, M = 192): the analysis's Winograd points in 16-bit
    // products, the integer networks' larger sums. Made with the first level 9, kept as
    // `context-v1-q9`.
    (
        "samples/model/hyper/context-v1/q9.safetensors",
        "tests/fixtures/kodim23-crop-q9",
        &[],
    ),
    // Exact blocks (kind bit 6): a screenshot with the crop in it, its flat blocks stored
    // exactly over the lossy decode.
    (
        "samples/model/hyper/context-v1/q3.safetensors",
        "tests/fixtures/mixed-blocks",
        &["tests/fixtures/mixed.png", "--target-size", "4500"],
    ),
    // The same blocks in a reduced palette (NeuQuant's colours, then the bitstream).
    (
        "samples/model/hyper/context-v1/q3.safetensors",
        "tests/fixtures/mixed-palette-blocks",
        &["tests/fixtures/mixed.png", "--target-size", "3000"],
    ),
];

/// Coding gives the same bits on every machine, instruction set and thread count: compressing
/// the committed crop of Kodak 23 with a committed model gives the committed file, and
/// decoding it gives the committed pixels, on the portable, AVX2 and AVX-512 paths (a path the
/// CPU lacks runs the widest it has), on 1 and 16 threads. (The fixtures were made on other
/// machines than most that run this.)
#[test]
fn coding_gives_the_same_bits_everywhere() {
    for (model, stem, settings) in FIXTURES {
        same_bits_everywhere(model, stem, settings);
    }
}

fn same_bits_everywhere(model: &str, stem: &str, settings: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (aec_file, ppm_file) = (format!("{stem}.aec"), format!("{stem}.ppm"));
    let want_file = std::fs::read(&aec_file).unwrap();
    let want_pixels = std::fs::read(&ppm_file).unwrap();
    for path in ["portable", "avx2", "avx512", "amx"] {
        for threads in ["1", "16"] {
            let (file, ppm) = (dir.path().join("a.aec"), dir.path().join("a.ppm"));
            let run = |args: &[&std::ffi::OsStr]| {
                aec()
                    .env("AEC_CPU_PATH", path)
                    .env("RAYON_NUM_THREADS", threads)
                    .args(args)
                    .args(["--model", model, "--force"])
                    .assert()
                    .success();
            };
            // A setting ending in `.png` names the input instead of the crop.
            let input = settings
                .iter()
                .find(|s| s.ends_with(".png"))
                .unwrap_or(&CROP);
            let mut args: Vec<&std::ffi::OsStr> = vec![
                "compress".as_ref(),
                input.as_ref(),
                "-o".as_ref(),
                file.as_os_str(),
            ];
            let rest = settings.iter().filter(|s| !s.ends_with(".png"));
            args.extend(rest.map(std::ffi::OsStr::new));
            run(&args);
            assert!(
                std::fs::read(&file).unwrap() == want_file,
                "{model}, {path}, {threads} threads: file"
            );
            run(&[
                "decompress".as_ref(),
                aec_file.as_ref(),
                "-o".as_ref(),
                ppm.as_os_str(),
            ]);
            let pixels = std::fs::read(&ppm).unwrap();
            assert!(
                pixels == want_pixels,
                "{model}, {path}, {threads} threads: pixels"
            );
        }
    }
}

/// The bytes and the output line of `aec compress CROP ARGS --verify`.
fn compress_crop(out: &Path, args: &[&str]) -> (Vec<u8>, String) {
    let assert = aec()
        .args([
            "compress",
            "tests/fixtures/kodim23-crop.png",
            "--verify",
            "-f",
            "-o",
        ])
        .arg(out)
        .args(args)
        .assert()
        .success();
    let line = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    (std::fs::read(out).unwrap(), line)
}

/// The PSNR an output line reports.
fn psnr_of(line: &str) -> f64 {
    let after = line.split("PSNR ").nth(1).expect("a PSNR");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// `--quality` between levels codes with a finer step of the lower level (kind 3 files that
/// decode and say their step); `--target-size` and `--target-psnr` find a setting that meets
/// them or fail without writing anything.
#[test]
fn quality_fractions_and_targets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.aec");
    let (q2, _) = compress_crop(&out, &["-Q", "2"]);
    let (q3, _) = compress_crop(&out, &["-Q", "3"]);
    let (half, line) = compress_crop(&out, &["-Q", "2.5"]);
    assert!(line.contains("quality 2.5 (level 2, step 0.84)"), "{line}");
    assert_eq!((q2[5], q3[5], half[5]), (2, 2, 3), "kind bytes");
    assert!(half.len() > q2.len(), "{} {}", half.len(), q2.len());
    aec().args(["inspect"]).arg(&out).assert().success().stdout(
        predicate::str::contains("quantization_step:       0.83984375")
            .and(predicate::str::contains("quality:                 2.5")),
    );
    aec()
        .arg("decompress")
        .arg(&out)
        .arg("-o")
        .arg(dir.path().join("c.png"))
        .assert()
        .success();

    let size = q3.len().to_string();
    let (fit_builtin, line) = compress_crop(&out, &["--target-size", &size]);
    assert!(
        fit_builtin.len() <= q3.len() && line.contains("quality "),
        "{line}"
    );
    let (_, line) = compress_crop(&out, &["-Q", "3"]);
    let want = psnr_of(&line) - 0.5;
    let (_, line) = compress_crop(&out, &["--target-psnr", &format!("{want:.2}")]);
    assert!(psnr_of(&line) >= want - 0.005, "{want}: {line}");

    // One model file: its steps.
    let (fit, line) = compress_crop(
        &out,
        &[
            "--target-size",
            &size,
            "--model",
            "samples/model/hyper/q3.safetensors",
        ],
    );
    assert!(fit.len() <= q3.len() && line.contains(", step "), "{line}");
    // Several inputs side by side, each its own search.
    let many = dir.path().join("many");
    std::fs::create_dir(&many).unwrap();
    let inputs: Vec<PathBuf> = (0..4).map(|i| many.join(format!("{i}.png"))).collect();
    for p in &inputs {
        std::fs::copy("tests/fixtures/kodim23-crop.png", p).unwrap();
    }
    aec()
        .args(["compress", "--target-size", &size, "--out-dir"])
        .arg(&many)
        .args(&inputs)
        .env("RAYON_NUM_THREADS", "16")
        .assert()
        .success();
    for p in &inputs {
        let bytes = std::fs::read(p.with_extension("aec")).unwrap();
        assert_eq!(bytes, fit_builtin, "{}", p.display());
    }

    let none = dir.path().join("none.aec");
    let fail = |args: &[&str], message: &str| {
        aec()
            .args(["compress", "tests/fixtures/kodim23-crop.png", "-o"])
            .arg(&none)
            .args(args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(message));
        assert!(!none.exists(), "{args:?} wrote nothing");
    };
    fail(
        &["--target-size", "10"],
        "cannot reach a file of at most 10 bytes",
    );
    // (A lossless file reaches any PSNR: tests/lossless.rs.)
    fail(
        &["--target-psnr", "80", "--no-lossless"],
        "cannot reach a PSNR of at least 80 dB",
    );
    fail(
        &["--target-size", "900", "--model", "reference"],
        "need a whole-image model",
    );
    fail(&["-Q", "20"], "quality 20 is outside");
    fail(
        &["-Q", "2.5", "--step", "0.8"],
        "--step takes a whole-number --quality",
    );
    fail(&["--step", "40"], "quantization step 40 is outside");
    fail(
        &["--step", "1.5", "--model", "reference"],
        "a quantization step applies",
    );
}
