//! One interface over the model families, as the command line uses them: the tiled models
//! ([`Codec`]) and the whole-image hyperprior models ([`HyperCodec`]).

use std::path::Path;

use image::{DynamicImage, RgbImage};

use super::alpha;
use super::hyper::{HyperCodec, Step};
use super::lossless::{self, Lossless, LossyOf, Stored};
use super::{to_grey, Codec, CodecError, CompressOptions};
use crate::metrics::mse_u8;
use crate::model::hyper::file::HyperModel;
use crate::store::{self, ModelId};

/// What every model family's codec does.
pub trait ImageCodec: Send + Sync {
    /// The model's identity.
    fn model_id(&self) -> ModelId;
    /// The pixel limit in force for compression and decompression.
    fn max_pixels(&self) -> u64;
    /// Checks an image size before its pixels are decoded.
    fn check_size(&self, width: u32, height: u32) -> Result<(), CodecError>;
    /// Compresses an RGB image; `channels` is recorded as the source's channel count.
    fn compress_rgb(
        &self,
        rgb: &RgbImage,
        channels: u8,
        options: &CompressOptions,
    ) -> Result<Vec<u8>, CodecError>;
    /// Parses and decodes a file's bytes to RGB, checking its header first.
    fn decode_rgb(&self, bytes: &[u8]) -> Result<RgbImage, CodecError>;
    /// The tiled codec, for reports that only it has (symbol statistics per tile).
    fn as_tiled(&self) -> Option<&Codec> {
        None
    }
    /// Whether this codec's files carry an alpha plane (version 2 files do; the version 1
    /// files of a tiled model without a prior do not).
    fn keeps_alpha(&self) -> bool {
        self.as_tiled().is_none_or(|c| c.tables().is_some())
    }
    /// The whole-image codec, for reports that only it has (its latents).
    fn as_hyper(&self) -> Option<&HyperCodec> {
        None
    }

    /// Compresses an image to the bytes of a `.aec` file, its transparency included where
    /// the file's version carries it ([`alpha`](super::alpha); version 1 files drop it). A
    /// codec that writes version 2 files stores the image exactly instead where
    /// `options.lossless` says so ([`lossless::choose`]).
    fn compress(
        &self,
        image: &DynamicImage,
        options: &CompressOptions,
    ) -> Result<Vec<u8>, CodecError> {
        if options.lossless == Lossless::Always && self.keeps_alpha() {
            return lossless::encode(image);
        }
        let bytes = self.compress_colour(image, options)?;
        let bytes = match alpha::encode_alpha(image)? {
            Some(plane) => alpha::attach(bytes, &plane)?.0,
            None => bytes,
        };
        Ok(self.or_lossless(image, bytes, options, None)?.0)
    }

