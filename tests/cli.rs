//! The `aec` binary, end to end.

use std::path::Path;

mod common;
use common::aec;
use predicates::prelude::*;

const CAT: &str = "samples/images/cifar-test-0000-cat.png";
const SHIP: &str = "samples/images/cifar-test-0001-ship.png";

#[test]
fn compress_inspect_decompress() {
    let dir = tempfile::tempdir().unwrap();
    let aec_path = dir.path().join("cat.aec");
    let png = dir.path().join("cat.png");
    aec()
        .args(["compress", CAT, "--model", "reference", "-o"])
        .arg(&aec_path)
        .arg("--verify")
        .assert()
        .success()
        .stderr(predicate::str::contains("292 bytes").and(predicate::str::contains("PSNR")));
    aec()
        .arg("inspect")
        .arg(&aec_path)
        .assert()
        .success()
        .stdout(predicate::str::contains("32x32").and(predicate::str::contains("built-in model")));
    let json = aec()
        .arg("inspect")
        .arg(&aec_path)
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["code_length"], 128);
    assert_eq!(v["precision"], "f16");
    aec()
        .arg("decompress")
        .arg(&aec_path)
        .arg("-o")
        .arg(&png)
        .assert()
        .success();
    assert_eq!(image::open(&png).unwrap().to_rgb8().dimensions(), (32, 32));
}

#[test]
fn many_inputs_with_out_dir_and_stdio() {
    let dir = tempfile::tempdir().unwrap();
    aec()
        .args([
            "compress",
            CAT,
            "samples/images/cifar-test-0001-ship.png",
            "--out-dir",
        ])
        .arg(dir.path())
        .assert()
        .success();
    assert_eq!(
        tree(dir.path()),
        ["cifar-test-0000-cat.aec", "cifar-test-0001-ship.aec"]
    );
    let out = aec()
        .args(["compress", "-", "-o", "-"])
        .pipe_stdin(CAT)
        .unwrap()
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(dir.path().join("cifar-test-0000-cat.aec")).unwrap(),
        out.stdout
    );
    let png = aec()
        .args(["decompress", "-", "-o", "-"])
        .write_stdin(out.stdout)
        .output()
        .unwrap();
    assert!(png.status.success());
    assert_eq!(&png.stdout[..8], b"\x89PNG\r\n\x1a\n");
}

/// Every path under `dir` that is a file, relative to it, in order.
fn tree(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn folders_stand_for_their_files_and_out_dir_mirrors_them() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("trip/day 1")).unwrap();
    std::fs::copy(CAT, photos.join("cat.png")).unwrap();
    std::fs::copy(CAT, photos.join("trip/day 1/cat.png")).unwrap();
    std::fs::copy(SHIP, photos.join("trip/ship.PNG")).unwrap();
    std::fs::write(photos.join("trip/notes.txt"), "not an image").unwrap();
    // A link to an image counts; a link back up the tree is not followed.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(photos.join("cat.png"), photos.join("trip/linked.png")).unwrap();
        std::os::unix::fs::symlink(&photos, photos.join("trip/up")).unwrap();
    }
    let (compressed, decoded) = (dir.path().join("compressed"), dir.path().join("decoded"));
    aec()
        .arg("compress")
        .arg(&photos)
        .arg("--out-dir")
        .arg(&compressed)
        .assert()
        .success();
    let mut stems = vec!["cat", "trip/day 1/cat", "trip/ship"];
    if cfg!(unix) {
        stems.insert(2, "trip/linked");
    }
    let named = |ext: &str| -> Vec<String> { stems.iter().map(|s| format!("{s}.{ext}")).collect() };
    assert_eq!(tree(&compressed), named("aec"));
    let alone = dir.path().join("alone.aec");
    aec()
        .args(["compress", CAT, "-o"])
        .arg(&alone)
        .assert()
        .success();
    let nested = std::fs::read(compressed.join("trip/day 1/cat.aec")).unwrap();
    assert_eq!(nested, std::fs::read(&alone).unwrap());
    aec()
        .arg("decompress")
        .arg(&compressed)
        .arg("--out-dir")
        .arg(&decoded)
        .assert()
        .success();
    assert_eq!(tree(&decoded), named("png"));
    // Without --out-dir each output lands beside its input.
    aec()
        .arg("compress")
        .arg(photos.join("trip"))
        .assert()
        .success();
    assert!(photos.join("trip/day 1/cat.aec").is_file());
    assert!(photos.join("trip/ship.aec").is_file());
    assert!(!photos.join("cat.aec").exists());
    // A folder with nothing to code is an error that names it.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    aec()
        .arg("decompress")
        .arg(&empty)
        .assert()
        .failure()
        .stderr(predicate::str::contains("empty").and(predicate::str::contains("no .aec files")));
}

