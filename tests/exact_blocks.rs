//! Exact blocks end to end: a screenshot with a photo in it keeps its flat blocks exactly over
//! the lossy decode where that fits the lossy file's bytes, says so, and damaged files are
//! refused with the place of the damage.

use std::fs;
use std::path::Path;

use aec::format::{CodedFile, CodedHeader, ExactBlocks, EXACT_BLOCK, EXACT_FLAG};
use image::RgbImage;

mod common;
use common::{aec, run, run_measured};

/// A 192 × 128 screenshot (a title bar, a side panel, lines of one-pixel glyphs) with a
/// 96 × 64 crop of a photo in it, off the block grid.
const MIXED: &str = "tests/fixtures/mixed.png";

fn fails(args: &[&str], dir: &Path) -> String {
    let o = aec().current_dir(dir).args(args).output().unwrap();
    assert!(!o.status.success(), "{args:?} succeeded");
    String::from_utf8(o.stderr).unwrap()
}

/// A pixel as decoded and as in the source.
type Pair = ([u8; 3], [u8; 3]);

/// Compresses the mixed image at quality `q` by default and with `--no-lossless`: the default's
/// file has the blocks section, is no larger and is more than 5 dB closer to the image. Its
/// output line, its file, and each pixel of its blocks as decoded beside the source's.
fn blocks_against_plain(q: &str) -> (String, CodedFile, Vec<Pair>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::copy(MIXED, d.join("m.png")).unwrap();
    let out = run(
        &["compress", "m.png", "-o", "m.aec", "-Q", q, "--verify"],
        d,
    );
    let plain_args = [
        "compress",
        "m.png",
        "-o",
        "p.aec",
        "-Q",
        q,
        "--verify",
        "--no-lossless",
    ];
    let plain = run(&plain_args, d);
    let bytes = fs::read(d.join("m.aec")).unwrap();
    let plain_bytes = fs::read(d.join("p.aec")).unwrap();
    assert_eq!(
        bytes[5] & EXACT_FLAG,
        EXACT_FLAG,
        "kind byte {:#x}",
        bytes[5]
    );
    assert_eq!(plain_bytes[5] & EXACT_FLAG, 0);
    assert!(bytes.len() <= plain_bytes.len());
    let psnr = |line: &str| -> f64 {
        let after = line.split("PSNR ").nth(1).expect("a PSNR");
        after.split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(psnr(&out) > psnr(&plain) + 5.0, "{out}{plain}");
    run(&["decompress", "m.aec", "-o", "back.png"], d);
    let back = image::open(d.join("back.png")).unwrap().to_rgb8();
    let source = image::open(MIXED).unwrap().to_rgb8();
    let file = CodedFile::from_bytes(&bytes).unwrap();
    let exact = file.exact.as_ref().unwrap();
    let (bx, _) = ExactBlocks::grid(file.width, file.height);
    let pixels = (source.enumerate_pixels())
        .filter(|(x, y, _)| exact.is_exact((y / EXACT_BLOCK * bx + x / EXACT_BLOCK) as usize))
        .map(|(x, y, p)| (back.get_pixel(x, y).0, p.0))
        .collect();
    (out, file, pixels)
}

#[test]
fn flat_blocks_are_kept_exactly_and_the_rest_lossily() {
    let (out, file, pixels) = blocks_against_plain("7");
    assert!(out.contains("of 96 blocks exact"), "{out}");
    // The exact blocks decode to the source's pixels.
    for (i, (back, source)) in pixels.iter().enumerate() {
        assert_eq!(back, source, "pixel {i} of the exact blocks");
    }
    let source = image::open(MIXED).unwrap().to_rgb8();
    assert_eq!(
        pixels.len() as u64,
        exact_pixels(file.exact.as_ref().unwrap(), &source)
    );
    // inspect counts them.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("m.aec"), file.to_bytes().unwrap()).unwrap();
    let report = run(&["inspect", "m.aec"], dir.path());
    assert!(report.contains("exact_blocks:"), "{report}");
}

/// Where the flat blocks do not fit exactly (Q3 here), they go into the lossless bitstream in
/// a reduced palette: still fewer bytes than the lossy file, and far closer to the image.
#[test]
fn flat_blocks_take_a_palette_where_exact_ones_do_not_fit() {
    let (out, _, pixels) = blocks_against_plain("3");
    let colours: usize = (out.split(" blocks in a ").nth(1))
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no palette blocks: {out}"));
    assert!(colours <= 256, "{out}");
    // The blocks in the bitstream decode to at most that many colours, each near the source.
    let seen: std::collections::HashSet<_> = pixels.iter().map(|(back, _)| back).collect();
    assert!(
        !pixels.is_empty() && seen.len() <= colours,
        "{} colours",
        seen.len()
    );
    let sum: f64 = (pixels.iter())
        .flat_map(|(p, q)| (0..3).map(|c| (f64::from(p[c]) - f64::from(q[c])).powi(2)))
        .sum();
    let mse = sum / (3 * pixels.len()) as f64;
    // Above 30 dB in those blocks (their own error, not the file's).
    assert!(
        mse < 65.0,
        "mean squared error {mse} in the palette's blocks"
    );
}

/// The library's `compress` makes the same choice, and `decompress` reads it back.
#[test]
fn the_library_keeps_exact_blocks_too() {
    let image = image::open(MIXED).unwrap();
    let bytes = aec::codec::compress(&image, 7.0).unwrap();
    assert_eq!(bytes[5] & EXACT_FLAG, EXACT_FLAG);
    let back = aec::codec::decompress(&bytes).unwrap().to_rgb8();
    let file = CodedFile::from_bytes(&bytes).unwrap();
    let exact = file.exact.as_ref().unwrap();
    let (bx, _) = ExactBlocks::grid(file.width, file.height);
    let source = image.to_rgb8();
    for (x, y, p) in source.enumerate_pixels() {
        if exact.is_exact((y / EXACT_BLOCK * bx + x / EXACT_BLOCK) as usize) {
            assert_eq!(back.get_pixel(x, y), p, "({x}, {y})");
        }
    }
}

/// Making a file with flat blocks, exact or in a palette, stays within the README's bound for
/// the larger levels: 250 MB plus 36 bytes a pixel.
#[test]
fn exact_blocks_are_made_within_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 1,920 × 1,280 pixels: lines of glyphs, each of its own shape, each line's ink its own
    // colour in three shades at random, around a 960 × 640 photo (the crop, repeated, with
    // noise so that no repeat is exact).
    let crop = image::open("tests/fixtures/kodim23-crop.png")
        .unwrap()
        .to_rgb8();
    let hash = |v: u32| {
        v.wrapping_mul(2_654_435_761)
            .rotate_left(13)
            .wrapping_mul(40_503)
    };
    let (w, h) = (1920, 1280);
    RgbImage::from_fn(w, h, |x, y| {
        if (480..1440).contains(&x) && (320..960).contains(&y) {
            let p = crop.get_pixel(x % 96, y % 64).0;
            let n = hash(y * w + x);
            return image::Rgb(std::array::from_fn(|c| p[c] ^ (n >> (8 * c)) as u8 & 7));
        }
        let glyph = hash((y / 10) * 1000 + x / 6);
        let ink = y % 10 < 7 && x % 6 < 5 && (glyph >> (((y % 10) * 5 + x % 6) % 32)) & 1 == 1;
        let line = hash(y / 10);
        let shade = 9 + hash(y * w + x) % 3;
        let base = [line % 97, line / 97 % 89, 60];
        image::Rgb(if ink {
            base.map(|c| (c * shade / 11) as u8)
        } else {
            [250, 250, 250]
        })
    })
    .save(d.join("big.png"))
    .unwrap();
    // Exactly at Q7; at Q3 and Q1 in a palette (the exact text does not fit there).
    for (q, kind) in [
        ("7", "blocks exact"),
        ("3", "-colour palette"),
        ("1", "-colour palette"),
    ] {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("aec"));
        cmd.current_dir(d)
            .args(["compress", "big.png", "-o", "big.aec", "-f", "-Q", q]);
        let (code, stderr, peak) = run_measured(cmd);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains(kind) && stderr.contains(" blocks "),
            "Q{q}: {stderr}"
        );
        let pixels = u64::from(w * h);
        assert!(peak < (250 << 20) + 36 * pixels, "Q{q}: peak {peak} bytes");
    }
}

