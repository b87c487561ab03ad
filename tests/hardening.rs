//! The `aec` binary under stress: many threads, crafted files, signals, odd images.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aec::format::{AnyFile, HEADER_LEN};
use assert_cmd::cargo::CommandCargoExt;
use assert_cmd::Command;
use image::{GrayImage, ImageEncoder, Rgb, RgbImage, RgbaImage};
use predicates::prelude::*;

mod common;
use common::run_measured;

fn aec() -> Command {
    let mut cmd = common::aec();
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// A deterministic textured image.
fn picture(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ seed.wrapping_mul(101);
        Rgb([(v % 251) as u8, (x * 3 + y) as u8, (y * 5 + seed) as u8])
    })
}

fn write_pictures(dir: &Path, n: u32, w: u32, h: u32) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("img{i:02}.png"));
            picture(w, h, i).save(&p).unwrap();
            p
        })
        .collect()
}

/// The names in a folder (none if it does not exist).
fn names_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn batches_on_many_threads_never_hang() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = write_pictures(dir.path(), 12, 256, 224);
    let out = dir.path().join("out");
    for threads in ["8", "16"] {
        for run in 0..8 {
            // A hang fails the run at the timeout instead of stalling the suite.
            aec()
                .env("RAYON_NUM_THREADS", threads)
                .arg("compress")
                .args(&inputs)
                .args(["--force", "--quiet", "--out-dir"])
                .arg(&out)
                .timeout(Duration::from_secs(60))
                .assert()
                .success();
            assert_eq!(names_in(&out).len(), 12, "{threads} threads, run {run}");
        }
    }
}

fn aec_std() -> std::process::Command {
    let mut cmd = std::process::Command::cargo_bin("aec").unwrap();
    cmd.env_remove("AEC_MODEL").env_remove("AEC_MODEL_DIR");
    cmd
}

