//! The codec: any image to `.aec` bytes and back, through a model.
//!
//! An image becomes RGB8 (grey is replicated, 16-bit and float images rounded; its alpha, if
//! any, travels losslessly beside it, [`alpha`]), is padded on the right and bottom by
//! repeating its edge pixels up to whole 32×32 tiles ([`tiles`]), and every tile is coded in batches. A model without a prior stores its codes
//! as numbers (`.aec` version 1, `raw.rs`); a model with a prior quantizes them to integer
//! symbols and entropy-codes all of an image's symbols in one stream (`.aec` version 2,
//! [`coded`]). Decoding reverses this and crops to the original size; a grey source decodes to
//! a grey image.
//!
//! One pixel limit, [`MAX_PIXELS`] unless [`Codec::with_max_pixels`] lowers it, holds for both
//! directions, so that every file `compress` writes can be decoded.

pub mod alpha;
mod builtin;
pub mod coded;
pub mod colour;
pub mod exact_blocks;
mod family;
pub mod hyper;
pub mod lossless;
pub mod palette;
mod quality;
mod raw;
pub mod simple;
pub mod target;
pub mod tiles;

use aec_format::{AnyHeader, Precision};
use image::RgbImage;

pub use builtin::{Builtin, BUILTIN_MODEL};
pub use family::{codec_from_bytes, open_codec, ImageCodec};
pub use hyper::HyperCodec;
pub use quality::Quality;
pub use simple::{compress, decompress};
pub use tiles::{from_tiles, to_grey, to_tiles, to_u8};

use crate::entropy::tables::CodeTables;
use crate::infer::{CpuCoder, TileCoder};
use crate::model::{Weights, TILE};
use crate::store::{self, LoadedModel, ModelError, ModelId};

/// Largest image side the container can describe.
pub const MAX_SIDE: u32 = u16::MAX as u32;

/// Largest image, in pixels, that aec compresses or decompresses by default (768 MiB of RGB):
/// a file may declare up to 65,535 × 65,535 pixels in a few bytes, and decoding must not
/// allocate without bound.
pub const MAX_PIXELS: u64 = 1 << 28;