/// Pixels of the exact blocks of `image`, counted from the map.
fn exact_pixels(exact: &ExactBlocks, image: &RgbImage) -> u64 {
    let (bx, by) = ExactBlocks::grid(image.width(), image.height());
    let side = |i: u32, len: u32| u64::from((len - i * EXACT_BLOCK).min(EXACT_BLOCK));
    (0..bx * by)
        .filter(|&i| exact.is_exact(i as usize))
        .map(|i| side(i % bx, image.width()) * side(i / bx, image.height()))
        .sum()
}

#[test]
fn photos_and_low_levels_stay_lossy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::copy("tests/fixtures/kodim23-crop.png", d.join("c.png")).unwrap();
    fs::copy(MIXED, d.join("m.png")).unwrap();
    // A photo has no flat blocks; at Q1 the mixed image's flat blocks do not fit, even in 16
    // colours.
    for (input, q) in [("c.png", "7"), ("m.png", "1")] {
        let out = run(&["compress", input, "-o", "x.aec", "-Q", q, "-f"], d);
        assert!(!out.contains(" blocks "), "{out}");
        let bytes = fs::read(d.join("x.aec")).unwrap();
        assert_eq!(bytes[5] & EXACT_FLAG, 0, "{input} at Q{q}");
    }
}

#[test]
fn damaged_exact_blocks_are_refused_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bytes = fs::read("tests/fixtures/mixed-blocks.aec").unwrap();
    let start = CodedHeader::parse(&bytes).unwrap().encoded_len();
    let model = "samples/model/hyper/context-v1/q3.safetensors";
    let model = std::env::current_dir().unwrap().join(model);
    let decode = |b: &[u8]| {
        let n = b.len() - 4;
        let mut b = b.to_vec();
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
        fs::write(d.join("bad.aec"), b).unwrap();
        let m = model.to_str().unwrap();
        fails(
            &["decompress", "bad.aec", "-o", "bad.png", "--model", m, "-f"],
            d,
        )
    };
    // No block exact: written without the section, so refused with the map's place.
    let mut b = bytes.clone();
    b[start..start + 12].fill(0);
    let err = decode(&b);
    assert!(
        err.contains(&format!("exact blocks at byte {start}")),
        "{err}"
    );
    // The bitstream's length past the end of the file.
    let mut b = bytes.clone();
    b[start + 12 + 3] = 0x40;
    let err = decode(&b);
    assert!(err.contains("truncated"), "{err}");
    assert!(!d.join("bad.png").exists());
}
