//! `--target-size` and `--target-psnr`: the setting that meets a target, per image, on the
//! quality scale of the built-in levels or on one model's quantization steps.

use std::path::PathBuf;
use std::sync::OnceLock;

use aec::codec::hyper::{Analysed, Step};
use aec::codec::target::{self, Attempt, Target};
use aec::codec::{self, Builtin, CodecError, CompressOptions, ImageCodec, Quality};
use aec::format::AlphaPlane;
use anyhow::bail;
use image::DynamicImage;

use super::compress::{verify, Made};

/// The scale a target is searched on.
enum Scale<'a> {
    /// The quality scale of the built-in levels, each loaded when first tried.
    Levels(Vec<OnceLock<Box<dyn ImageCodec>>>),
    /// The quantization steps of one model (`--model FILE`): setting `x` is step `2^(−x/2)`.
    Steps(&'a dyn ImageCodec),
}

/// Rate control for `--target-size` and `--target-psnr`.
pub struct Search<'a> {
    target: Target,
    scale: Scale<'a>,
    max_pixels: u64,
}

impl<'a> Search<'a> {
    /// The search for `target`: over the built-in qualities, or `codec`'s steps when
    /// `model` names a file.
    pub fn new(
        target: Target,
        model: &Option<PathBuf>,
        codec: &'a dyn ImageCodec,
        max_pixels: u64,
    ) -> anyhow::Result<Self> {
        let scale = match model {
            None => Scale::Levels((0..Builtin::qualities()).map(|_| OnceLock::new()).collect()),
            Some(_) if codec.as_hyper().is_some() => Scale::Steps(codec),
            Some(_) => bail!("--target-size and --target-psnr need a whole-image model"),
        };
        Ok(Self {
            target,
            scale,
            max_pixels,
        })
    }

    /// The file meeting the target for `image`, with `alpha` attached to every file tried (so
    /// that a size target counts it), the setting and the codec that made it.
    pub fn run(
        &self,
        image: &DynamicImage,
        options: &CompressOptions,
        alpha: Option<&AlphaPlane>,
    ) -> anyhow::Result<Made<'_>> {
        let range = match self.scale {
            Scale::Levels(_) => (Quality::MIN, Quality::max()),
            Scale::Steps(_) => (-2.0, 2.0),
        };
        let channels = image.color().channel_count();
        // The image as it stands when it is RGB already (a copy costs three bytes a pixel).
        let rgb = match image {
            DynamicImage::ImageRgb8(rgb) => std::borrow::Cow::Borrowed(rgb),
            _ => std::borrow::Cow::Owned(image.to_rgb8()),
        };
        // The last level's transforms of the image: only the coding differs between steps.
        let mut analysed: Option<(u8, Analysed)> = None;
        let plain = options.refine_steps == 0 && options.sparse_threshold.is_none();
        let attempt = |x: f64| -> Result<Attempt, CodecError> {
            let (codec, step, level) = self.setting(x)?;
            let bytes = match codec.as_hyper() {
                Some(hyper) if plain => {
                    if analysed.as_ref().is_none_or(|(l, _)| *l != level) {
                        analysed = Some((level, hyper.analyse(&rgb)?));
                    }
                    let (_, a) = analysed.as_ref().expect("analysed above");
                    hyper.compress_analysed(a, channels, step)?
                }
                _ => codec.compress_colour(image, &CompressOptions { step, ..*options })?,
            };
            let bytes = match alpha {
                Some(a) => codec::alpha::attach(bytes, a)?.0,
                None => bytes,
            };
            let psnr = match self.target {
                Target::Psnr(_) => Some(verify(codec, image, &bytes)?),
                Target::Bytes(_) => None,
            };
            Ok(Attempt {
                setting: x,
                bytes,
                psnr,
            })
        };
        let found = target::search(range, self.target, attempt)?;
        let (codec, step, _) = self.setting(found.setting)?;
        let setting = match self.scale {
            Scale::Levels(_) => Quality::from_value(found.setting)?.to_string(),
            Scale::Steps(_) => format!("step {}", step.value()),
        };
        Ok(Made {
            alpha: alpha.map(AlphaPlane::encoded_len),
            bytes: found.bytes,
            codec,
            setting: Some(setting),
            refined: None,
            stored: aec::codec::lossless::Stored::Lossy,
        })
    }

    /// The size target in bytes, if the target is one.
    pub fn byte_budget(&self) -> Option<usize> {
        match self.target {
            Target::Bytes(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Target::Psnr(_) => None,
        }
    }

    /// A codec of this search's scale, to decode what it makes (a lossless file: any of them).
    pub fn codec(&self) -> Result<&dyn ImageCodec, CodecError> {
        Ok(self.setting(Quality::MIN)?.0)
    }

    /// The codec, step and level (0 for a model file) of setting `x`.
    fn setting(&self, x: f64) -> Result<(&dyn ImageCodec, Step, u8), CodecError> {
        match &self.scale {
            Scale::Levels(levels) => {
                let q = Quality::from_value(x)?;
                let cell = &levels[usize::from(q.level) - 1];
                if cell.get().is_none() {
                    let _ = cell.set(q.model().codec(self.max_pixels)?);
                }
                Ok((cell.get().expect("set above").as_ref(), q.step, q.level))
            }
            Scale::Steps(codec) => Ok((*codec, Quality::step_at(x)?, 0)),
        }
    }
}