/// A valid sparse f16 file whose tiles are all empty: 36 + 2 × tiles bytes that declare
/// tiles × `code_length` values.
fn empty_sparse(model_id: [u8; 16], w: u16, h: u16, tile: u8, code_length: u16) -> Vec<u8> {
    let mut b = aec::format::MAGIC.to_vec();
    b.extend_from_slice(&[1, 1, 1, 3]);
    b.extend_from_slice(&model_id);
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&[tile, 0]);
    b.extend_from_slice(&code_length.to_le_bytes());
    let tiles = u64::from(w).div_ceil(tile.into()) * u64::from(h).div_ceil(tile.into());
    b.resize(HEADER_LEN + 2 * tiles as usize, 0);
    let crc = crc32fast(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn crc32fast(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn builtin_id() -> [u8; 16] {
    let bytes = fs::read("samples/aec/kodim23.aec").unwrap();
    bytes[8..24].try_into().unwrap()
}

/// Memory the binary needs whatever the input (the program and the model): measured at
/// 30 MB for `inspect` and 47–56 MB for `decompress` on a 2-core x86-64 machine.
const FIXED_ALLOWANCE: u64 = 96 << 20;

#[test]
fn crafted_files_cost_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let crafted = dir.path().join("crafted.aec");
    // 256 × 256 one-pixel tiles of 4,096 values: 131,108 bytes declaring 2^28 values.
    fs::write(&crafted, empty_sparse([7; 16], 256, 256, 1, 4096)).unwrap();
    assert_eq!(fs::metadata(&crafted).unwrap().len(), 131_108);

    let mut inspect = aec_std();
    inspect.arg("inspect").arg(&crafted);
    let (code, err, peak) = run_measured(inspect);
    assert_eq!(code, 0, "{err}");
    eprintln!("inspect of the crafted file: peak {peak} bytes");
    assert!(peak < FIXED_ALLOWANCE, "inspect peaked at {peak} bytes");

    let cases = [
        // Unknown model: refused from the header.
        (empty_sparse([7; 16], 256, 256, 1, 4096), "no model with id"),
        // The built-in model's id, but tiles and code length it does not use.
        (
            empty_sparse(builtin_id(), 256, 256, 1, 4096),
            "the model needs 32 and 128",
        ),
        // The built-in model's geometry, 65,535² pixels declared in 8 MB.
        (
            empty_sparse(builtin_id(), 65535, 65535, 32, 128),
            "the limit is 268435456",
        ),
    ];
    for (i, (bytes, message)) in cases.into_iter().enumerate() {
        let input = dir.path().join(format!("case{i}.aec"));
        fs::write(&input, &bytes).unwrap();
        let out = dir.path().join(format!("case{i}.png"));
        let mut cmd = aec_std();
        cmd.arg("decompress").arg(&input).arg("-o").arg(&out);
        let (code, err, peak) = run_measured(cmd);
        assert_eq!(code, 1, "case {i}: {err}");
        assert!(err.contains(message), "case {i}: {err}");
        eprintln!("decompress case {i}: peak {peak} bytes");
        // Refused before the payload: nothing beyond the fixed allowance and the file.
        assert!(
            peak < FIXED_ALLOWANCE + 2 * bytes.len() as u64,
            "case {i} peaked at {peak} bytes"
        );
        assert!(!out.exists());
    }
}

#[test]
fn decoding_memory_follows_the_image_size() {
    // 4,096 × 4,096 pixels, every tile empty: 32 KB of file for a 48 MiB image.
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (4096u64, 4096u64);
    let input = dir.path().join("big.aec");
    fs::write(
        &input,
        empty_sparse(builtin_id(), w as u16, h as u16, 32, 128),
    )
    .unwrap();
    let out = dir.path().join("big.bmp");
    let mut cmd = aec_std();
    cmd.arg("decompress").arg(&input).arg("-o").arg(&out);
    let (code, err, peak) = run_measured(cmd);
    assert_eq!(code, 0, "{err}");
    assert_eq!(image::image_dimensions(&out).unwrap(), (w as u32, h as u32));
    eprintln!("decompress of {w}x{h}: peak {peak} bytes");
    // The README's bound: the fixed allowance plus 8 bytes a pixel.
    assert!(
        peak < FIXED_ALLOWANCE + 8 * w * h,
        "peaked at {peak} bytes for {} pixels",
        w * h
    );
    // A lower --max-pixels refuses the same file from its header.
    aec()
        .args(["decompress", "--force", "--max-pixels", "1000000"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("the limit is 1000000 pixels"));
}

/// A 24-bit BMP header declaring `w × h` pixels, without the pixels.
fn bmp_header(w: i32, h: i32) -> Vec<u8> {
    let mut b = b"BM".to_vec();
    b.extend_from_slice(&(54u32 + 3 * (w * h) as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&w.to_le_bytes());
    b.extend_from_slice(&h.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    b
}

#[test]
fn compress_refuses_what_decompress_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 × 20,000 = 400 M pixels: refused from the header, before any pixel is read.
    let big = dir.path().join("big.bmp");
    fs::write(&big, bmp_header(20_000, 20_000)).unwrap();
    aec()
        .arg("compress")
        .arg(&big)
        .assert()
        .failure()
        .stderr(predicate::str::contains("the limit is 268435456 pixels"));
    let small = dir.path().join("small.png");
    picture(64, 64, 1).save(&small).unwrap();
    aec()
        .args(["compress", "--max-pixels", "4000"])
        .arg(&small)
        .assert()
        .failure()
        .stderr(predicate::str::contains("64×64 (4096 pixels)"));
    assert!(!dir.path().join("small.aec").exists());
    aec()
        .args(["compress", "--max-pixels", "300000000"])
        .arg(&small)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--max-pixels"));
}

#[test]
fn interrupts_leave_only_complete_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = write_pictures(dir.path(), 24, 512, 384);
    let mut interrupted = 0;
    for (i, delay_ms) in [150u64, 300, 450, 600].into_iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut cmd = aec_std();
        cmd.arg("compress")
            .args(&inputs)
            .args(["--quiet", "--out-dir"])
            .arg(&out)
            .env("RAYON_NUM_THREADS", "4");
        let mut child = cmd.stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: sends a signal to our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().unwrap();
        match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(130), _) => interrupted += 1,
            (Some(0), _) => {}
            // Interrupted before its handler was installed, when it had written nothing.
            (None, Some(libc::SIGINT)) => assert!(names_in(&out).is_empty()),
            other => panic!("exit {other:?}"),
        }
        for name in names_in(&out) {
            assert!(name.ends_with(".aec"), "left {name} behind");
            let bytes = fs::read(out.join(&name)).unwrap();
            AnyFile::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name} incomplete: {e}"));
        }
    }
    assert!(interrupted > 0, "no run was interrupted");
}

