//! Palettes alone on a set of images: each quantized to N colours (`aec::codec::palette`) and
//! stored as a lossless file, the mean bytes and the PSNR of the mean MSE.
//!
//!     cargo run --release --example palette_probe -- 64 docs/rd/screen/images/*.png

use aec::codec::{lossless, palette};
use aec::metrics::{mse_u8, psnr_from_mse};
use image::DynamicImage;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let colours: usize = args
        .next()
        .ok_or("usage: palette_probe COLOURS IMAGE...")?
        .parse()?;
    let (mut bytes, mut mses) = (0, Vec::new());
    for path in args {
        let rgb = image::open(&path)?.to_rgb8();
        let reduced = palette::quantize(&rgb, colours);
        mses.push(mse_u8(rgb.as_raw(), reduced.as_raw()));
        bytes += lossless::encode(&DynamicImage::ImageRgb8(reduced))?.len();
    }
    let n = mses.len().max(1) as f64;
    println!(
        "{colours} colours: {:.1} bytes an image, PSNR of the mean MSE {:.2} dB ({n} images)",
        bytes as f64 / n,
        psnr_from_mse(mses.iter().sum::<f64>() / n)
    );
    Ok(())
}