/// What can go wrong compressing or decompressing.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// No setting gives a file that meets a size or quality target.
    #[error("cannot reach {wanted}: {reached}")]
    Unreachable {
        /// The target.
        wanted: String,
        /// What the setting nearest to it gave.
        reached: String,
    },
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
    /// The file's model (its id, hex) is not built into aec.
    #[error(
        "file was made by model {0}, which is not built into aec; decode it with that model's file"
    )]
    UnknownModel(String),
    /// The file was made by another model.
    #[error("file was made by model {file} but this codec's model is {codec}")]
    WrongModel {
        /// The file's model id (hex).
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
    /// The file's version does not go with the model's kind.
    #[error("{0}")]
    WrongKind(&'static str),
    /// A setting that does not apply to this model.
    #[error("{0}")]
    Setting(String),
    /// The image cannot be stored losslessly (a side over what a lossless file holds, or the
    /// lossless encoder failed).
    #[error("cannot store the image losslessly: {0}")]
    Lossless(String),
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

/// How to store an image's codes (models without a prior; entropy-coded models have one way).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompressOptions {
    /// f16 by default: it costs no measurable quality (see the README) at half the bytes.
    pub precision: Precision,
    /// Store code values whose magnitude is at most this as zero, in the sparse layout.
    /// `None`: dense layout.
    pub sparse_threshold: Option<f32>,
    /// Rounds of latent refinement at encoding time (whole-image models; 0: none; see
    /// [`hyper::HyperCodec::compress_refined`]).
    pub refine_steps: usize,
    /// The latents' quantization step (whole-image models; [`hyper::Step::UNIT`]: the
    /// model's own).
    pub step: hyper::Step,
    /// When to store the image exactly instead ([`lossless`]; models that write version 2
    /// files, through [`ImageCodec::compress`]).
    pub lossless: lossless::Lossless,
}

impl Default for CompressOptions {
    fn default() -> Self {
        Self {
            precision: Precision::F16,
            sparse_threshold: None,
            refine_steps: 0,
            step: hyper::Step::UNIT,
            lossless: lossless::Lossless::Auto,
        }
    }
}

/// A model ready to code images.
pub struct Codec {
    coder: Box<dyn TileCoder>,
    weights: Weights,
    id: ModelId,
    max_pixels: u64,
    /// The entropy coder's tables, for a model with a prior.
    entropy: Option<coded::Entropy>,
    rate_lambda: Option<f32>,
}

impl Codec {
    /// A codec from a loaded model, computing with the fast CPU path.
    pub fn new(model: LoadedModel) -> Result<Self, CodecError> {
        let entropy = model.tables.map(coded::Entropy::new).transpose()?;
        Ok(Self {
            coder: Box::new(CpuCoder::new(&model.weights)),
            weights: model.weights,
            id: model.id,
            max_pixels: MAX_PIXELS,
            entropy,
            rate_lambda: model.rate_lambda,
        })
    }

    /// The notebook's model built into aec (codes stored as numbers).
    pub fn builtin() -> Result<Self, CodecError> {
        Self::new(store::model_from_bytes(BUILTIN_MODEL)?)
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

    /// The model's entropy tables, if it has a prior.
    pub fn tables(&self) -> Option<&CodeTables> {
        self.entropy.as_ref().map(|e| &e.tables)
    }

    /// The rate weight the model was trained with, if it records one.
    pub fn rate_lambda(&self) -> Option<f32> {
        self.rate_lambda
    }

    /// Whether a file's model id (16 bytes in version 1, 8 in version 2) is this model's.
    pub fn is_model(&self, id: &[u8]) -> bool {
        !id.is_empty() && id.len() <= 32 && self.id.0[..id.len()] == *id
    }

    /// Compresses an RGB image; `channels` is recorded as the source's channel count.
    pub fn compress_rgb(
        &self,
        rgb: &RgbImage,
        channels: u8,
        options: &CompressOptions,
    ) -> Result<Vec<u8>, CodecError> {
        if options.step != hyper::Step::UNIT {
            return Err(CodecError::Setting(
                "a quantization step applies to the whole-image models".into(),
            ));
        }
        match &self.entropy {
            None => Ok(self.compress_raw(rgb, channels, options)?.to_bytes()?),
            Some(e) => {
                if options.refine_steps > 0 {
                    return Err(CodecError::Setting(
                        "--refine applies to the whole-image models".into(),
                    ));
                }
                if options.sparse_threshold.is_some() {
                    return Err(CodecError::Setting(
                        "--sparse applies to models whose codes are stored as numbers".into(),
                    ));
                }
                self.check_size(rgb.width(), rgb.height())?;
                let codes = self.coder.encode(&to_tiles(rgb));
                Ok(e.compress(&codes, rgb.dimensions(), channels, &self.id)?)
            }
        }
    }

    /// Checks an image size against the container's sides and this codec's pixel limit.
    pub fn check_size(&self, width: u32, height: u32) -> Result<(), CodecError> {
        check_size(width, height, self.max_pixels)
    }

    /// Checks what a file's header says against this codec: the model, the version that goes
    /// with its kind, the tile size and code length, and the pixel limit. Decoding a file whose
    /// header passes allocates at most the decoded image's bytes plus the file's code.
    pub fn check_header(&self, h: &AnyHeader) -> Result<(), CodecError> {
        if !self.is_model(h.model_id()) {
            return Err(CodecError::WrongModel {
                file: store::hex(h.model_id()),
                codec: store::hex(&self.id.short()),
            });
        }
        match (h, &self.entropy) {
            (AnyHeader::V1(h), None) => self.check_geometry(h.tile_size, h.code_length)?,
            (AnyHeader::V2(_), Some(_)) => {}
            (AnyHeader::V1(_), Some(_)) => {
                return Err(CodecError::WrongKind(
                    "a version 1 file names a model with a prior, which writes version 2",
                ))
            }
            (AnyHeader::V2(_), None) => {
                return Err(CodecError::WrongKind(
                    "a version 2 file names a model without a prior, which writes version 1",
                ))
            }
        }
        self.check_size(h.width(), h.height())
    }

    fn check_geometry(&self, tile_size: u32, code_length: u32) -> Result<(), CodecError> {
        if tile_size != TILE as u32 || code_length as usize != self.weights.config.code_length {
            return Err(CodecError::Mismatch {
                file_tile: tile_size,
                file_code: code_length,
                model_code: self.weights.config.code_length,
            });
        }
        Ok(())
    }

    /// Parses and decodes a file's bytes to RGB, checking its header first.
    pub fn decode_rgb(&self, bytes: &[u8]) -> Result<RgbImage, CodecError> {
        let header = AnyHeader::parse(bytes)?;
        self.check_header(&header)?;
        match &self.entropy {
            None => {
                let file = aec_format::AecFile::from_bytes(bytes)?;
                self.decompress(&file)
            }
            Some(e) => {
                let symbols = e.decode_symbols(bytes, TILE as u32)?;
                let codes = coded::Dequantized {
                    tables: &e.tables,
                    symbols: &symbols,
                };
                Ok(self.decode_codes(codes, header.width(), header.height()))
            }
        }
    }

    /// Decodes tiles' code values (raster order) into an image, a bounded number of tiles at
    /// a time, so memory stays at the size of the image (plus the codes).
    fn decode_codes<'a>(&self, codes: impl CodeChunks<'a>, width: u32, height: u32) -> RgbImage {
        const CHUNK: usize = 1024;
        let l = self.weights.config.code_length;
        let mut image = RgbImage::new(width, height);
        let mut widened = Vec::new();
        for c in 0..codes.tiles(l).div_ceil(CHUNK) {
            let chunk = codes.chunk(c * CHUNK * l, CHUNK * l, &mut widened);
            let decoded = self.coder.decode(chunk);
            tiles::place_tiles(&mut image, &decoded, c * CHUNK);
        }
        image
    }
}

/// Code values that can be handed out a chunk at a time as `f32`.
trait CodeChunks<'a> {
    /// Number of tiles of `code_length` values.
    fn tiles(&self, code_length: usize) -> usize;
    /// Up to `len` values from `start`, widened into `scratch` if need be.
    fn chunk<'s>(&'s self, start: usize, len: usize, scratch: &'s mut Vec<f32>) -> &'s [f32];
}