#[test]
fn inputs_that_would_share_an_output_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for d in [&a, &b] {
        std::fs::create_dir(d).unwrap();
        std::fs::copy(CAT, d.join("x.png")).unwrap();
    }
    std::fs::copy(CAT, a.join("x.bmp")).unwrap();
    let out = dir.path().join("out");
    let pairs = [
        (a.join("x.png"), b.join("x.png")),
        (a.join("x.png"), a.join("x.bmp")),
    ];
    for (first, second) in pairs {
        aec()
            .arg("compress")
            .arg(&first)
            .arg(&second)
            .args(["--force", "--out-dir"])
            .arg(&out)
            .assert()
            .failure()
            .stderr(predicate::str::contains("would both be written to"));
        assert!(!out.join("x.aec").exists());
    }
    // Beside their inputs they do not collide.
    aec()
        .arg("compress")
        .arg(a.join("x.png"))
        .arg(b.join("x.png"))
        .assert()
        .success();
}

#[test]
fn one_bad_input_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    aec()
        .args(["compress", CAT, "no-such-image.png", "--out-dir"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("no-such-image.png")
                .and(predicate::str::contains("1 of 2 inputs failed")),
        );
    assert_eq!(tree(dir.path()), ["cifar-test-0000-cat.aec"]);
}

#[test]
fn errors_are_clear_and_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.aec");
    aec()
        .args(["compress", CAT, "--model", "reference", "-o"])
        .arg(&good)
        .assert()
        .success();
    let bytes = std::fs::read(&good).unwrap();

    // Existing output without --force: refused, left as it was.
    aec()
        .args(["compress", CAT, "-o"])
        .arg(&good)
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists").and(predicate::str::contains("--force")));
    aec()
        .args(["compress", CAT, "--model", "reference", "--force", "-o"])
        .arg(&good)
        .assert()
        .success();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.aec",
            bytes[..bytes.len() - 10].to_vec(),
            "truncated",
        ),
        (
            "corrupt.aec",
            {
                let mut b = bytes.clone();
                b[100] ^= 0x40;
                b
            },
            "crc mismatch",
        ),
        (
            "wrong-model.aec",
            {
                // Another model id with a correct CRC.
                let mut b = bytes.clone();
                b[8] ^= 0xff;
                let n = b.len() - 4;
                let crc = crc32(&b[..n]);
                b[n..].copy_from_slice(&crc.to_le_bytes());
                b
            },
            "no model with id",
        ),
    ];
    for (name, content, message) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, content).unwrap();
        let out = dir.path().join(format!("{name}.png"));
        aec()
            .arg("decompress")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .assert()
            .failure()
            .stderr(
                predicate::str::contains(name)
                    .and(predicate::str::contains(message))
                    .and(predicate::str::contains("panicked").not()),
            );
        assert!(!out.exists(), "{name} left an output");
    }
    aec()
        .args(["decompress", "missing.aec", "-o"])
        .arg(dir.path().join("m.png"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("missing.aec"));
    assert!(!dir.path().join("m.png").exists());
    // No temp files are left behind either.
    assert!(tree(dir.path()).iter().all(|f| !f.ends_with(".tmp")));
}