    /// `lossy`, a file this codec made of `image` with `options`, or a lossless file (or
    /// part) of `image` where `options.lossless` and `budget` allow it ([`lossless::choose`];
    /// exact blocks beside a lossy part coded at `lossy`'s step, without refinement, for the
    /// whole-image family). A codec whose files are version 1 keeps `lossy`.
    fn or_lossless(
        &self,
        image: &DynamicImage,
        lossy: Vec<u8>,
        options: &CompressOptions,
        budget: Option<usize>,
    ) -> Result<(Vec<u8>, Stored), CodecError> {
        if !self.keeps_alpha() {
            return Ok((lossy, Stored::Lossy));
        }
        let mse = |b: &[u8]| self.file_mse(image, b);
        let step = aec_format::CodedHeader::parse(&lossy)
            .ok()
            .and_then(|h| Step::from_field(h.step))
            .unwrap_or(Step::UNIT);
        let plain = CompressOptions {
            lossless: Lossless::Never,
            refine_steps: 0,
            step,
            ..*options
        };
        let lossy_of = |rgb: &RgbImage| self.compress_rgb(rgb, 3, &plain);
        let blocks = self.as_hyper().map(|_| &lossy_of as LossyOf<'_>);
        lossless::choose(image, lossy, options.lossless, budget, mse, blocks)
    }

    /// Mean squared error (samples on `[0, 1]`) of a file's decoded image against `image`, as
    /// `aec decompress` writes it: grey against grey for a grey source, RGB otherwise.
    fn file_mse(&self, image: &DynamicImage, bytes: &[u8]) -> Result<f64, CodecError> {
        Ok(match self.decode_bytes(bytes)? {
            DynamicImage::ImageLuma8(grey) => mse_u8(image.to_luma8().as_raw(), grey.as_raw()),
            other => mse_u8(image.to_rgb8().as_raw(), other.to_rgb8().as_raw()),
        })
    }

    /// Compresses an image's colour (grey or RGB) to the bytes of a `.aec` file without an
    /// alpha plane.
    fn compress_colour(
        &self,
        image: &DynamicImage,
        options: &CompressOptions,
    ) -> Result<Vec<u8>, CodecError> {
        let channels = image.color().channel_count();
        match image {
            // Coded as it stands: a copy of a large image costs three bytes a pixel.
            DynamicImage::ImageRgb8(rgb) => self.compress_rgb(rgb, channels, options),
            _ => self.compress_rgb(&image.to_rgb8(), channels, options),
        }
    }

    /// Parses and decodes a file's bytes, checking its header first (so a file this codec
    /// cannot decode costs no allocation): grey for a grey source (one or two channels), RGB
    /// otherwise, with the file's alpha plane where it has one. A lossless file needs no
    /// model: any codec decodes it.
    fn decode_bytes(&self, bytes: &[u8]) -> Result<DynamicImage, CodecError> {
        if lossless::is_lossless(bytes) {
            return lossless::decode(bytes, self.max_pixels());
        }
        let header = aec_format::AnyHeader::parse(bytes)?;
        let rgb = self.decode_rgb(bytes)?;
        let colour = if header.channels() <= 2 {
            DynamicImage::ImageLuma8(to_grey(&rgb))
        } else {
            DynamicImage::ImageRgb8(rgb)
        };
        alpha::apply(colour, bytes)
    }
}

impl ImageCodec for Codec {
    fn model_id(&self) -> ModelId {
        Codec::model_id(self)
    }
    fn max_pixels(&self) -> u64 {
        Codec::max_pixels(self)
    }
    fn check_size(&self, width: u32, height: u32) -> Result<(), CodecError> {
        Codec::check_size(self, width, height)
    }
    fn compress_rgb(
        &self,
        rgb: &RgbImage,
        channels: u8,
        options: &CompressOptions,
    ) -> Result<Vec<u8>, CodecError> {
        Codec::compress_rgb(self, rgb, channels, options)
    }
    fn decode_rgb(&self, bytes: &[u8]) -> Result<RgbImage, CodecError> {
        Codec::decode_rgb(self, bytes)
    }
    fn as_tiled(&self) -> Option<&Codec> {
        Some(self)
    }
}

impl ImageCodec for HyperCodec {
    fn model_id(&self) -> ModelId {
        HyperCodec::model_id(self)
    }
    fn max_pixels(&self) -> u64 {
        HyperCodec::max_pixels(self)
    }
    fn check_size(&self, width: u32, height: u32) -> Result<(), CodecError> {
        super::check_size(width, height, HyperCodec::max_pixels(self))
    }
    fn compress_rgb(
        &self,
        rgb: &RgbImage,
        channels: u8,
        options: &CompressOptions,
    ) -> Result<Vec<u8>, CodecError> {
        if options.sparse_threshold.is_some() {
            return Err(CodecError::Setting(
                "--sparse applies to models whose codes are stored as numbers".into(),
            ));
        }
        Ok(self
            .compress_refined(rgb, channels, options.refine_steps, options.step)?
            .0)
    }
    fn decode_rgb(&self, bytes: &[u8]) -> Result<RgbImage, CodecError> {
        HyperCodec::decode_rgb(self, bytes)
    }
    fn as_hyper(&self) -> Option<&HyperCodec> {
        Some(self)
    }
}

/// The codec of a model file's bytes, whichever family it belongs to (the file's metadata
/// says), with the pixel limit `max_pixels`.
pub fn codec_from_bytes(bytes: &[u8], max_pixels: u64) -> Result<Box<dyn ImageCodec>, CodecError> {
    Ok(if HyperModel::is_hyper_file(bytes) {
        Box::new(HyperCodec::from_bytes(bytes)?.with_max_pixels(max_pixels))
    } else {
        Box::new(Codec::new(store::model_from_bytes(bytes)?)?.with_max_pixels(max_pixels))
    })
}

/// [`codec_from_bytes`] for bytes whose model id is known (a built-in model's, whose ids a test
/// holds to the files' digests), so that they are not hashed again.
pub(crate) fn codec_from_known_bytes(
    bytes: &[u8],
    id: ModelId,
    max_pixels: u64,
) -> Result<Box<dyn ImageCodec>, CodecError> {
    if !HyperModel::is_hyper_file(bytes) {
        return codec_from_bytes(bytes, max_pixels);
    }
    let model = HyperModel::parse(bytes)?;
    Ok(Box::new(
        HyperCodec::new(model, id)?.with_max_pixels(max_pixels),
    ))
}

/// [`codec_from_bytes`] of a file, refusing one over the model size limit unread.
pub fn open_codec(path: &Path, max_pixels: u64) -> Result<Box<dyn ImageCodec>, CodecError> {
    codec_from_bytes(&store::read_model_file(path)?, max_pixels)
}
