//! Lossless files end to end: chosen where they are smaller, decoded exactly, asked for or
//! refused on the command line, and damaged ones refused with the place of the damage.

use std::fs;
use std::path::Path;

use image::{Rgb, RgbImage};

mod common;
use common::{aec, run, run_measured};

/// A 160 × 100 "screenshot": a side panel, a title bar and lines of one-pixel glyphs, each of
/// its own shape.
fn screenshot() -> RgbImage {
    let hash = |v: u32| {
        v.wrapping_mul(2_654_435_761)
            .rotate_left(13)
            .wrapping_mul(40_503)
    };
    RgbImage::from_fn(160, 100, |x, y| {
        if y < 12 {
            return Rgb([40, 60, 120]);
        }
        let panel = if x < 40 {
            [236, 238, 244]
        } else {
            [255, 255, 255]
        };
        let glyph = hash((y / 10) * 1000 + x / 6);
        let bit = (y % 10) * 5 + x % 6;
        let ink = y % 10 < 7 && x % 6 < 5 && (glyph >> (bit % 32)) & 1 == 1;
        Rgb(if ink { [25, 25, 30] } else { panel })
    })
}

#[test]
fn a_screenshot_is_stored_exactly_where_that_is_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = screenshot();
    src.save(d.join("s.png")).unwrap();
    // At a high level the lossy file is larger than the exact one.
    let out = run(
        &["compress", "s.png", "-o", "s.aec", "-Q", "7", "--verify"],
        d,
    );
    assert!(out.contains(", lossless, exact"), "{out}");
    let bytes = fs::read(d.join("s.aec")).unwrap();
    assert_eq!(bytes[5], 4, "kind 4");
    run(&["decompress", "s.aec", "-o", "back.png"], d);
    assert_eq!(image::open(d.join("back.png")).unwrap().to_rgb8(), src);
    let json = run(&["inspect", "s.aec", "--json"], d);
    assert!(json.contains("\"kind\": \"Lossless\""), "{json}");
    // --no-lossless keeps the lossy file, larger here.
    let out = run(
        &[
            "compress",
            "s.png",
            "-o",
            "l.aec",
            "-Q",
            "7",
            "--no-lossless",
            "--verify",
        ],
        d,
    );
    assert!(out.contains("PSNR") && !out.contains("lossless"), "{out}");
    let lossy = fs::read(d.join("l.aec")).unwrap();
    assert_ne!(lossy[5], 4);
    assert!(
        lossy.len() > bytes.len(),
        "{} vs {}",
        lossy.len(),
        bytes.len()
    );
    // A size target the exact file fits takes it; one it does not fit, a lossy file.
    let fits = bytes.len().to_string();
    let out = run(
        &["compress", "s.png", "-o", "t.aec", "--target-size", &fits],
        d,
    );
    assert!(out.contains("lossless"), "{out}");
    let less = (bytes.len() - 1).to_string();
    let out = run(
        &["compress", "s.png", "-o", "u.aec", "--target-size", &less],
        d,
    );
    assert!(!out.contains(", lossless"), "{out}");
    assert!(fs::read(d.join("u.aec")).unwrap().len() < bytes.len());
    // A PSNR no lossy level reaches: the exact file.
    let out = run(
        &["compress", "s.png", "-o", "p.aec", "--target-psnr", "80"],
        d,
    );
    assert!(out.contains("lossless"), "{out}");
}

/// The screenshot with each glyph in a shade of its own (130 colours), in the corner of a
/// white 320 × 200 page.
fn soft_screenshot() -> RgbImage {
    let hash = |v: u32| {
        v.wrapping_mul(2_654_435_761)
            .rotate_left(7)
            .wrapping_mul(40_503)
    };
    let shot = screenshot();
    RgbImage::from_fn(320, 200, |x, y| {
        if x >= 160 || y >= 100 {
            return Rgb([255, 255, 255]);
        }
        match shot.get_pixel(x, y).0 {
            [25, 25, 30] => {
                let shade = (hash((y / 10) * 1000 + x / 6) >> 24) as u8;
                Rgb([shade / 3, shade / 2, 30 + shade / 4])
            }
            p => Rgb(p),
        }
    })
}

