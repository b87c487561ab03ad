//! Writes five 640 × 480 RGBA test images whose alpha planes span what transparency looks like
//! (antialiased shapes, a hard and a soft cut-out matte, a vignette, soft noise), the colour a
//! crop of a photo, and prints what each alpha filter's stream costs. `scripts/alpha.sh` runs it.
//!
//!   cargo run --release --example alpha_planes -- PHOTO OUT_DIR

use aec::format::{AlphaFilter, AlphaPlane};
use image::imageops::{self, FilterType};
use image::{GrayImage, Luma, RgbaImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const W: u32 = 640;
const H: u32 = 480;

/// Twelve ellipses and rectangles drawn at 4× and scaled down: antialiased edges.
fn shapes(rng: &mut ChaCha8Rng) -> GrayImage {
    let mut big = GrayImage::new(W * 4, H * 4);
    for i in 0..12 {
        let (cx, cy) = (
            rng.random_range(0..W * 4) as f32,
            rng.random_range(0..H * 4) as f32,
        );
        let r = 80.0 + rng.random_range(0..520) as f32;
        for (x, y, p) in big.enumerate_pixels_mut() {
            let (dx, dy) = ((x as f32 - cx) / r, (y as f32 - cy) / (r / 2.0));
            let inside = match i % 2 {
                0 => dx.abs() <= 1.0 && dy.abs() <= 1.0,
                _ => dx * dx + dy * dy <= 1.0,
            };
            if inside {
                *p = Luma([255]);
            }
        }
    }
    imageops::resize(&big, W, H, FilterType::Lanczos3)
}

/// The photo's brighter half, opaque; the rest transparent.
fn hard_matte(photo: &RgbaImage) -> GrayImage {
    let luma = GrayImage::from_fn(W, H, |x, y| {
        let p = photo.get_pixel(x, y);
        Luma([((u32::from(p[0]) * 2 + u32::from(p[1]) * 5 + u32::from(p[2])) / 8) as u8])
    });
    let mut sorted: Vec<u8> = luma.as_raw().clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    GrayImage::from_fn(W, H, |x, y| {
        Luma([if luma.get_pixel(x, y)[0] > median {
            255
        } else {
            0
        }])
    })
}

/// A radial fade, opaque in the middle.
fn vignette() -> GrayImage {
    let (cx, cy) = (W as f32 / 2.0, H as f32 / 2.0);
    let far = cx.hypot(cy);
    GrayImage::from_fn(W, H, |x, y| {
        let r = (x as f32 - cx).hypot(y as f32 - cy) / far;
        Luma([(255.0 * (1.2 - r)).clamp(0.0, 255.0) as u8])
    })
}

/// Noise on an 80 × 60 grid, scaled up smoothly: smoke, clouds.
fn smoke(rng: &mut ChaCha8Rng) -> GrayImage {
    let coarse = GrayImage::from_fn(W / 8, H / 8, |_, _| Luma([rng.random_range(0..=255u8)]));
    imageops::resize(&coarse, W, H, FilterType::CatmullRom)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: alpha_planes PHOTO OUT_DIR");
    let photo = image::open(&args[1])?;
    anyhow::ensure!(
        photo.width() >= W && photo.height() >= H,
        "a photo of at least {W}×{H}"
    );
    let photo = photo.crop_imm(0, 0, W, H).to_rgba8();
    let out = std::path::Path::new(&args[2]);
    std::fs::create_dir_all(out)?;
    // ChaCha: the same planes on every machine.
    let mut rng = ChaCha8Rng::seed_from_u64(0xa1fa);
    let hard = hard_matte(&photo);
    let planes = [
        ("shapes", shapes(&mut rng)),
        ("matte-hard", hard.clone()),
        ("matte-soft", imageops::blur(&hard, 2.0)),
        ("vignette", vignette()),
        ("smoke", smoke(&mut rng)),
    ];
    println!("plane,none,left,up,gradient,context");
    for (name, plane) in planes {
        let mut rgba = photo.clone();
        for (p, a) in rgba.pixels_mut().zip(plane.pixels()) {
            p[3] = a[0];
        }
        rgba.save(out.join(format!("{name}.png")))?;
        let sizes: Vec<String> = AlphaFilter::ALL
            .iter()
            .map(|&f| AlphaPlane::with_filter(plane.as_raw(), W, H, f).map(|a| a.stream.len()))
            .map(|n| n.map(|n| n.to_string()))
            .collect::<Result<_, _>>()?;
        println!("{name},{}", sizes.join(","));
    }
    Ok(())
}
