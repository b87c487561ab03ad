//! The codec: any image to an [`AecFile`] and back, through a model.
//!
//! An image becomes RGB8 (grey is replicated, alpha dropped, 16-bit and float images rounded),
//! is padded on the right and bottom by repeating its edge pixels up to whole 32×32 tiles, and
//! every tile is coded in batches. Decoding reverses this and crops to the original size.
//!
//! One pixel limit, [`MAX_PIXELS`] unless [`Codec::with_max_pixels`] lowers it, holds for both
//! directions, so that every file `compress` writes can be decoded.

use aec_format::{AecFile, Codes, FileHeader, Layout, Limits, Precision};
use burn::tensor::Device;
use image::{DynamicImage, GrayImage, RgbImage};

use crate::infer::TileCoder;
use crate::model::{Weights, TILE, TILE_VALUES};
use crate::store::{self, LoadedModel, ModelError, ModelId};

/// Bytes of the model built into aec: the reference configuration (code length 128), trained
/// with `aec train` as `samples/model/README.md` records, stored as f16.
pub static BUILTIN_MODEL: &[u8] = include_bytes!("../samples/model/aec-128.safetensors");

/// Largest image side the container can describe.
pub const MAX_SIDE: u32 = u16::MAX as u32;

/// Largest image, in pixels, that aec compresses or decompresses by default (768 MiB of RGB):
/// a file may declare up to 65,535 × 65,535 pixels in a few bytes, and decoding must not
/// allocate without bound.
pub const MAX_PIXELS: u64 = 1 << 28;

/// What can go wrong compressing or decompressing.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The image is larger than the container allows.
    #[error("image is {width}×{height}; the largest side a .aec file can hold is {MAX_SIDE}")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The image has more pixels than the codec's limit.
    #[error("image is {width}×{height} ({} pixels); the limit is {limit} pixels (--max-pixels)", u64::from(*width) * u64::from(*height))]
    TooManyPixels {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The limit in force.
        limit: u64,
    },
    /// The image has no pixels.
    #[error("image is empty ({width}×{height})")]
    Empty {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The file was made by another model.
    #[error("file was made by model {file} but this codec's model is {codec}")]
    WrongModel {
        /// The file's model id (16 bytes, hex).
        file: String,
        /// This codec's model id (16 bytes, hex).
        codec: String,
    },
    /// The file's tile size or code length do not fit this model.
    #[error("file has {file_tile}-pixel tiles and {file_code}-value codes; the model needs {TILE} and {model_code}")]
    Mismatch {
        /// Tile size in the file.
        file_tile: u32,
        /// Code length in the file.
        file_code: u32,
        /// The model's code length.
        model_code: usize,
    },
    /// The sparse threshold is not a number ≥ 0.
    #[error("sparse threshold {0} must be a number ≥ 0")]
    BadThreshold(f32),
    /// The model could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The container refused the file.
    #[error(transparent)]
    Format(#[from] aec_format::FormatError),
}

/// How to store an image's codes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressOptions {
    /// f16 by default: it costs no measurable quality (see the README) at half the bytes.
    pub precision: Precision,
    /// Store code values whose magnitude is at most this as zero, in the sparse layout.
    /// `None`: dense layout.
    pub sparse_threshold: Option<f32>,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self {
            precision: Precision::F16,
            sparse_threshold: None,
        }
    }
}

/// A model ready to code images.
pub struct Codec {
    coder: Box<dyn TileCoder>,
    weights: Weights,
    id: ModelId,
    max_pixels: u64,
}

impl Codec {
    /// A codec from a loaded model, computing with the fast CPU path.
    pub fn new(model: LoadedModel) -> Self {
        let coder = crate::infer::CpuCoder::new(&model.weights);
        Self {
            coder: Box::new(coder),
            weights: model.weights,
            id: model.id,
            max_pixels: MAX_PIXELS,
        }
    }

    /// A codec that computes with burn on `device` (for GPUs, and to check the CPU path).
    pub fn with_device(model: LoadedModel, device: &Device) -> Self {
        let coder = crate::infer::BurnCoder::new(&model.weights, device);
        Self {
            coder: Box::new(coder),
            weights: model.weights,
            id: model.id,
            max_pixels: MAX_PIXELS,
        }
    }

    /// The model built into aec.
    pub fn builtin() -> Result<Self, CodecError> {
        Ok(Self::new(store::model_from_bytes(BUILTIN_MODEL)?))
    }

