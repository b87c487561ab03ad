//! The analysis and synthesis transforms over a large image, one region at a time.
//!
//! The latent `y` is cut into a grid of rectangles; each is computed (or decoded) from its own
//! part of the image (or of `ŷ`) grown by a halo of [`HALO`] latent rows and columns on every
//! side, and only its own values are kept. Every `y` value depends on the image within 30
//! pixels of its 16×16 block, and every image pixel on the `ŷ` values within 1.9 of its own
//! position, both inside the 2-unit (32-pixel) halo; so each kept value is computed from the
//! same inputs as over the whole image, and to the same bits
//! ([`crate::model::hyper::cpu::infer`] computes each value the same way wherever it lies).
//! Memory then depends on the region size, not on the image's.

use image::RgbImage;

use super::Geometry;
use crate::codec::tiles::to_u8;
use crate::cpu_path::Path;
use crate::model::hyper::cpu::coding::Analysis;
use crate::model::hyper::cpu::infer::{Map, Plan};
use crate::model::hyper::Y_STRIDE;

/// Largest region the transforms see at once, halo included, in image pixels: its first
/// analysis layer's output, 64 values for every 4 pixels, is then 32 MB for a 64-channel model.
pub const REGION_PIXELS: usize = 1 << 19;
/// Latent rows and columns computed around a region and dropped.
pub const HALO: usize = 2;

/// A rectangle of latent positions: rows `r.0..r.1`, columns `c.0..c.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Rows of `y`.
    pub r: (usize, usize),
    /// Columns of `y`.
    pub c: (usize, usize),
}

impl Region {
    /// The region grown by the halo, within `rows × cols`.
    fn grown(self, rows: usize, cols: usize) -> Region {
        let grow = |(a, b): (usize, usize), n: usize| (a.saturating_sub(HALO), (b + HALO).min(n));
        Region {
            r: grow(self.r, rows),
            c: grow(self.c, cols),
        }
    }

    fn height(&self) -> usize {
        self.r.1 - self.r.0
    }

    fn width(&self) -> usize {
        self.c.1 - self.c.0
    }
}

/// The regions covering a `rows × cols` latent, each with at most about `pixels` image pixels
/// with its halo: the whole latent when it fits, else a grid of equal squares (the last ones
/// of each row and column smaller).
pub fn regions(rows: usize, cols: usize, pixels: usize) -> Vec<Region> {
    let unit = Y_STRIDE * Y_STRIDE;
    if rows.saturating_mul(cols).saturating_mul(unit) <= pixels {
        return vec![Region {
            r: (0, rows),
            c: (0, cols),
        }];
    }
    let side = ((pixels / unit) as f64).sqrt() as usize;
    let step = side.saturating_sub(2 * HALO).max(1);
    let mut out = Vec::new();
    for r0 in (0..rows).step_by(step) {
        for c0 in (0..cols).step_by(step) {
            out.push(Region {
                r: (r0, (r0 + step).min(rows)),
                c: (c0, (c0 + step).min(cols)),
            });
        }
    }
    out
}

/// `y` of the padded image, channel-major.
pub fn analysis(
    plan: &Analysis,
    path: Path,
    (m, pixels): (usize, usize),
    rgb: &RgbImage,
    g: Geometry,
) -> Vec<f32> {
    let (yh, yw) = g.y;
    let mut y = vec![0f32; m * yh * yw];
    for region in regions(yh, yw, pixels) {
        let big = region.grown(yh, yw);
        let part = plan.run(path, image_part(rgb, big));
        debug_assert_eq!(
            (part.height, part.width, part.channels),
            (big.height(), big.width(), m)
        );
        for j in region.r.0..region.r.1 {
            for i in region.c.0..region.c.1 {
                let src = ((j - big.r.0) * part.width + i - big.c.0) * m;
                for (c, &v) in part.values[src..src + m].iter().enumerate() {
                    y[(c * yh + j) * yw + i] = v;
                }
            }
        }
    }
    y
}

