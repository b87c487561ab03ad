//! `aec compress`, `aec decompress` and `aec inspect`.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use aec::codec::{Codec, CompressOptions};
use aec::format::{AecFile, Limits, Precision};
use aec::fsutil;
use aec::metrics;
use aec::store::{self, hex, ModelId};
use anyhow::{anyhow, bail, Context};
use clap::Args;
use image::{DynamicImage, ImageFormat};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec compress photo.png -o photo.aec
  aec compress photo.png --verify                 # writes photo.aec, prints PSNR
  aec compress *.png --out-dir compressed/ --sparse 0.01
  cat photo.png | aec compress - -o - > photo.aec

Any image the image crate reads (PNG, JPEG, WebP, BMP, TIFF, ...), of any size. Without -o,
each IN is written beside itself as IN.aec. Existing outputs are kept unless --force.")]
pub struct CompressArgs {
    /// Images to compress ('-' reads standard input).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file ('-' writes standard output); only with one input.
    #[arg(short, long, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Folder for the outputs (named after the inputs, with .aec).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Model file to use instead of the built-in model.
    #[arg(long, env = "AEC_MODEL")]
    model: Option<PathBuf>,
    /// Precision of the stored code: f16 (default, no measurable loss) or f32.
    #[arg(long, default_value = "f16")]
    precision: Precision,
    /// Store code values with magnitude at most T as zeros, in the sparse layout.
    #[arg(long, value_name = "T")]
    sparse: Option<f32>,
    /// Decode each result again and print its PSNR against the input.
    #[arg(long)]
    verify: bool,
    /// Overwrite existing outputs.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  aec decompress photo.aec -o photo.png
  aec decompress *.aec --out-dir decoded/
  aec decompress photo.aec --model-dir models/    # the file's model id picks the model

The model is the one whose SHA-256 starts with the file's model id: the built-in model,
--model FILE, or a *.safetensors file in --model-dir / AEC_MODEL_DIR. Without -o, each IN.aec
is written beside itself as IN.png. The output format follows the extension (PNG by default).")]
pub struct DecompressArgs {
    /// .aec files to decompress ('-' reads standard input).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output image ('-' writes PNG to standard output); only with one input.
    #[arg(short, long, conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Folder for the outputs (named after the inputs, with .png).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// A model file to consider besides the built-in model.
    #[arg(long, env = "AEC_MODEL")]
    model: Option<PathBuf>,
    /// A folder of model files to consider.
    #[arg(long, env = "AEC_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// Overwrite existing outputs.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The .aec file ('-' reads standard input).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if is_stdio(path) {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

fn write_output(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    if is_stdio(path) {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        return Ok(out.flush()?);
    }
    fsutil::write_atomic(path, bytes, force)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Where each input's output goes.
fn output_paths(
    inputs: &[PathBuf],
    output: &Option<PathBuf>,
    out_dir: &Option<PathBuf>,
    ext: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    if let Some(o) = output {
        if inputs.len() != 1 {
            bail!(
                "-o names one output but there are {} inputs; use --out-dir",
                inputs.len()
            );
        }
        return Ok(vec![o.clone()]);
    }
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    inputs
        .iter()
        .map(|input| {
            if is_stdio(input) {
                return Ok(PathBuf::from("-"));
            }
            let name = input
                .file_stem()
                .ok_or_else(|| anyhow!("{} has no file name", input.display()))?;
            let mut file = PathBuf::from(name);
            file.set_extension(ext);
            Ok(match out_dir {
                Some(dir) => dir.join(file),
                None => input.with_file_name(file),
            })
        })
        .collect()
}

/// Runs `job` on every input in parallel, with a progress bar on a terminal, reporting
/// failures as they come; returns a failure exit code if any input failed.
fn for_each_input(
    pairs: Vec<(PathBuf, PathBuf)>,
    quiet: bool,
    job: impl Fn(&Path, &Path) -> anyhow::Result<String> + Sync,
) -> ExitCode {
    let bar = (pairs.len() > 1 && std::io::stderr().is_terminal() && !quiet).then(|| {
        let bar = ProgressBar::new(pairs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let failures = AtomicUsize::new(0);
    pairs.par_iter().for_each(|(input, output)| {
        let result = job(input, output);
        let line = match &result {
            Ok(line) if !quiet => Some(line.clone()),
            Ok(_) => None,
            Err(e) => {
                failures.fetch_add(1, Ordering::Relaxed);
                Some(format!("aec: error: {}: {e:#}", input.display()))
            }
        };
        if let Some(line) = line {
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let failures = failures.into_inner();
    if failures > 0 {
        if pairs.len() > 1 {
            eprintln!("aec: {failures} of {} inputs failed", pairs.len());
        }
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn load_codec(model: &Option<PathBuf>) -> anyhow::Result<Codec> {
    match model {
        Some(path) => Ok(Codec::new(
            store::load_model(path).with_context(|| format!("model {}", path.display()))?,
        )),
        None => Ok(Codec::builtin()?),
    }
}

pub fn compress(a: CompressArgs) -> anyhow::Result<ExitCode> {
    let codec = load_codec(&a.model)?;
    let outputs = output_paths(&a.inputs, &a.output, &a.out_dir, "aec")?;
    if a.inputs.iter().filter(|p| is_stdio(p)).count() > 1 {
        bail!("standard input ('-') can be read only once");
    }
    let options = CompressOptions {
        precision: a.precision,
        sparse_threshold: a.sparse,
    };
    let alpha_warned = AtomicBool::new(false);
    let pairs = a.inputs.iter().cloned().zip(outputs).collect();
    Ok(for_each_input(pairs, a.quiet, |input, output| {
        if !a.force && !is_stdio(output) && output.exists() {
            bail!("{} exists (use --force to overwrite)", output.display());
        }
        let bytes = read_input(input)?;
        let image = image::load_from_memory(&bytes).context("cannot decode image")?;
        if image.color().has_alpha() && !alpha_warned.swap(true, Ordering::Relaxed) {
            eprintln!(
                "aec: warning: {}: alpha channel dropped (aec codes RGB)",
                input.display()
            );
        }
        let file = codec.compress(&image, &options)?;
        let encoded = file.to_bytes()?;
        write_output(output, &encoded, a.force)?;
        let pixels = u64::from(file.width) * u64::from(file.height);
        let mut line = format!(
            "{} -> {}: {}x{}, {} -> {} bytes, {:.3} bpp, {:.1}:1",
            input.display(),
            output.display(),
            file.width,
            file.height,
            bytes.len(),
            encoded.len(),
            encoded.len() as f64 * 8.0 / pixels as f64,
            (pixels * 3) as f64 / encoded.len() as f64,
        );
        if a.verify {
            let decoded = codec.decompress(&AecFile::from_bytes(&encoded)?)?;
            let psnr = metrics::psnr_rgb8(&image.to_rgb8(), &decoded);
            line.push_str(&format!(", PSNR {psnr:.2} dB"));
        }
        Ok(line)
    }))
}

/// The models a decompression may use, found lazily and each loaded once.
struct ModelResolver {
    builtin: Codec,
    explicit: Option<(PathBuf, Codec)>,
    dir: Option<PathBuf>,
    dir_models: Mutex<Option<Vec<(PathBuf, ModelId)>>>,
    loaded: Mutex<Vec<(ModelId, std::sync::Arc<Codec>)>>,
}

impl ModelResolver {
    fn codec_for(&self, id: &[u8; 16]) -> anyhow::Result<CodecRef<'_>> {
        if self.builtin.model_id().short() == *id {
            return Ok(CodecRef::Borrowed(&self.builtin));
        }
        if let Some((_, codec)) = &self.explicit {
            if codec.model_id().short() == *id {
                return Ok(CodecRef::Borrowed(codec));
            }
        }
        if let Some((_, codec)) = self
            .loaded
            .lock()
            .expect("no panics while held")
            .iter()
            .find(|(m, _)| m.short() == *id)
        {
            return Ok(CodecRef::Shared(codec.clone()));
        }
        if let Some(dir) = &self.dir {
            let mut cache = self.dir_models.lock().expect("no panics while held");
            let models = match &mut *cache {
                Some(m) => m,
                None => cache.insert(scan_models(dir)?),
            };
            if let Some((path, _)) = models.iter().find(|(_, m)| m.short() == *id) {
                let model =
                    store::load_model(path).with_context(|| format!("model {}", path.display()))?;
                let codec = std::sync::Arc::new(Codec::new(model));
                self.loaded
                    .lock()
                    .expect("no panics while held")
                    .push((codec.model_id(), codec.clone()));
                return Ok(CodecRef::Shared(codec));
            }
        }
        let mut looked = vec![format!(
            "built-in model {}",
            hex(&self.builtin.model_id().short())
        )];
        if let Some((path, codec)) = &self.explicit {
            looked.push(format!(
                "--model {} ({})",
                path.display(),
                hex(&codec.model_id().short())
            ));
        }
        match &self.dir {
            Some(dir) => {
                let n = self
                    .dir_models
                    .lock()
                    .expect("no panics while held")
                    .as_ref()
                    .map_or(0, Vec::len);
                looked.push(format!("{n} model files in {}", dir.display()));
            }
            None => looked.push("no model folder (--model-dir or AEC_MODEL_DIR)".into()),
        }
        bail!(
            "no model with id {} (looked at: {})",
            hex(id),
            looked.join("; ")
        )
    }
}

enum CodecRef<'a> {
    Borrowed(&'a Codec),
    Shared(std::sync::Arc<Codec>),
}

impl std::ops::Deref for CodecRef<'_> {
    type Target = Codec;
    fn deref(&self) -> &Codec {
        match self {
            CodecRef::Borrowed(c) => c,
            CodecRef::Shared(c) => c,
        }
    }
}

/// The identity of every `*.safetensors` file in a folder (hashing only, no parsing).
fn scan_models(dir: &Path) -> anyhow::Result<Vec<(PathBuf, ModelId)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)
        .with_context(|| format!("cannot read model folder {}", dir.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "safetensors") {
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            found.push((path, ModelId::of(&bytes)));
        }
    }
    found.sort();
    Ok(found)
}

pub fn decompress(a: DecompressArgs) -> anyhow::Result<ExitCode> {
    let explicit = match &a.model {
        Some(path) => Some((
            path.clone(),
            Codec::new(
                store::load_model(path).with_context(|| format!("model {}", path.display()))?,
            ),
        )),
        None => None,
    };
    let resolver = ModelResolver {
        builtin: Codec::builtin()?,
        explicit,
        dir: a.model_dir.clone(),
        dir_models: Mutex::new(None),
        loaded: Mutex::new(Vec::new()),
    };
    let outputs = output_paths(&a.inputs, &a.output, &a.out_dir, "png")?;
    let pairs = a.inputs.iter().cloned().zip(outputs).collect();
    Ok(for_each_input(pairs, a.quiet, |input, output| {
        if !a.force && !is_stdio(output) && output.exists() {
            bail!("{} exists (use --force to overwrite)", output.display());
        }
        let bytes = read_input(input)?;
        let file = AecFile::from_bytes(&bytes)?;
        let codec = resolver.codec_for(&file.model_id)?;
        let image = codec.decompress(&file)?;
        let format = if is_stdio(output) {
            ImageFormat::Png
        } else {
            ImageFormat::from_path(output).unwrap_or(ImageFormat::Png)
        };
        let mut encoded = std::io::Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(image)
            .write_to(&mut encoded, format)
            .with_context(|| format!("cannot encode {format:?}"))?;
        write_output(output, encoded.get_ref(), a.force)?;
        Ok(format!(
            "{} -> {}: {}x{}, {} bytes",
            input.display(),
            output.display(),
            file.width,
            file.height,
            encoded.get_ref().len()
        ))
    }))
}

pub fn inspect(a: InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = read_input(&a.file)?;
    let file = AecFile::from_bytes_with_limits(&bytes, &Limits::default())
        .with_context(|| format!("{}", a.file.display()))?;
    let builtin = store::model_from_bytes(aec::codec::BUILTIN_MODEL)?.id;
    let values = file.codes.to_f32();
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let min = values.iter().copied().fold(f32::INFINITY, f32::min);
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let zeros = file.codes.count_zeros();
    let pixels = u64::from(file.width) * u64::from(file.height);
    let report = serde_json::json!({
        "file": a.file.display().to_string(),
        "bytes": bytes.len(),
        "version": aec::format::VERSION,
        "model_id": hex(&file.model_id),
        "model_is_builtin": file.model_id == builtin.short(),
        "width": file.width,
        "height": file.height,
        "channels": file.channels,
        "tile_size": file.tile_size,
        "tiles_x": file.tiles_x(),
        "tiles_y": file.tiles_y(),
        "tiles": file.tile_count(),
        "code_length": file.code_length,
        "precision": file.codes.precision().to_string(),
        "layout": file.layout.to_string(),
        "overhead_bytes": aec::format::OVERHEAD,
        "payload_bytes": bytes.len() - aec::format::OVERHEAD,
        "bits_per_pixel": bytes.len() as f64 * 8.0 / pixels as f64,
        "code_values": values.len(),
        "code_zeros": zeros,
        "code_zero_fraction": zeros as f64 / n,
        "code_min": min,
        "code_max": max,
        "code_mean": mean,
        "code_std": var.sqrt(),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "file:          {} ({} bytes)",
        a.file.display(),
        bytes.len()
    );
    println!("format:        .aec version {}", aec::format::VERSION);
    println!(
        "model id:      {}{}",
        hex(&file.model_id),
        if file.model_id == builtin.short() {
            " (built-in model)"
        } else {
            ""
        }
    );
    println!(
        "image:         {}x{}, {} channel(s) in the source",
        file.width, file.height, file.channels
    );
    println!(
        "tiles:         {}x{} = {} tiles of {}x{} px",
        file.tiles_x(),
        file.tiles_y(),
        file.tile_count(),
        file.tile_size,
        file.tile_size
    );
    println!(
        "code:          {} values per tile, {}, {}",
        file.code_length,
        file.codes.precision(),
        file.layout
    );
    println!(
        "size:          {} header+crc + {} payload bytes, {:.3} bits per pixel",
        aec::format::OVERHEAD,
        bytes.len() - aec::format::OVERHEAD,
        bytes.len() as f64 * 8.0 / pixels as f64
    );
    println!(
        "values:        min {min:.4}, max {max:.4}, mean {mean:.4}, std {:.4}, zeros {zeros} ({:.1}%)",
        var.sqrt(),
        100.0 * zeros as f64 / n
    );
    Ok(ExitCode::SUCCESS)
}