/// A JPEG whose EXIF says "rotate 90° clockwise to display" (orientation 6).
fn rotated_jpeg(path: &Path, w: u16, h: u16) {
    let mut exif = b"Exif\0\0II*\0".to_vec();
    exif.extend_from_slice(&8u32.to_le_bytes());
    exif.extend_from_slice(&1u16.to_le_bytes());
    exif.extend_from_slice(&0x0112u16.to_le_bytes());
    exif.extend_from_slice(&3u16.to_le_bytes());
    exif.extend_from_slice(&1u32.to_le_bytes());
    exif.extend_from_slice(&[6, 0, 0, 0]);
    exif.extend_from_slice(&0u32.to_le_bytes());
    let pixels = picture(u32::from(w), u32::from(h), 3);
    let mut enc = jpeg_encoder::Encoder::new_file(path, 90).unwrap();
    enc.add_app_segment(1, &exif).unwrap();
    enc.encode(pixels.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .unwrap();
}

#[test]
fn images_come_back_the_right_way_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    rotated_jpeg(&d.join("phone.jpg"), 64, 32);
    GrayImage::from_fn(40, 24, |x, y| image::Luma([(x * 6 + y) as u8]))
        .save(d.join("grey.png"))
        .unwrap();
    // An alpha channel that says something, and one opaque everywhere (as GIF's).
    for (name, alpha) in [("alpha.png", 128), ("opaque.png", 255)] {
        let mut rgba = Vec::new();
        let mut pixels = RgbaImage::from_pixel(33, 20, image::Rgba([10, 200, 30, 255]));
        pixels.put_pixel(32, 19, image::Rgba([10, 200, 30, alpha]));
        image::codecs::png::PngEncoder::new(&mut rgba)
            .write_image(pixels.as_raw(), 33, 20, image::ExtendedColorType::Rgba8)
            .unwrap();
        fs::write(d.join(name), rgba).unwrap();
    }
    for name in ["phone.jpg", "grey.png", "alpha.png", "opaque.png"] {
        let assert = aec()
            .arg("compress")
            .arg(d.join(name))
            .args(["--out-dir"])
            .arg(d.join("c"))
            .assert()
            .success();
        // The built-in levels keep transparency: nothing is dropped.
        assert.stderr(predicate::str::contains("transparency dropped").not());
    }
    let decoded = |stem: &str| {
        let out = d.join(format!("{stem}-decoded.png"));
        aec()
            .arg("decompress")
            .arg(d.join("c").join(format!("{stem}.aec")))
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
        image::open(out).unwrap()
    };
    // Upright: the 64 × 32 stored picture is shown 32 × 64.
    let phone = decoded("phone");
    assert_eq!((phone.width(), phone.height()), (32, 64));
    let grey = decoded("grey");
    assert_eq!(grey.color(), image::ColorType::L8);
    assert_eq!((grey.width(), grey.height()), (40, 24));
    let alpha = decoded("alpha").to_rgba8();
    assert_eq!(alpha.get_pixel(32, 19)[3], 128);
    assert!(alpha.pixels().take(659).all(|p| p[3] == 255));
    assert_eq!(decoded("opaque").color(), image::ColorType::Rgb8);
}

#[test]
fn output_names_and_streams_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let input = "samples/aec/cifar-test-0000-cat.aec";
    let xyz = dir.path().join("out.xyz");
    aec()
        .args(["decompress", input, "-o"])
        .arg(&xyz)
        .assert()
        .failure()
        .stderr(predicate::str::contains("out.xyz").and(predicate::str::contains("--format")));
    assert!(!xyz.exists());
    aec()
        .args(["decompress", input, "--format", "bmp", "-o"])
        .arg(&xyz)
        .assert()
        .success();
    let bytes = fs::read(&xyz).unwrap();
    assert_eq!(&bytes[..2], b"BM");
    aec()
        .args(["decompress", "-", "-"])
        .write_stdin(fs::read(input).unwrap())
        .assert()
        .failure()
        .stderr(predicate::str::contains("standard input"));
}

#[test]
fn oversized_model_files_are_skipped_unread() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    fs::create_dir(&models).unwrap();
    // Sparse: takes no disk space, and must not be read.
    let big = fs::File::create(models.join("huge.safetensors")).unwrap();
    big.set_len((1 << 30) + 1).unwrap();
    let out = dir.path().join("cat.png");
    aec()
        .args([
            "decompress",
            "samples/aec/cifar-test-0000-cat.aec",
            "--model-dir",
        ])
        .arg(&models)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    // A file that needs the folder: the big file is reported and skipped.
    let other = dir.path().join("other.aec");
    fs::write(&other, empty_sparse([9; 16], 32, 32, 32, 128)).unwrap();
    aec()
        .arg("decompress")
        .arg(&other)
        .arg("--model-dir")
        .arg(&models)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("skipping")
                .and(predicate::str::contains("huge.safetensors"))
                .and(predicate::str::contains("0 model files")),
        );
}