#[test]
fn model_info_and_model_dir() {
    let dir = tempfile::tempdir().unwrap();
    aec()
        .args(["model", "info", "samples/model/aec-128.safetensors"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("4035808").and(predicate::str::contains("code length: 128")),
        );
    // A file that is not a model is a clear error.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}").unwrap();
    aec()
        .args(["model", "info"])
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains("bad.safetensors"));
    // A file made with a model from --model decodes only when that model can be found.
    let f32_model = dir.path().join("models");
    std::fs::create_dir(&f32_model).unwrap();
    let m = f32_model.join("aec-128-f32.safetensors");
    aec()
        .args([
            "model",
            "convert",
            "--precision",
            "f32",
            "samples/model/aec-128.safetensors",
        ])
        .arg(&m)
        .assert()
        .success();
    std::fs::remove_file(&bad).unwrap();
    let file = dir.path().join("cat.aec");
    aec()
        .args(["compress", CAT, "--model"])
        .arg(&m)
        .arg("-o")
        .arg(&file)
        .assert()
        .success();
    let out = dir.path().join("cat.png");
    aec()
        .arg("decompress")
        .arg(&file)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("no model with id"));
    assert!(!out.exists());
    aec()
        .arg("decompress")
        .arg(&file)
        .arg("-o")
        .arg(&out)
        .arg("--model-dir")
        .arg(&f32_model)
        .assert()
        .success();
    assert!(out.exists());
}

/// CRC-32 (IEEE), bitwise, to forge test inputs independently of the library.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `aec rd` over every built-in model holds one model's kernels at a time: loaded all at once,
/// they took 3.3 GB; one at a time the largest (Q9's network) and the run's own buffers fit
/// well under 1 GB.
#[test]
fn rd_of_every_built_in_model_holds_one_at_a_time() {
    use assert_cmd::cargo::CommandCargoExt;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::cargo_bin("aec").unwrap();
    cmd.args([
        "rd",
        "--builtin",
        "--no-baselines",
        "--data",
        CAT,
        "--out-dir",
    ])
    .arg(dir.path());
    let (code, err, peak) = common::run_measured(cmd);
    assert_eq!(code, 0, "{err}");
    eprintln!("rd of every built-in model: peak {peak} bytes");
    assert!(peak < 1_000_000_000, "rd peaked at {peak} bytes");
}

#[test]
fn rd_writes_table_csv_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rd");
    aec()
        .args([
            "rd",
            "--data",
            CAT,
            "samples/images/cifar-test-0003-airplane.png",
            "--model",
            "shipped=samples/model/aec-128.safetensors",
            "--builtin",
            "--precision",
            "f16",
            "--sparse",
            "0.1",
            "--jpeg",
            "50",
            "--webp",
            "50",
            "--mark-reference",
            "--out-dir",
        ])
        .arg(&out)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("| built-in f16 | 292.0 |")
                .and(predicate::str::contains("| shipped f16 | 292.0 |"))
                .and(predicate::str::contains("| shipped f16 sparse≤0.1 |"))
                .and(predicate::str::contains("| JPEG q50 |")),
        );
    assert_eq!(tree(&out), ["rd.csv", "rd.md", "rd.png"]);
    let csv = std::fs::read_to_string(out.join("rd.csv")).unwrap();
    // Labelled models form their own curves; unlabelled ones join the `aec` curves.
    assert!(csv.contains("\nshipped f16 sparse,shipped f16 sparse≤0.1,128,"));
    assert!(csv.contains("\naec f16,built-in f16,128,"));
    // --builtin adds the notebook's model (two rows), the four tiled levels, the nine whole
    // qualities (5 and 6 level 7 at coarser steps), the two levels they displace, and the eight
    // families of previous ones (six, five, nine, nine, nine, seven, five and three; one row each, with the
    // ideal entropy coder's bytes in the last column). (AVIF and JPEG XL rows come too where
    // their tools are installed: not counted here.)
    let rows = csv
        .lines()
        .filter(|l| !l.starts_with("AVIF,") && !l.starts_with("JPEG XL,"))
        .count();
    assert_eq!(rows, 1 + 6 + 4 + 9 + 2 + 6 + 5 + 9 + 9 + 9 + 7 + 5 + 3);
    let families = [
        ("entropy", "tiled Q", &[1, 2, 3, 4][..]),
        ("hyperprior", "Q", &[1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ("narrow hyperprior", "narrow Q", &[5, 6]),
        // The previous levels make curves of their own.
        ("mean-scale hyperprior", "mean-scale Q", &[1, 2, 3, 4, 5, 6]),
        ("scale-only hyperprior", "scale-only Q", &[1, 2, 3, 4, 5]),
        (
            "context-v1 hyperprior",
            "context-v1 Q",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9],
        ),
        (
            "context-v2 hyperprior",
            "context-v2 Q",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9],
        ),
        (
            "context-v3 hyperprior",
            "context-v3 Q",
            &[1, 2, 3, 4, 5, 6, 7, 8, 9],
        ),
        (
            "context-v4 hyperprior",
            "context-v4 Q",
            &[1, 2, 3, 4, 5, 6, 7],
        ),
        ("context-v5 hyperprior", "context-v5 Q", &[1, 2, 3, 4, 7]),
        ("context-v6 hyperprior", "context-v6 Q", &[2, 4, 7]),
    ];
    for (family, name, levels) in families {
        for &q in levels {
            let row = csv
                .lines()
                .find(|l| l.starts_with(&format!("aec {family},aec {name}{q},")))
                .unwrap_or_else(|| panic!("no row for {name}{q}: {csv}"));
            let ideal = !row.ends_with(',');
            assert_eq!(
                ideal,
                family == "entropy",
                "ideal bytes of {name}{q}: {row}"
            );
        }
    }
    let md = std::fs::read_to_string(out.join("rd.md")).unwrap();
    assert!(md.contains("| aec entropy | JPEG |"), "{md}");
    image::open(out.join("rd.png")).unwrap();
    // A missing model file is named.
    aec()
        .args([
            "rd",
            "--data",
            CAT,
            "--model",
            "x=missing.safetensors",
            "--out-dir",
        ])
        .arg(dir.path().join("none"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("missing.safetensors"));
}

