//! Images to 32×32 tiles and back.

use image::{GrayImage, RgbImage};

use crate::model::{TILE, TILE_VALUES};

/// Cuts an image into 32×32 tiles in raster order, channel-major, padding the right and
/// bottom edges by repeating the last column and row.
pub fn to_tiles(rgb: &RgbImage) -> Vec<u8> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (tx, ty) = (w.div_ceil(TILE), h.div_ceil(TILE));
    let raw = rgb.as_raw();
    let mut out = Vec::with_capacity(tx * ty * TILE_VALUES);
    for by in 0..ty {
        for bx in 0..tx {
            for c in 0..3 {
                for y in 0..TILE {
                    let row = (by * TILE + y).min(h - 1) * w;
                    out.extend((0..TILE).map(|x| raw[(row + (bx * TILE + x).min(w - 1)) * 3 + c]));
                }
            }
        }
    }
    out
}

/// Assembles decoded tiles (values in [0, 1], raster order, channel-major) into an image of
/// the given size, dropping the padding.
pub fn from_tiles(tiles: &[f32], width: u32, height: u32) -> RgbImage {
    let mut image = RgbImage::new(width, height);
    place_tiles(&mut image, tiles, 0);
    image
}

/// Writes decoded tiles, the first of which is tile number `first` in raster order, into
/// their places in `image`, dropping what falls outside it.
pub(crate) fn place_tiles(image: &mut RgbImage, tiles: &[f32], first: usize) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let tx = w.div_ceil(TILE);
    let raw: &mut [u8] = image;
    for (i, tile) in tiles.chunks_exact(TILE_VALUES).enumerate() {
        let t = first + i;
        let (bx, by) = (t % tx, t / tx);
        for c in 0..3 {
            for y in 0..TILE {
                let py = by * TILE + y;
                if py >= h {
                    break;
                }
                for x in 0..TILE {
                    let px = bx * TILE + x;
                    if px >= w {
                        break;
                    }
                    let v = tile[c * TILE * TILE + y * TILE + x];
                    raw[(py * w + px) * 3 + c] = to_u8(v);
                }
            }
        }
    }
}

/// A model output in [0, 1] to a byte, rounding to nearest.
#[inline]
pub fn to_u8(v: f32) -> u8 {
    (v * 255.0).round().clamp(0.0, 255.0) as u8
}

/// The grey image of a decoded RGB image of a grey source: the mean of the three channels,
/// rounded (the model codes grey as three equal channels; its output differs a little
/// between them).
pub fn to_grey(rgb: &RgbImage) -> GrayImage {
    let (w, h) = rgb.dimensions();
    let grey = rgb.as_raw().chunks_exact(3).map(grey_of).collect();
    GrayImage::from_raw(w, h, grey).expect("one byte per pixel")
}

/// The grey of one RGB pixel: the rounded mean of its three samples.
pub(crate) fn grey_of(p: &[u8]) -> u8 {
    ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2]) + 1) / 3) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_round_trip_with_edge_padding() {
        let mut img = RgbImage::new(33, 17);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 7) as u8, (y * 13) as u8, (x + y) as u8]);
        }
        let tiles = to_tiles(&img);
        assert_eq!(tiles.len(), 2 * TILE_VALUES);
        // The second tile's column 5 repeats the image's last column (x = 32).
        assert_eq!(tiles[TILE_VALUES + 5], (32 * 7) as u8);
        // Row 20 of the first tile repeats the last row (y = 16).
        assert_eq!(tiles[1024 + 20 * 32], (16 * 13) as u8);
        let as_f32: Vec<f32> = tiles.iter().map(|&b| f32::from(b) / 255.0).collect();
        assert_eq!(from_tiles(&as_f32, 33, 17), img);
    }
}
