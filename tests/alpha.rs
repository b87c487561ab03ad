//! Transparency end to end: compressed beside the colour, decoded exactly, dropped only where
//! a file version or an output format cannot hold it.

use std::fs;
use std::path::Path;

use assert_cmd::cargo::CommandCargoExt;
use image::{DynamicImage, GrayAlphaImage, LumaA, Rgba, RgbaImage};
use predicates::prelude::*;

mod common;
use common::{aec, run_measured};

/// A 70 × 45 picture on a soft-edged disc, transparent outside.
fn cutout() -> RgbaImage {
    RgbaImage::from_fn(70, 45, |x, y| {
        let d = (x as f32 - 35.0).hypot(y as f32 - 22.0);
        let a = (255.0 * (20.0 - d).clamp(0.0, 1.0)) as u8;
        Rgba([(x * 3) as u8, (y * 5) as u8, 90, a])
    })
}

fn compress(input: &Path, out: &Path, args: &[&str]) -> String {
    let o = aec()
        .arg("compress")
        .arg(input)
        .arg("-o")
        .arg(out)
        .args(args)
        .arg("--force")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap() + &String::from_utf8(o.stderr).unwrap()
}

fn decompress(input: &Path, out: &Path) -> DynamicImage {
    aec()
        .arg("decompress")
        .arg(input)
        .arg("-o")
        .arg(out)
        .arg("--force")
        .assert()
        .success();
    image::open(out).unwrap()
}

fn alpha_of(image: &DynamicImage) -> Vec<u8> {
    image.to_rgba8().pixels().map(|p| p[3]).collect()
}

#[test]
fn transparency_comes_back_exactly_at_every_level() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = cutout();
    src.save(d.join("cut.png")).unwrap();
    let want = alpha_of(&DynamicImage::ImageRgba8(src.clone()));
    for q in ["1", "5.5", "9"] {
        let line = compress(
            &d.join("cut.png"),
            &d.join("cut.aec"),
            &["-Q", q, "--verify"],
        );
        assert!(line.contains(", alpha "), "{line}");
        assert!(!line.contains("dropped"), "{line}");
        let back = decompress(&d.join("cut.aec"), &d.join("back.png"));
        assert_eq!(back.color(), image::ColorType::Rgba8, "Q{q}");
        assert_eq!(alpha_of(&back), want, "Q{q}");
    }
    let info = aec()
        .args(["inspect", "--json"])
        .arg(d.join("cut.aec"))
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let file_len = fs::read(d.join("cut.aec")).unwrap().len() as u64;
    let alpha = j["alpha_bytes"].as_u64().unwrap();
    let (payload, overhead) = (
        j["payload_bytes"].as_u64().unwrap(),
        j["overhead_bytes"].as_u64().unwrap(),
    );
    assert_eq!(alpha + payload + overhead, file_len);
    assert!(j["alpha_transparent_fraction"].as_f64().unwrap() > 0.5);

    // Grey with alpha decodes to grey with alpha.
    let grey = GrayAlphaImage::from_fn(33, 17, |x, y| LumaA([(x * 7) as u8, (y * 15) as u8]));
    grey.save(d.join("grey.png")).unwrap();
    compress(&d.join("grey.png"), &d.join("grey.aec"), &[]);
    let back = decompress(&d.join("grey.aec"), &d.join("grey-back.png"));
    assert_eq!(back.color(), image::ColorType::La8);
    assert_eq!(
        back.to_luma_alpha8()
            .pixels()
            .map(|p| p[1])
            .collect::<Vec<_>>(),
        grey.pixels().map(|p| p[1]).collect::<Vec<_>>()
    );
}

#[test]
fn an_opaque_alpha_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut src = cutout();
    src.pixels_mut().for_each(|p| p[3] = 255);
    src.save(d.join("opaque.png")).unwrap();
    DynamicImage::ImageRgba8(src)
        .to_rgb8()
        .save(d.join("rgb.png"))
        .unwrap();
    let line = compress(&d.join("opaque.png"), &d.join("a.aec"), &[]);
    assert!(!line.contains("alpha"), "{line}");
    compress(&d.join("rgb.png"), &d.join("b.aec"), &[]);
    let (a, b) = (
        fs::read(d.join("a.aec")).unwrap(),
        fs::read(d.join("b.aec")).unwrap(),
    );
    // The same file but for the channel count.
    assert_eq!(a.len(), b.len());
    assert_eq!(
        decompress(&d.join("a.aec"), &d.join("a.png")).color(),
        image::ColorType::Rgb8
    );
}

#[test]
fn a_size_target_counts_the_alpha_plane() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cutout().save(d.join("cut.png")).unwrap();
    // (Lossy files only: at 1,500 bytes the picture's exact file, 1,337 bytes, would fit.)
    for target in [900, 1500] {
        let line = compress(
            &d.join("cut.png"),
            &d.join("t.aec"),
            &["--target-size", &target.to_string(), "--no-lossless"],
        );
        let n = fs::read(d.join("t.aec")).unwrap().len();
        assert!(n <= target, "{n} bytes for a target of {target}: {line}");
        assert!(line.contains(", alpha "), "{line}");
    }
}

