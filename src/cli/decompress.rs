//! `aec decompress`: `.aec` files to images.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aec::codec::{lossless, MAX_PIXELS};
use aec::format::AnyHeader;
use anyhow::Context;
use clap::Args;
use image::codecs::pnm::{PnmEncoder, PnmSubtype, SampleEncoding};
use image::{DynamicImage, ImageFormat};

use super::io::{
    check_overwrite, expand_inputs, has_extension, output_format, output_paths, read_input,
    stdin_at_most_once, write_output,
};
use super::models::ModelResolver;
use super::runner::for_each_input;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec decompress photo.aec -o photo.png
  aec decompress *.aec --out-dir decoded/
  aec decompress compressed/ --out-dir decoded/   # every .aec file under it, folders mirrored
  aec decompress photo.aec --model-dir models/    # the file's model id picks the model
  aec decompress photo.aec -o - --format bmp > photo.bmp

The model is the one whose SHA-256 starts with the file's model id: the built-in model,
--model FILE, or a *.safetensors file in --model-dir / AEC_MODEL_DIR (a lossless file needs
none). Without -o, each IN.aec
is written beside itself as IN.png; a folder stands for the .aec files under it (in all its
subfolders, which --out-dir repeats). The output format follows the extension (an unknown one is
refused) or --format. Grey sources decode to grey images, transparent ones with their alpha
(except as JPEG or PPM/PGM, which have none: .pam keeps it).")]
pub struct DecompressArgs {
    /// .aec files to decompress, or folders of them ('-' reads standard input).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output image ('-' writes standard output, PNG unless --format); only with one input.
    #[arg(short, long, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Folder for the outputs (named after the inputs, with .png or the --format's extension;
    /// a folder input's subfolders repeated in it).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Image format of the outputs (png, jpg, webp, bmp, tiff, tga, pnm, qoi), whatever their
    /// extension.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// A model file to consider besides the built-in model.
    #[arg(long, env = "AEC_MODEL")]
    model: Option<PathBuf>,
    /// A folder of model files to consider.
    #[arg(long, env = "AEC_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Refuse files that declare more pixels than this (checked from the header, before
    /// anything is decoded).
    #[arg(long, value_name = "N", default_value_t = MAX_PIXELS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PIXELS))]
    max_pixels: u64,
    /// Overwrite existing outputs.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `aec decompress`.
pub fn decompress(a: DecompressArgs) -> anyhow::Result<ExitCode> {
    stdin_at_most_once(&a.inputs)?;
    let resolver = ModelResolver::new(&a.model, a.model_dir.clone(), a.max_pixels)?;
    let ext = a.format.as_deref().unwrap_or("png");
    let inputs = expand_inputs(&a.inputs, |p| has_extension(p, "aec"), ".aec files")?;
    let outputs = output_paths(&inputs, &a.output, &a.out_dir, ext)?;
    // Every output's format first, so that a bad name fails before any work.
    for o in &outputs {
        output_format(o, a.format.as_deref())?;
    }
    let pairs = inputs.into_iter().map(|i| i.path).zip(outputs).collect();
    Ok(for_each_input(pairs, a.quiet, |input, output| {
        check_overwrite(output, a.force)?;
        let format = output_format(output, a.format.as_deref())?;
        let bytes = read_input(input)?;
        // The header decides which model and whether the file is acceptable at all, before
        // the payload is read.
        let header = AnyHeader::parse(&bytes)?;
        let image = match lossless::is_lossless(&bytes) {
            true => lossless::decode(&bytes, a.max_pixels)?,
            false => resolver
                .codec_for(header.model_id())?
                .decode_bytes(&bytes)?,
        };
        let image = without_alpha_for(image, format, output);
        let encoded = encode_image(&image, format, output)?;
        write_output(output, &encoded, a.force)?;
        Ok(format!(
            "{} -> {}: {}x{}, {} bytes",
            input.display(),
            output.display(),
            header.width(),
            header.height(),
            encoded.len()
        ))
    }))
}

/// Whether `output` is named `*.EXT`.
fn named(output: &Path, ext: &str) -> bool {
    output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// `image` without its alpha channel where `format` cannot store one: JPEG, and the PNM family
/// except PAM.
fn without_alpha_for(image: DynamicImage, format: ImageFormat, output: &Path) -> DynamicImage {
    let keeps = match format {
        ImageFormat::Jpeg => false,
        ImageFormat::Pnm => named(output, "pam"),
        _ => true,
    };
    match image {
        DynamicImage::ImageLumaA8(_) if !keeps => DynamicImage::ImageLuma8(image.to_luma8()),
        DynamicImage::ImageRgba8(_) if !keeps => DynamicImage::ImageRgb8(image.to_rgb8()),
        other => other,
    }
}

/// The bytes of `image` in `format`. The PNM family's subtype follows the extension (the image
/// crate would write PAM under any name): `.pgm` grey, `.pam` PAM, otherwise (`.ppm`, `.pnm`,
/// standard output) binary PPM for colour and PGM for grey.
fn encode_image(
    image: &DynamicImage,
    format: ImageFormat,
    output: &Path,
) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let grey = !image.color().has_color();
    let written = match format {
        ImageFormat::Pnm if !named(output, "pam") => {
            let (subtype, image) = if named(output, "pgm") || (grey && !named(output, "ppm")) {
                (
                    PnmSubtype::Graymap(SampleEncoding::Binary),
                    image.to_luma8().into(),
                )
            } else {
                (
                    PnmSubtype::Pixmap(SampleEncoding::Binary),
                    image.to_rgb8().into(),
                )
            };
            let image: DynamicImage = image;
            image.write_with_encoder(PnmEncoder::new(&mut out).with_subtype(subtype))
        }
        _ => image.write_to(&mut std::io::Cursor::new(&mut out), format),
    };
    written.with_context(|| format!("cannot encode {format:?}"))?;
    Ok(out)
}