/// The `decompress` fuzz target's inputs (`fuzz/codec/`), through the same calls: every seed
/// (a valid file of each built-in family) decodes to its header's size and kind, and every
/// saved regression input decodes or is refused, never panics.
#[test]
fn fuzz_inputs_of_the_decoder_replay() {
    use aec::codec::Builtin;
    use aec::format::AnyHeader;

    let decode = |path: &Path| {
        let bytes = fs::read(path).unwrap();
        let header = AnyHeader::parse(&bytes).ok()?;
        let model = Builtin::of_model_id(header.model_id())?;
        let codec = model.codec(64 * 64).unwrap();
        Some((header, codec.decode_bytes(&bytes)))
    };
    let files = |dir: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let seeds = files("fuzz/codec/seeds/decompress");
    assert!(seeds.len() >= 20, "{} seeds", seeds.len());
    for path in &seeds {
        let (header, image) = decode(path).unwrap_or_else(|| panic!("{path:?}: no model"));
        let image = image.unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(
            (image.width(), image.height()),
            (header.width(), header.height()),
            "{path:?}"
        );
        assert_eq!(image.color().has_color(), header.channels() > 2);
        assert_eq!(image.color().has_alpha(), header.has_alpha());
    }
    for path in files("fuzz/codec/regressions") {
        let _ = decode(&path);
    }
}

#[path = "../fuzz/codec/fuzz_targets/image_of.rs"]
mod image_of;
use image_of::image_of;

/// The `compress` fuzz target's inputs (`fuzz/codec/fuzz_targets/compress.rs`), through the
/// same calls: each seed and saved regression input (`fuzz/codec/regressions-compress/`) is an image (its first four bytes the
/// sides, quality and kind, the rest its pixels repeated) that compresses and decodes to its
/// size and kind.
#[test]
fn fuzz_inputs_of_the_encoder_replay() {
    use aec::codec::{Builtin, CompressOptions, Quality};

    let mut inputs: Vec<PathBuf> = [
        "fuzz/codec/seeds/compress",
        "fuzz/codec/regressions-compress",
    ]
    .iter()
    .flat_map(|dir| fs::read_dir(dir).into_iter().flatten())
    .map(|e| e.unwrap().path())
    .collect();
    inputs.sort();
    assert!(inputs.len() >= 6, "{} inputs", inputs.len());
    let mut codecs: std::collections::HashMap<u8, Box<dyn aec::codec::ImageCodec>> =
        Default::default();
    for path in &inputs {
        let Some((image, q)) = image_of(&fs::read(path).unwrap()) else {
            continue;
        };
        let quality = Quality::from_value(q).unwrap();
        let codec = codecs.entry(quality.level).or_insert_with(|| {
            let model: Builtin = quality.model();
            model.codec(48 * 48).unwrap()
        });
        let options = CompressOptions {
            step: quality.step,
            ..CompressOptions::default()
        };
        let bytes = codec
            .compress(&image, &options)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let back = codec
            .decode_bytes(&bytes)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(
            (back.width(), back.height()),
            (image.width(), image.height()),
            "{path:?}"
        );
        assert_eq!(
            back.color().has_color(),
            image.color().has_color(),
            "{path:?}"
        );
    }
}

/// `compress` and `decompress` start themselves again with glibc's huge-page tunable added to
/// `GLIBC_TUNABLES` (where the kernel and glibc support it); with the variable unset, holding
/// another tunable, or already naming it (no restart), stdin and stdout pass through and the
/// bytes are the same.
#[test]
fn huge_pages_leave_streams_and_bytes_alone() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("p.png");
    picture(40, 24, 3).save(&png).unwrap();
    let png = fs::read(&png).unwrap();
    let mut outputs = Vec::new();
    for tunables in [
        None,
        Some("glibc.malloc.check=0"),
        Some("glibc.malloc.hugetlb=0"),
    ] {
        let with = |cmd: &mut Command| {
            match tunables {
                Some(v) => cmd.env("GLIBC_TUNABLES", v),
                None => cmd.env_remove("GLIBC_TUNABLES"),
            };
        };
        let mut compress = aec();
        with(&mut compress);
        let file = compress
            .args(["compress", "-", "-o", "-"])
            .write_stdin(png.clone());
        let file = file.assert().success().get_output().stdout.clone();
        let mut decompress = aec();
        with(&mut decompress);
        let cmd = decompress.args(["decompress", "-", "-o", "-", "--format", "png"]);
        let decoded = cmd.write_stdin(file.clone()).assert().success();
        outputs.push((file, decoded.get_output().stdout.clone()));
    }
    assert!(!outputs[0].0.is_empty() && !outputs[0].1.is_empty());
    assert!(outputs.iter().all(|o| *o == outputs[0]), "the same bytes");
}