/// `aec rd --per-image` writes every image's result at every setting beside the table, and
/// the table's means are theirs; `--baselines` picks the baselines.
#[test]
fn rd_writes_each_images_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rd");
    aec()
        .args([
            "rd",
            "--data",
            CAT,
            "samples/images/cifar-test-0003-airplane.png",
        ])
        .args([
            "--model",
            "q1=samples/model/hyper/q1.safetensors",
            "--step",
            "0.8",
        ])
        .args([
            "--baselines",
            "webp",
            "--webp",
            "50",
            "--per-image",
            "--out-dir",
        ])
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("images.csv"));
    assert_eq!(tree(&out), ["images.csv", "rd.csv", "rd.md", "rd.png"]);
    let images = std::fs::read_to_string(out.join("images.csv")).unwrap();
    let rows: Vec<Vec<&str>> = images.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0][..3], ["family", "setting", "image"]);
    // Three settings (the model at its own step and at 0.8, WebP q50), two images each.
    assert_eq!(rows.len(), 7, "{images}");
    assert_eq!(rows[1][2], "cifar-test-0000-cat.png");
    assert_eq!(rows[2][2], "cifar-test-0003-airplane.png");
    let table = std::fs::read_to_string(out.join("rd.csv")).unwrap();
    // Only the baseline asked for, though JPEG, AVIF and JPEG XL have default qualities.
    assert!(
        !table.contains("\nJPEG") && !table.contains("\nAVIF"),
        "{table}"
    );
    for setting in ["q1", "q1 step 0.8", "WebP q50"] {
        let each: Vec<f64> = (rows.iter().filter(|r| r[1] == setting))
            .map(|r| r[5].parse().unwrap())
            .collect();
        let row = (table.lines().find(|l| l.split(',').nth(1) == Some(setting)))
            .unwrap_or_else(|| panic!("no row {setting}: {table}"));
        let mean: f64 = row.split(',').nth(3).unwrap().parse().unwrap();
        assert_eq!(each.len(), 2);
        assert!(
            (each.iter().sum::<f64>() / 2.0 - mean).abs() < 0.01,
            "{setting}"
        );
    }
}