impl<'a> CodeChunks<'a> for &'a [f32] {
    fn tiles(&self, code_length: usize) -> usize {
        self.len() / code_length
    }

    fn chunk<'s>(&'s self, start: usize, len: usize, _: &'s mut Vec<f32>) -> &'s [f32] {
        &self[start..(start + len).min(self.len())]
    }
}

impl<'a> CodeChunks<'a> for &'a aec_format::Codes {
    fn tiles(&self, code_length: usize) -> usize {
        self.len() / code_length
    }

    fn chunk<'s>(&'s self, start: usize, len: usize, scratch: &'s mut Vec<f32>) -> &'s [f32] {
        let end = (start + len).min(self.len());
        match self {
            aec_format::Codes::F32(v) => &v[start..end],
            aec_format::Codes::F16(v) => {
                scratch.clear();
                scratch.extend(v[start..end].iter().map(|x| x.to_f32()));
                scratch
            }
        }
    }
}

/// Checks an image size against the container's sides and a pixel limit.
pub(crate) fn check_size(width: u32, height: u32, max_pixels: u64) -> Result<(), CodecError> {
    if width == 0 || height == 0 {
        return Err(CodecError::Empty { width, height });
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(CodecError::TooLarge { width, height });
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(CodecError::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }
    Ok(())
}