#[test]
fn only_what_cannot_hold_alpha_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    cutout().save(d.join("cut.png")).unwrap();
    // The reference model writes version 1 files, which carry no alpha: it says so.
    let line = compress(
        &d.join("cut.png"),
        &d.join("ref.aec"),
        &["--model", "reference"],
    );
    assert!(line.contains("transparency dropped"), "{line}");
    assert_eq!(
        decompress(&d.join("ref.aec"), &d.join("ref.png")).color(),
        image::ColorType::Rgb8
    );
    // JPEG and PPM have no alpha; PAM, WebP, TIFF and QOI keep it.
    compress(&d.join("cut.png"), &d.join("cut.aec"), &[]);
    let want = alpha_of(&image::open(d.join("cut.png")).unwrap());
    for (ext, kept) in [
        ("jpg", false),
        ("ppm", false),
        ("pgm", false),
        ("pam", true),
        ("webp", true),
        ("tiff", true),
        ("qoi", true),
    ] {
        let out = d.join(format!("back.{ext}"));
        aec()
            .arg("decompress")
            .arg(d.join("cut.aec"))
            .arg("-o")
            .arg(&out)
            .arg("--force")
            .assert()
            .success();
        let head = fs::read(&out).unwrap();
        match ext {
            "ppm" => assert_eq!(&head[..2], b"P6"),
            "pgm" => assert_eq!(&head[..2], b"P5"),
            "pam" => assert_eq!(&head[..2], b"P7"),
            _ => {}
        }
        let back = image::open(&out).unwrap();
        assert_eq!(back.color().has_alpha(), kept, "{ext}");
        if kept {
            assert_eq!(alpha_of(&back), want, "{ext}");
        }
    }
    // Standard output in PNM is PPM.
    let o = aec()
        .args(["decompress", "-o", "-", "--format", "pnm"])
        .arg(d.join("cut.aec"))
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(&o.stdout[..2], b"P6");
}

#[test]
fn the_colour_under_transparent_pixels_is_not_kept_unless_exact() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Noise where alpha is 0: costly colour no one sees.
    let mut seed = 1u32;
    let noisy = RgbaImage::from_fn(96, 64, |x, y| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        match (x as i32 - 48).abs() + (y as i32 - 32).abs() < 24 {
            true => Rgba([200, 120, 40, 255]),
            false => Rgba([(seed >> 24) as u8, (seed >> 16) as u8, (seed >> 8) as u8, 0]),
        }
    });
    noisy.save(d.join("noisy.png")).unwrap();
    compress(&d.join("noisy.png"), &d.join("filled.aec"), &[]);
    compress(&d.join("noisy.png"), &d.join("exact.aec"), &["--exact"]);
    let size = |f: &str| fs::read(d.join(f)).unwrap().len();
    assert!(
        size("filled.aec") * 2 < size("exact.aec"),
        "{} against {} bytes",
        size("filled.aec"),
        size("exact.aec")
    );
    // The alpha is the same either way.
    let a = decompress(&d.join("filled.aec"), &d.join("filled.png"));
    let b = decompress(&d.join("exact.aec"), &d.join("exact.png"));
    assert_eq!(alpha_of(&a), alpha_of(&b));
    assert_eq!(alpha_of(&a), alpha_of(&DynamicImage::ImageRgba8(noisy)));
}

/// A DEFLATE stream of `1 + 258 k` zero bytes written by hand, without holding them (a test
/// process's own peak would count against the children it measures; this file's other tests
/// hold little, as the measure needs): one fixed-Huffman block,
/// a literal 0, then `k` copies of 258 bytes at distance 1.
fn deflated_zeros(k: usize) -> Vec<u8> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u64, 0u32);
    // Huffman codes go most significant bit first, into a stream filled from the low bits.
    let mut put = |code: u32, len: u32, msb_first: bool| {
        for i in 0..len {
            let bit = if msb_first {
                code >> (len - 1 - i)
            } else {
                code >> i
            } & 1;
            acc |= u64::from(bit) << bits;
            bits += 1;
            if bits == 8 {
                out.push(acc as u8);
                (acc, bits) = (0, 0);
            }
        }
    };
    put(1, 1, false); // BFINAL
    put(1, 2, false); // BTYPE 01: fixed codes
    put(0x30, 8, true); // literal 0
    for _ in 0..k {
        put(0xc5, 8, true); // length 258 (symbol 285)
        put(0, 5, true); // distance 1 (code 0)
    }
    put(0, 7, true); // end of block (256)
    if bits > 0 {
        out.push(acc as u8);
    }
    out
}

#[test]
fn inspect_holds_two_rows_of_a_large_alpha_plane() {
    use aec::format::{AlphaFilter, AlphaPlane, CodedFile, ModelKind, UNIT_STEP};
    // 16,255² pixels (1 + 258 × 1,024,128), all transparent: a 1.6 MB alpha stream for a
    // 252 MiB plane, a model no one has (so that only the container and the plane are read).
    let (w, h) = (16255u32, 16255u32);
    let alpha = AlphaPlane {
        filter: AlphaFilter::None,
        stream: deflated_zeros((w as usize * h as usize - 1) / 258),
    };
    // The reader takes it (row by row here too).
    let mut rows = 0;
    alpha.for_each_row(w, h, 0, |_| rows += 1).unwrap();
    assert_eq!(rows, h);
    let file = CodedFile {
        kind: ModelKind::WholeImageHyperprior,
        channels: 4,
        model_id: [7; 8],
        width: w,
        height: h,
        step: UNIT_STEP,
        alpha: Some(alpha),
        exact: None,
        payload: vec![1],
    };
    let bytes = file.to_bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alpha.aec");
    fs::write(&path, &bytes).unwrap();
    let mut inspect = std::process::Command::cargo_bin("aec").unwrap();
    inspect.arg("inspect").arg(&path);
    let (code, err, peak) = run_measured(inspect);
    assert_eq!(code, 0, "{err}");
    eprintln!(
        "inspect of a {} byte file with a 252 MiB alpha plane: peak {peak} bytes",
        bytes.len()
    );
    assert!(
        peak < (96 << 20) + 2 * bytes.len() as u64,
        "inspect peaked at {peak} bytes"
    );
    aec()
        .args(["inspect", "--json"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "\"alpha_transparent_fraction\": 1.0",
        ));
}