/// `aec rd --quality` measures built-in qualities between (and past) the levels on the `aec`
/// curve, and `--step` each whole-image model at other steps, one curve per step.
#[test]
fn rd_measures_qualities_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rd");
    aec()
        .args(["rd", "--data", CAT, "--no-baselines", "--quality", "1.5"])
        .args(["--quality", "7", "--step", "0.8", "--model"])
        .args(["samples/model/hyper/q1.safetensors", "--out-dir"])
        .arg(&out)
        .assert()
        .success();
    let csv = std::fs::read_to_string(out.join("rd.csv")).unwrap();
    let bytes = |family: &str, name: &str| -> f64 {
        let row = (csv.lines())
            .find(|l| l.starts_with(&format!("{family},{name},")))
            .unwrap_or_else(|| panic!("no row {family},{name}: {csv}"));
        row.split(',').nth(3).unwrap().parse().unwrap()
    };
    let q1 = bytes("aec hyperprior", "q1");
    assert!(bytes("aec hyperprior", "aec Q1.5") > q1);
    assert!(bytes("aec step 0.8 hyperprior", "q1 step 0.8") > q1);
    bytes("aec hyperprior", "aec Q7");
    // A quality between levels has its own step.
    assert!(!csv.contains("Q1.5 step"), "{csv}");
    // Only the qualities asked for: no whole level without --builtin.
    assert!(!csv.contains("aec Q5"), "{csv}");

    // --anchor: each model's BD-rate over its steps against the anchor's; the anchor is named.
    let anchored = dir.path().join("anchored");
    aec()
        .args([
            "rd",
            "--data",
            CAT,
            "--no-baselines",
            "--step",
            "0.8",
            "--step",
            "1.25",
        ])
        .args(["--model", "a=samples/model/hyper/context-v1/q4.safetensors"])
        .args(["--model", "b=samples/model/hyper/q4.safetensors"])
        .args(["--anchor", "a", "--out-dir"])
        .arg(&anchored)
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(r"\| b \(with its steps\) \| a \| [-+][0-9.]+% \|").unwrap(),
        );
    aec()
        .args(["rd", "--data", CAT, "--no-baselines", "--model"])
        .args([
            "a=samples/model/hyper/q1.safetensors",
            "--anchor",
            "q1",
            "--out-dir",
        ])
        .arg(&anchored)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--anchor q1"));
}

