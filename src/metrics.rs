//! Image quality measures: PSNR and SSIM.
//!
//! PSNR is `10·log10(peak² / MSE)` over every sample of every channel. Over a set of images,
//! aec reports two conventions: the mean of per-image PSNR, and the PSNR of the mean MSE (the
//! latter is never higher).
//!
//! SSIM follows Wang et al. (2004) and their reference MATLAB code: an 11×11 Gaussian window
//! with σ = 1.5, K1 = 0.01, K2 = 0.03, dynamic range 255, averaged over the positions where the
//! window fits inside the image ("valid"), computed per RGB channel and averaged over channels.
//! This equals scikit-image's `structural_similarity(..., gaussian_weights=True, sigma=1.5,
//! use_sample_covariance=False, data_range=255, channel_axis=2)`, which the tests check against.

use image::RgbImage;

/// PSNR in dB of a mean squared error measured on pixels in [0, 1]. Infinite for 0.
pub fn psnr_from_mse(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        -10.0 * mse.log10()
    }
}

/// Mean squared error of two RGB8 images of the same size, on pixels scaled to [0, 1].
///
/// # Panics
/// If the sizes differ.
pub fn mse_rgb8(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "images must have the same size"
    );
    mse_u8(a.as_raw(), b.as_raw())
}

/// Mean squared error of two equally long runs of 8-bit samples, scaled to [0, 1].
///
/// # Panics
/// If the lengths differ.
pub fn mse_u8(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "sample counts must agree");
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum();
    se / (a.len() as f64 * 255.0 * 255.0)
}

/// PSNR in dB of two RGB8 images of the same size.
pub fn psnr_rgb8(a: &RgbImage, b: &RgbImage) -> f64 {
    psnr_from_mse(mse_rgb8(a, b))
}

const WINDOW: usize = 11;
const SIGMA: f64 = 1.5;

fn gaussian_window() -> [f64; WINDOW] {
    let mut w = [0.0; WINDOW];
    let c = (WINDOW / 2) as f64;
    for (i, v) in w.iter_mut().enumerate() {
        let x = i as f64 - c;
        *v = (-x * x / (2.0 * SIGMA * SIGMA)).exp();
    }
    let sum: f64 = w.iter().sum();
    w.map(|v| v / sum)
}

/// SSIM of two RGB8 images of the same size (mean over channels).
///
/// Images smaller than the 11×11 window in either side are compared with a window the size
/// of the image (a single position), so tiny images still get a score.
///
/// # Panics
/// If the sizes differ.
pub fn ssim_rgb8(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "images must have the same size"
    );
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (ra, rb) = (a.as_raw(), b.as_raw());
    (0..3)
        .map(|c| {
            let x: Vec<f64> = ra
                .iter()
                .skip(c)
                .step_by(3)
                .map(|&v| f64::from(v))
                .collect();
            let y: Vec<f64> = rb
                .iter()
                .skip(c)
                .step_by(3)
                .map(|&v| f64::from(v))
                .collect();
            ssim_plane(&x, &y, w, h)
        })
        .sum::<f64>()
        / 3.0
}