#[test]
fn a_palette_stands_for_a_screenshot_where_it_beats_the_lossy_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    soft_screenshot().save(d.join("s.png")).unwrap();
    let psnr = |out: &str| -> f64 {
        let at = out.find("PSNR ").expect("a PSNR") + 5;
        out[at..].split(' ').next().unwrap().parse().unwrap()
    };
    // A size its exact file (about 3,000 bytes) does not fit, nor any level's lossy file well.
    let target = ["--target-size", "2800", "--verify"];
    let lossy = run(
        &[
            &["compress", "s.png", "-o", "l.aec", "--no-lossless"],
            &target[..],
        ]
        .concat(),
        d,
    );
    let out = run(
        &[&["compress", "s.png", "-o", "p.aec"], &target[..]].concat(),
        d,
    );
    assert!(
        out.contains("-colour palette (lossless bitstream)"),
        "{out}"
    );
    assert!(psnr(&out) > psnr(&lossy), "{out} against {lossy}");
    assert!(fs::read(d.join("p.aec")).unwrap().len() <= 2800);
    assert_eq!(fs::read(d.join("p.aec")).unwrap()[5], 4, "kind 4");
    // The file decodes to what --verify measured: a palette of at most 256 colours.
    run(&["decompress", "p.aec", "-o", "p.png"], d);
    let back = image::open(d.join("p.png")).unwrap().to_rgb8();
    let colours: std::collections::HashSet<_> = back.pixels().map(|p| p.0).collect();
    assert!(colours.len() <= 256, "{}", colours.len());
}

#[test]
fn a_photo_stays_lossy_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photo = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/images/kodim23.png");
    let photo = photo.to_str().unwrap();
    let out = run(&["compress", photo, "-o", "p.aec", "-Q", "9"], d);
    assert!(!out.contains("lossless"), "{out}");
    let out = run(
        &["compress", photo, "-o", "e.aec", "--lossless", "--verify"],
        d,
    );
    assert!(out.contains(", lossless, exact"), "{out}");
    run(&["decompress", "e.aec", "-o", "e.png"], d);
    assert_eq!(
        image::open(d.join("e.png")).unwrap().to_rgb8(),
        image::open(photo).unwrap().to_rgb8()
    );
    // --lossless leaves nothing to set.
    for other in [
        &["-Q", "3"][..],
        &["--target-size", "9000"],
        &["--no-lossless"],
    ] {
        aec()
            .current_dir(d)
            .args(["compress", photo, "-o", "x.aec", "--lossless"])
            .args(other)
            .assert()
            .failure()
            .stderr(predicates::str::contains("cannot be used with"));
    }
}

#[test]
fn a_damaged_lossless_file_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    screenshot().save(d.join("s.png")).unwrap();
    run(&["compress", "s.png", "-o", "s.aec", "--lossless"], d);
    let good = fs::read(d.join("s.aec")).unwrap();
    let damaged = |at: usize, value: u8| {
        let mut b = good.clone();
        b[at] = value;
        let n = b.len() - 4;
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
        fs::write(d.join("bad.aec"), b).unwrap();
        let o = aec()
            .current_dir(d)
            .args(["decompress", "bad.aec", "-o", "bad.png", "--force"])
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(!d.join("bad.png").exists(), "no output from a bad file");
        String::from_utf8(o.stderr).unwrap()
    };
    // The bitstream's signature (the header is 18 bytes: a 2-byte width), and a model id.
    assert!(damaged(18, 0x2e).contains("lossless file at byte 18: signature"));
    assert!(damaged(8, 1).contains("lossless file at byte 7: model id"));
    // Its size against the header's.
    assert!(damaged(17, 99).contains("the bitstream is 160×100 pixels, the file 160×99"));
}

#[test]
fn a_large_lossless_file_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 4000 × 4000 pixels of one colour: a few dozen bytes that decode to 48 MB.
    RgbImage::from_pixel(4000, 4000, Rgb([12, 200, 90]))
        .save(d.join("flat.png"))
        .unwrap();
    run(&["compress", "flat.png", "-o", "flat.aec", "--lossless"], d);
    assert!(fs::read(d.join("flat.aec")).unwrap().len() < 1000);
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("aec"));
    cmd.current_dir(d).args([
        "decompress",
        "flat.aec",
        "-o",
        "flat2.png",
        "--max-pixels",
        "1000000",
    ]);
    let (code, stderr, peak) = run_measured(cmd);
    assert_ne!(code, 0);
    assert!(stderr.contains("the limit is 1000000 pixels"), "{stderr}");
    assert!(peak < 40 << 20, "peak {peak} bytes");
    assert!(!d.join("flat2.png").exists());
}

#[test]
fn a_lossless_file_is_made_within_its_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 2000 × 2000 pixels of the screenshot, repeated.
    let shot = screenshot();
    RgbImage::from_fn(2000, 2000, |x, y| *shot.get_pixel(x % 160, y % 100))
        .save(d.join("big.png"))
        .unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("aec"));
    cmd.current_dir(d)
        .args(["compress", "big.png", "-o", "big.aec", "--lossless"]);
    let (code, stderr, peak) = run_measured(cmd);
    assert_eq!(code, 0, "{stderr}");
    // The README's bound for lossless files: 50 MB plus 32 bytes a pixel.
    assert!(peak < (50 << 20) + 32 * 4_000_000, "peak {peak} bytes");
}