/// `aec train` through the binary: the fused trainer by default and burn with `--device flex`,
/// the files a run leaves, the printed id, and its errors.
#[test]
fn train_on_both_trainers_and_its_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = "tests/fixtures/cifar-train-64.bin";
    let small = [
        "--code-length",
        "16",
        "--filters",
        "4",
        "--batch-size",
        "8",
        "--epochs",
        "2",
    ];
    let mut losses_by_trainer = Vec::new();
    for device in ["cpu", "flex"] {
        let out = dir.path().join(format!("{device}.safetensors"));
        let run = aec()
            .args([
                "train", "--data", fixture, "--eval", fixture, "--device", device,
            ])
            .args(small)
            .arg("--out")
            .arg(&out)
            .assert()
            .success()
            .stderr(predicate::str::contains(format!("on {device}")));
        let stdout = String::from_utf8(run.get_output().stdout.clone()).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        let id = aec::store::ModelId::of(&bytes).to_string();
        assert!(
            stdout.starts_with(&id),
            "{device}: printed {stdout:?}, file is {id}"
        );
        let log =
            std::fs::read_to_string(dir.path().join(format!("{device}.safetensors.csv"))).unwrap();
        assert_eq!(log.lines().count(), 3, "{device}: header and two epochs");
        let losses: Vec<f64> = log
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(
            losses[1] < losses[0],
            "{device}: loss {losses:?} did not fall"
        );
        assert!(dir
            .path()
            .join(format!("{device}.safetensors.ckpt"))
            .exists());
        losses_by_trainer.push(losses);
    }
    // The two trainers compute the same step (summing in different orders): their logged
    // losses agree closely. (Byte-identity of each trainer with itself is tests/train.rs's.)
    for (a, b) in losses_by_trainer[0].iter().zip(&losses_by_trainer[1]) {
        assert!((a - b).abs() <= 1e-3 * b.abs(), "fused {a} vs burn {b}");
    }

    aec()
        .args(["train", "--data", fixture, "--device", "tpu", "--out"])
        .arg(dir.path().join("x.safetensors"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown device").and(predicate::str::contains("cpu")));
    aec()
        .args([
            "train",
            "--data",
            "tests/fixtures/no-such-file.bin",
            "--out",
        ])
        .arg(dir.path().join("x.safetensors"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("no-such-file.bin"));
    // A resume with other settings is refused and names the checkpoint.
    aec()
        .args([
            "train",
            "--data",
            fixture,
            "--resume",
            "--code-length",
            "32",
        ])
        .args([
            "--filters",
            "4",
            "--batch-size",
            "8",
            "--epochs",
            "3",
            "--out",
        ])
        .arg(dir.path().join("cpu.safetensors"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("cpu.safetensors.ckpt"));
    assert!(!dir.path().join("x.safetensors").exists());

    // --init: zero epochs from a model write its weights again, whatever the seed; a missing
    // or mismatched model is an error naming it.
    let again = dir.path().join("again.safetensors");
    aec()
        .args(["train", "--data", fixture, "--seed", "9", "--init"])
        .arg(dir.path().join("cpu.safetensors"))
        .args(&small[..6])
        .args(["--epochs", "0", "--out"])
        .arg(&again)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(dir.path().join("cpu.safetensors")).unwrap()
    );
    aec()
        .args([
            "train",
            "--data",
            fixture,
            "--init",
            "tests/fixtures/no-model.safetensors",
        ])
        .arg("--out")
        .arg(dir.path().join("x.safetensors"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("initial weights")
                .and(predicate::str::contains("no-model.safetensors")),
        );
    aec()
        .args(["train", "--data", fixture, "--epochs", "1", "--init"])
        .arg(dir.path().join("cpu.safetensors"))
        .arg("--out")
        .arg(dir.path().join("x.safetensors"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("code length 16"));
    assert!(!dir.path().join("x.safetensors").exists());
}

/// `aec inspect --json FILE`, parsed.
fn inspect_json(file: &std::path::Path) -> serde_json::Value {
    let out = aec()
        .args(["inspect", "--json"])
        .arg(file)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The default model is quality level 3 of the whole-image family: version 2, kind 2; every
/// level round-trips, lower levels make smaller files, `inspect` and `model list` describe
/// them, and the tiled levels stay selectable by name.
#[test]
fn quality_levels_and_version_2_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = Vec::new();
    for q in ["1", "2", "3", "4", "5", "7"] {
        let out = dir.path().join(format!("q{q}.aec"));
        aec()
            .args([
                "compress",
                "samples/images/kodim23.png",
                "-Q",
                q,
                "--verify",
                "-o",
            ])
            .arg(&out)
            .assert()
            .success()
            .stderr(predicate::str::contains("PSNR"));
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes[4], 2, "quality {q} writes version 2");
        sizes.push(bytes.len());
        let png = dir.path().join(format!("q{q}.png"));
        aec()
            .arg("decompress")
            .arg(&out)
            .arg("-o")
            .arg(&png)
            .assert()
            .success();
        assert_eq!(image::image_dimensions(&png).unwrap(), (768, 512));
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "sizes {sizes:?}");
    let default = dir.path().join("default.aec");
    aec()
        .args(["compress", "samples/images/kodim23.png", "-o"])
        .arg(&default)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&default).unwrap(),
        std::fs::read(dir.path().join("q3.aec")).unwrap()
    );
    let v = inspect_json(&default);
    assert_eq!(
        (v["version"].as_u64(), v["model_found"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(v["kind"].as_str(), Some("WholeImageHyperprior"));
    let real = v["payload_bytes"].as_f64().unwrap();
    let ideal = v["ideal_bytes_y"].as_f64().unwrap() + v["ideal_bytes_z"].as_f64().unwrap();
    assert!(
        real >= ideal && real < 1.5 * ideal + 16.0,
        "{real} bytes vs {ideal} ideal"
    );
    // A tiled level by name: tiles of the notebook's code length.
    let tiled = dir.path().join("tiled.aec");
    aec()
        .args([
            "compress",
            "samples/images/kodim23.png",
            "--model",
            "tiled-q4",
            "-o",
        ])
        .arg(&tiled)
        .assert()
        .success();
    let v = inspect_json(&tiled);
    assert_eq!(
        (v["tiles"].as_u64(), v["code_length"].as_u64()),
        (Some(384), Some(128))
    );
    aec().args(["model", "list"]).assert().success().stdout(
        predicate::str::is_match(r"--quality 3 +whole image")
            .unwrap()
            .and(predicate::str::is_match(r"--quality 7 +whole image N = 128").unwrap())
            .and(predicate::str::is_match(r"--quality 8 +whole image N = 128").unwrap())
            .and(predicate::str::is_match(r"--quality 9 +whole image N = 128").unwrap())
            .and(predicate::str::contains("(default)"))
            .and(predicate::str::contains("tiled-q4"))
            .and(predicate::str::contains("scale-only-q5"))
            .and(predicate::str::contains("context-v1-q5"))
            .and(predicate::str::contains(
                "--quality also takes fractions from 0 to 11",
            ))
            .and(predicate::str::is_match(r"\nq5 +whole image N = 64").unwrap())
            .and(predicate::str::contains(
                "From 4.5 to 7: level 7's larger network at coarser steps; q5 and q6 by name only.",
            )),
    );
    // Previous levels by name; their files decode with the built-in models alone.
    for name in ["scale-only-q2", "context-v1-q4", "context-v2-q6"] {
        let earlier = dir.path().join(format!("{name}.aec"));
        aec()
            .args(["compress", CAT, "--model", name, "-o"])
            .arg(&earlier)
            .assert()
            .success();
        aec()
            .arg("decompress")
            .arg(&earlier)
            .arg("-o")
            .arg(dir.path().join(format!("{name}.png")))
            .assert()
            .success();
    }
    aec()
        .args(["compress", CAT, "-Q", "11.5"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("quality"));
    aec()
        .args(["compress", CAT, "-Q", "2", "--sparse", "0.1", "-o"])
        .arg(dir.path().join("x.aec"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("--sparse"));
}

/// A file decodes to the same PNG bytes on every CPU path and thread count: the tiled models
/// (entropy-coded and f16 codes) and the whole-image default.
#[test]
fn decoding_is_the_same_on_every_cpu_path_and_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("tiled-q3", &["--model", "tiled-q3"][..]),
        ("reference", &["--model", "reference"][..]),
        ("default", &[][..]),
    ] {
        let file = dir.path().join(format!("{name}.aec"));
        aec()
            .args(["compress", "samples/images/kodim23.png", "-o"])
            .arg(&file)
            .args(args)
            .assert()
            .success();
        let mut first: Option<Vec<u8>> = None;
        for (path, threads) in [
            ("portable", "1"),
            ("portable", "16"),
            ("avx2", "7"),
            ("avx512", "5"),
            ("amx", "11"),
            ("", "3"),
        ] {
            let png = dir.path().join(format!("{name}-{path}-{threads}.png"));
            aec()
                .env("AEC_CPU_PATH", path)
                .env("RAYON_NUM_THREADS", threads)
                .arg("decompress")
                .arg(&file)
                .arg("-o")
                .arg(&png)
                .assert()
                .success();
            let bytes = std::fs::read(&png).unwrap();
            match &first {
                None => first = Some(bytes),
                Some(f) => assert!(*f == bytes, "{name}: {path:?} on {threads} threads differs"),
            }
        }
    }
    aec()
        .env("AEC_CPU_PATH", "avx1024")
        .args(["inspect", CAT])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "AEC_CPU_PATH=\"avx1024\" names no CPU path",
        ));
}

/// A reader that stops early (`aec model list | head -1`) ends aec quietly, as other Unix
/// tools end, not with a panic about a failed print.
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::process::{Command as Std, Stdio};
    let mut child = Std::new(assert_cmd::cargo::cargo_bin("aec"))
        .args(["model", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before aec has started: its first print finds no reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A flat picture of `colour` as PNG bytes, tagged with `icc` when given.
fn png_tagged(colour: [u8; 3], icc: Option<Vec<u8>>) -> Vec<u8> {
    use image::ImageEncoder;
    let rgb = image::RgbImage::from_pixel(48, 32, image::Rgb(colour));
    let mut bytes = Vec::new();
    let mut encoder = image::codecs::png::PngEncoder::new(&mut bytes);
    if let Some(icc) = icc {
        encoder.set_icc_profile(icc).unwrap();
    }
    (encoder.write_image(&rgb, 48, 32, image::ExtendedColorType::Rgb8)).unwrap();
    bytes
}

/// The mean colour of a decoded image.
fn mean_colour(path: &Path) -> [f64; 3] {
    let img = image::open(path).unwrap().to_rgb8();
    let n = f64::from(img.width() * img.height());
    let mut sum = [0f64; 3];
    for p in img.pixels() {
        for (s, &v) in sum.iter_mut().zip(&p.0) {
            *s += f64::from(v);
        }
    }
    sum.map(|s| s / n)
}

/// An image tagged with a wider profile (Display P3) is converted to sRGB before coding, so
/// its colours survive; one tagged with sRGB codes as an untagged one; an unusable profile is
/// reported and the image coded as sRGB.
#[test]
fn compress_converts_icc_tagged_images_to_srgb() {
    let dir = tempfile::tempdir().unwrap();
    let p3 = moxcms::ColorProfile::new_display_p3();
    let colour = [40u8, 170, 70];
    // What the colour is in sRGB, by the same colour management.
    let want = {
        let t = p3
            .create_transform_8bit(
                moxcms::Layout::Rgb,
                &moxcms::ColorProfile::new_srgb(),
                moxcms::Layout::Rgb,
                moxcms::TransformOptions::default(),
            )
            .unwrap();
        let mut out = [0u8; 3];
        t.transform(&colour, &mut out).unwrap();
        out
    };
    assert!(
        want.iter().zip(colour).any(|(&a, b)| a.abs_diff(b) > 8),
        "{want:?}"
    );
    let cases = [
        ("p3", Some(p3.encode().unwrap()), want, "converted to sRGB"),
        (
            "srgb",
            Some(moxcms::ColorProfile::new_srgb().encode().unwrap()),
            colour,
            "",
        ),
        ("none", None, colour, ""),
        ("bad", Some(b"not an ICC profile".to_vec()), colour, ""),
    ];
    for (name, icc, expected, note) in cases {
        let png = dir.path().join(format!("{name}.png"));
        std::fs::write(&png, png_tagged(colour, icc)).unwrap();
        let coded = dir.path().join(format!("{name}.aec"));
        let out = aec()
            .args(["compress", "-Q", "6"])
            .arg(&png)
            .arg("-o")
            .arg(&coded)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.contains("converted to sRGB"),
            !note.is_empty(),
            "{name}: {stderr}"
        );
        assert_eq!(
            stderr.contains("cannot use the image's ICC profile"),
            name == "bad",
            "{name}: {stderr}"
        );
        let decoded = dir.path().join(format!("{name}.png.out.png"));
        aec()
            .arg("decompress")
            .arg(&coded)
            .arg("-o")
            .arg(&decoded)
            .assert()
            .success();
        let got = mean_colour(&decoded);
        for c in 0..3 {
            assert!(
                (got[c] - f64::from(expected[c])).abs() < 2.5,
                "{name}: {got:?} against {expected:?}"
            );
        }
    }
}

/// `--threads N` limits the worker threads and changes no byte: compressed files and decoded
/// pixels are the same on 1 and 6 threads; 0 is refused.
#[test]
fn the_thread_limit_changes_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "6"] {
        let file = dir.path().join(format!("t{threads}.aec"));
        let png = dir.path().join(format!("t{threads}.png"));
        aec()
            .args([
                "--threads",
                threads,
                "compress",
                "samples/images/kodim23.png",
                "-o",
            ])
            .arg(&file)
            .assert()
            .success();
        aec()
            .args(["decompress", "--threads", threads])
            .arg(&file)
            .arg("-o")
            .arg(&png)
            .assert()
            .success();
        outputs.push((std::fs::read(&file).unwrap(), std::fs::read(&png).unwrap()));
    }
    assert!(outputs[0] == outputs[1], "1 and 6 threads differ");
    aec()
        .args(["--threads", "0", "inspect", CAT])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--threads"));
}