/// SSIM of one channel (`w × h` samples in [0, 255]).
pub fn ssim_plane(x: &[f64], y: &[f64], w: usize, h: usize) -> f64 {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let full = gaussian_window();
    // Separable window, shrunk (and renormalised) only when the image is smaller than it.
    let window = |n: usize| -> Vec<f64> {
        if n >= WINDOW {
            full.to_vec()
        } else {
            let start = (WINDOW - n) / 2;
            let part = &full[start..start + n];
            let s: f64 = part.iter().sum();
            part.iter().map(|v| v / s).collect()
        }
    };
    let (wx, wy) = (window(w), window(h));
    let (ow, oh) = (w - wx.len() + 1, h - wy.len() + 1);
    // Filtered planes of x, y, x², y², xy: rows first, then columns.
    let products: [Vec<f64>; 5] = [
        x.to_vec(),
        y.to_vec(),
        x.iter().map(|v| v * v).collect(),
        y.iter().map(|v| v * v).collect(),
        x.iter().zip(y).map(|(a, b)| a * b).collect(),
    ];
    let filtered: Vec<Vec<f64>> = products
        .iter()
        .map(|p| {
            let mut rows = vec![0.0; ow * h];
            for r in 0..h {
                for c in 0..ow {
                    rows[r * ow + c] = wx
                        .iter()
                        .enumerate()
                        .map(|(k, g)| g * p[r * w + c + k])
                        .sum();
                }
            }
            let mut out = vec![0.0; ow * oh];
            for r in 0..oh {
                for c in 0..ow {
                    out[r * ow + c] = wy
                        .iter()
                        .enumerate()
                        .map(|(k, g)| g * rows[(r + k) * ow + c])
                        .sum();
                }
            }
            out
        })
        .collect();
    let n = (ow * oh) as f64;
    (0..ow * oh)
        .map(|i| {
            let (mx, my) = (filtered[0][i], filtered[1][i]);
            let sxx = filtered[2][i] - mx * mx;
            let syy = filtered[3][i] - my * my;
            let sxy = filtered[4][i] - mx * my;
            ((2.0 * mx * my + C1) * (2.0 * sxy + C2))
                / ((mx * mx + my * my + C1) * (sxx + syy + C2))
        })
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(w: u32, h: u32, f: impl Fn(u32, u32, u32) -> u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([f(x, y, 0), f(x, y, 1), f(x, y, 2)])
        })
    }

    #[test]
    fn psnr_of_identical_and_offset_images() {
        let a = pattern(32, 32, |x, y, c| ((x * 5 + y * 3 + c * 40) % 200) as u8);
        assert_eq!(psnr_rgb8(&a, &a), f64::INFINITY);
        // A constant offset of 5 levels: MSE = 25/255², PSNR = 20·log10(255/5) = 34.1514 dB.
        let b = pattern(32, 32, |x, y, c| ((x * 5 + y * 3 + c * 40) % 200 + 5) as u8);
        assert!(
            (psnr_rgb8(&a, &b) - 34.151_404).abs() < 1e-5,
            "{}",
            psnr_rgb8(&a, &b)
        );
        assert!((psnr_from_mse(0.01) - 20.0).abs() < 1e-12);
    }

    #[test]
    fn ssim_of_identical_images_is_one() {
        let a = pattern(40, 24, |x, y, c| ((x * 7 + y * y + c * 31) % 256) as u8);
        assert!((ssim_rgb8(&a, &a) - 1.0).abs() < 1e-12);
        let tiny = pattern(3, 2, |x, y, c| (x * 50 + y * 20 + c) as u8);
        assert!((ssim_rgb8(&tiny, &tiny) - 1.0).abs() < 1e-12);
    }

    /// Reference values from scikit-image 0.26 `structural_similarity(a, b,
    /// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
    /// channel_axis=2)` on the same synthetic images.
    #[test]
    fn ssim_matches_scikit_image() {
        let base = |x: u32, y: u32, c: u32| (x * 7 + y * y + c * 31) % 256;
        let a = pattern(40, 24, |x, y, c| base(x, y, c) as u8);
        let b = pattern(40, 24, |x, y, c| {
            ((base(x, y, c) + (x * y + c) % 23) % 256) as u8
        });
        let c = pattern(40, 24, |x, y, c| (base(x, y, c) / 2 + 40).min(255) as u8);
        assert!(
            (ssim_rgb8(&a, &b) - 0.750_417_143_026_343_9).abs() < 1e-9,
            "{}",
            ssim_rgb8(&a, &b)
        );
        assert!(
            (ssim_rgb8(&a, &c) - 0.784_209_551_973_363_5).abs() < 1e-9,
            "{}",
            ssim_rgb8(&a, &c)
        );
    }
}
