//! Models without a prior: codes stored as numbers, `.aec` version 1.

use aec_format::{AecFile, Codes, FileHeader, Layout};
use image::RgbImage;

use super::{to_tiles, Codec, CodecError, CompressOptions};
use crate::model::TILE;

impl Codec {
    /// Compresses an image to a version 1 file (a model without a prior).
    pub fn compress_file(
        &self,
        image: &image::DynamicImage,
        options: &CompressOptions,
    ) -> Result<AecFile, CodecError> {
        let channels = image.color().channel_count();
        self.compress_raw(&image.to_rgb8(), channels, options)
    }

    /// Compresses an RGB image to a version 1 file (a model without a prior);
    /// `channels` is recorded as the source's channel count.
    pub fn compress_raw(
        &self,
        rgb: &RgbImage,
        channels: u8,
        options: &CompressOptions,
    ) -> Result<AecFile, CodecError> {
        if self.entropy.is_some() {
            return Err(CodecError::WrongKind(
                "a model with a prior writes entropy-coded (version 2) files",
            ));
        }
        let (width, height) = rgb.dimensions();
        self.check_size(width, height)?;
        let threshold = match options.sparse_threshold {
            Some(t) if !(t >= 0.0 && t.is_finite()) => return Err(CodecError::BadThreshold(t)),
            t => t,
        };
        let mut codes = self.coder.encode(&to_tiles(rgb));
        if let Some(t) = threshold {
            for v in &mut codes {
                if v.abs() <= t {
                    *v = 0.0;
                }
            }
        }
        // The sparse writer leaves out every zero, including values that round to zero in f16.
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
            codes: Codes::from_f32(&codes, options.precision),
        };
        file.validate()?;
        Ok(file)
    }

    /// Decompresses a version 1 file made by this codec's model to RGB.
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
        self.check_header(&aec_format::AnyHeader::V1(header))?;
        Ok(self.decode_codes(&file.codes, file.width, file.height))
    }
}