/// The pixels of a latent region of the padded image (edges repeated).
fn image_part(rgb: &RgbImage, big: Region) -> Map<u8> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (rows, cols) = (big.height() * Y_STRIDE, big.width() * Y_STRIDE);
    let (y0, x0) = (big.r.0 * Y_STRIDE, big.c.0 * Y_STRIDE);
    let raw: &[u8] = rgb.as_raw();
    // The columns inside the image are one copy a row; those past its right edge repeat it.
    let inside = w.saturating_sub(x0).min(cols);
    let start = 3 * x0.min(w);
    let mut values = Vec::with_capacity(3 * rows * cols);
    for y in 0..rows {
        let row = &raw[3 * w * (y0 + y).min(h - 1)..][..3 * w];
        values.extend_from_slice(&row[start..start + 3 * inside]);
        let edge = &row[3 * (w - 1)..];
        (inside..cols).for_each(|_| values.extend_from_slice(edge));
    }
    Map {
        height: rows,
        width: cols,
        channels: 3,
        values,
    }
}

/// The image from `ŷ` (channel-major), cropped to `width × height`.
pub fn synthesis(
    plan: &Plan,
    path: Path,
    (m, pixels): (usize, usize),
    y: &[f32],
    g: Geometry,
    (width, height): (u32, u32),
) -> RgbImage {
    let (yh, yw) = g.y;
    let mut out = RgbImage::new(width, height);
    for region in regions(yh, yw, pixels) {
        let big = region.grown(yh, yw);
        let (bh, bw) = (big.height(), big.width());
        let mut values = vec![0f32; m * bh * bw];
        for c in 0..m {
            for j in big.r.0..big.r.1 {
                for i in big.c.0..big.c.1 {
                    values[((j - big.r.0) * bw + i - big.c.0) * m + c] = y[(c * yh + j) * yw + i];
                }
            }
        }
        let part = Map {
            height: bh,
            width: bw,
            channels: m,
            values,
        };
        let x = plan.run(path, part);
        let cols = x.width;
        let ys = region.r.0 * Y_STRIDE..(region.r.1 * Y_STRIDE).min(height as usize);
        let xs = region.c.0 * Y_STRIDE..(region.c.1 * Y_STRIDE).min(width as usize);
        for r in ys {
            let local_r = r - big.r.0 * Y_STRIDE;
            for col in xs.clone() {
                let local_c = col - big.c.0 * Y_STRIDE;
                let at = |c: usize| to_u8(x.values[(local_r * cols + local_c) * 3 + c]);
                out.put_pixel(col as u32, r as u32, image::Rgb([at(0), at(1), at(2)]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_parts_repeat_the_edges() {
        // Odd sizes, so that regions reach past the right and bottom edges.
        let rgb = RgbImage::from_fn(37, 21, |x, y| image::Rgb([x as u8, y as u8, (x * y) as u8]));
        for region in regions(2, 3, 16 * 16)
            .into_iter()
            .chain(regions(2, 3, usize::MAX))
        {
            let big = region.grown(2, 3);
            let part = image_part(&rgb, big);
            let (y0, x0) = (big.r.0 * Y_STRIDE, big.c.0 * Y_STRIDE);
            for y in 0..part.height {
                for x in 0..part.width {
                    let (px, py) = ((x0 + x) as u32, (y0 + y) as u32);
                    let p = rgb.get_pixel(px.min(rgb.width() - 1), py.min(rgb.height() - 1));
                    let at = (y * part.width + x) * 3;
                    assert_eq!(&part.values[at..at + 3], &p.0, "{big:?} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn regions_cover_the_latent_once() {
        for (rows, cols, pixels) in [
            (21, 10, 1),
            (7, 300, 40_000),
            (5, 5, usize::MAX),
            (64, 33, 1 << 19),
        ] {
            let mut seen = vec![0u8; rows * cols];
            for g in regions(rows, cols, pixels) {
                for r in g.r.0..g.r.1 {
                    for c in g.c.0..g.c.1 {
                        seen[r * cols + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{rows}×{cols} at {pixels}");
        }
        assert_eq!(regions(5, 5, usize::MAX).len(), 1);
        // Regions with their halos stay within the budget (when it allows more than a halo).
        for g in regions(100, 100, 1 << 19) {
            let big = g.grown(100, 100);
            assert!(big.height() * big.width() * 256 <= 1 << 19, "{big:?}");
        }
    }
}