    /// The same codec with another pixel limit for compression and decompression (at most
    /// [`MAX_PIXELS`]; a larger value is taken as [`MAX_PIXELS`]).
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels.min(MAX_PIXELS);
        self
    }

    /// The pixel limit in force.
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// The model's identity.
    pub fn model_id(&self) -> ModelId {
        self.id
    }

    /// The model's weights.
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Compresses an image.
    pub fn compress(
        &self,
        image: &DynamicImage,
        options: &CompressOptions,
    ) -> Result<AecFile, CodecError> {
        let channels = image.color().channel_count();
        let rgb = image.to_rgb8();
        self.compress_rgb(&rgb, channels, options)
    }

    /// Compresses an RGB image; `channels` is recorded as the source's channel count.
    pub fn compress_rgb(
        &self,
        rgb: &RgbImage,
        channels: u8,
        options: &CompressOptions,
    ) -> Result<AecFile, CodecError> {
        let (width, height) = rgb.dimensions();
        self.check_size(width, height)?;
        let threshold = match options.sparse_threshold {
            Some(t) if !(t >= 0.0 && t.is_finite()) => return Err(CodecError::BadThreshold(t)),
            t => t,
        };
        let tiles = to_tiles(rgb);
        let mut codes = self.coder.encode(&tiles);
        if let Some(t) = threshold {
            for v in &mut codes {
                if v.abs() <= t {
                    *v = 0.0;
                }
            }
        }
        // The sparse writer leaves out every zero, including values that round to zero in f16.
        let codes = Codes::from_f32(&codes, options.precision);
        let file = AecFile {
            model_id: self.id.short(),
            width,
            height,
            channels: channels.clamp(1, 4),
            tile_size: TILE as u32,
            code_length: self.weights.config.code_length as u32,
            layout: if threshold.is_some() {
                Layout::Sparse
            } else {
                Layout::Dense
            },
            codes,
        };
        file.validate()?;
        Ok(file)
    }

    /// Checks an image size against the container's sides and this codec's pixel limit.
    pub fn check_size(&self, width: u32, height: u32) -> Result<(), CodecError> {
        if width == 0 || height == 0 {
            return Err(CodecError::Empty { width, height });
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(CodecError::TooLarge { width, height });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(CodecError::TooManyPixels {
                width,
                height,
                limit: self.max_pixels,
            });
        }
        Ok(())
    }

    /// Checks what a file's header says against this codec: the model, the tile size and
    /// code length, and the pixel limit. Decoding a file whose header passes allocates at
    /// most the decoded image's bytes plus the file's code values (see [`Codec::decode_bytes`]).
    pub fn check_header(&self, h: &FileHeader) -> Result<(), CodecError> {
        if h.model_id != self.id.short() {
            return Err(CodecError::WrongModel {
                file: store::hex(&h.model_id),
                codec: store::hex(&self.id.short()),
            });
        }
        if h.tile_size != TILE as u32 || h.code_length as usize != self.weights.config.code_length {
            return Err(CodecError::Mismatch {
                file_tile: h.tile_size,
                file_code: h.code_length,
                model_code: self.weights.config.code_length,
            });
        }
        self.check_size(h.width, h.height)
    }

    /// Parses and decodes a file's bytes, checking its header first (so a file this codec
    /// cannot decode costs no allocation), to the image it describes: grey for a grey source
    /// (one or two channels), RGB otherwise.
    pub fn decode_bytes(&self, bytes: &[u8]) -> Result<DynamicImage, CodecError> {
        let header = FileHeader::parse(bytes)?;
        self.check_header(&header)?;
        let file = AecFile::from_bytes_with_limits(bytes, &Limits::default())?;
        let rgb = self.decompress(&file)?;
        Ok(if file.channels <= 2 {
            DynamicImage::ImageLuma8(to_grey(&rgb))
        } else {
            DynamicImage::ImageRgb8(rgb)
        })
    }

    /// Decompresses a file made by this codec's model to RGB.
    pub fn decompress(&self, file: &AecFile) -> Result<RgbImage, CodecError> {
        let header = FileHeader {
            layout: file.layout,
            precision: file.codes.precision(),
            channels: file.channels,
            model_id: file.model_id,
            width: file.width,
            height: file.height,
            tile_size: file.tile_size,
            code_length: file.code_length,
        };
        self.check_header(&header)?;
        // Decode a bounded number of tiles at a time straight into the output, so memory stays
        // at the size of the image (plus the file's codes) whatever the tile count.
        const CHUNK: usize = 1024;
        let code_length = file.code_length as usize;
        let mut image = RgbImage::new(file.width, file.height);
        let mut widened = Vec::new();
        for c in 0..file.tile_count().div_ceil(CHUNK) {
            let range =
                c * CHUNK * code_length..((c + 1) * CHUNK * code_length).min(file.codes.len());
            let codes = match &file.codes {
                Codes::F32(v) => &v[range],
                Codes::F16(v) => {
                    widened.clear();
                    widened.extend(v[range].iter().map(|x| x.to_f32()));
                    &widened[..]
                }
            };
            let tiles = self.coder.decode(codes);
            place_tiles(&mut image, &tiles, c * CHUNK);
        }
        Ok(image)
    }
}

/// The grey image of a decoded RGB image of a grey source: the mean of the three channels,
/// rounded (the model codes grey as three equal channels; its output differs a little
/// between them).
pub fn to_grey(rgb: &RgbImage) -> GrayImage {
    let (w, h) = rgb.dimensions();
    let grey = rgb
        .as_raw()
        .chunks_exact(3)
        .map(|p| ((u16::from(p[0]) + u16::from(p[1]) + u16::from(p[2]) + 1) / 3) as u8)
        .collect();
    GrayImage::from_raw(w, h, grey).expect("one byte per pixel")
}

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
fn place_tiles(image: &mut RgbImage, tiles: &[f32], first: usize) {
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
