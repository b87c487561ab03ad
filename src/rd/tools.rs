//! Baselines measured through external encoders and decoders (AVIF, JPEG XL), when installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;

use super::{measure_baseline, ImageSet, RdError, RdPoint};

/// Where `program` is on `PATH` (an executable file of that name), if anywhere.
pub fn find_tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The libavif quantizer (0–63, 0 lossless) of an `avifenc -q` quality (0–100, 100
/// lossless): libavif 1.x's own mapping, so that a quality means the same with the older
/// `avifenc` (0.x) that has only `--min`/`--max`.
pub fn avif_quantizer(quality: u8) -> u8 {
    let q = u32::from(quality.min(100));
    (((100 - q) * 63 + 50) / 100) as u8
}

/// Runs an external program on one image's files; a failure is an [`RdError::Tool`] carrying
/// the exit status and what the program wrote to its error output (or standard output, when
/// the error output is empty).
fn run_tool(
    codec: &str,
    index: usize,
    program: &str,
    args: &[&std::ffi::OsStr],
) -> Result<(), RdError> {
    let fail = |reason: String| RdError::Tool {
        codec: codec.to_string(),
        index,
        tool: program.to_string(),
        reason,
    };
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = if stderr.trim().is_empty() {
        stdout.trim()
    } else {
        stderr.trim()
    };
    Err(fail(format!("{}: {said}", out.status)))
}

/// A command line of an external tool: `{in}` and `{out}` among the arguments stand for the
/// input and output files.
struct ToolCommand<'a> {
    program: &'a str,
    args: &'a [&'a str],
}

impl ToolCommand<'_> {
    fn run(&self, codec: &str, index: usize, input: &Path, output: &Path) -> Result<(), RdError> {
        let args: Vec<&std::ffi::OsStr> = self
            .args
            .iter()
            .map(|&a| match a {
                "{in}" => input.as_os_str(),
                "{out}" => output.as_os_str(),
                a => std::ffi::OsStr::new(a),
            })
            .collect();
        run_tool(codec, index, self.program, &args)
    }
}

/// One image through an external encoder and decoder, in a temporary folder: the image as a
/// PNG, the encoder's file, the decoder's PNG. Returns the size of the encoder's whole output
/// file and the decoded image.
fn measure_with_tools(
    codec: &str,
    index: usize,
    img: &RgbImage,
    extension: &str,
    encoder: &ToolCommand,
    decoder: &ToolCommand,
) -> Result<(usize, RgbImage), RdError> {
    let fail = |reason: String| RdError::Codec {
        codec: codec.to_string(),
        index,
        source: reason.into(),
    };
    let dir = tempfile::Builder::new()
        .prefix("aec-rd-")
        .tempdir()
        .map_err(|e| fail(format!("temporary folder: {e}")))?;
    let input = dir.path().join("in.png");
    let coded = dir.path().join(format!("out.{extension}"));
    let output = dir.path().join("decoded.png");
    img.save_with_format(&input, image::ImageFormat::Png)
        .map_err(|e| fail(format!("writing {}: {e}", input.display())))?;
    encoder.run(codec, index, &input, &coded)?;
    let bytes = std::fs::metadata(&coded)
        .map_err(|e| fail(format!("{}: {e}", coded.display())))?
        .len();
    decoder.run(codec, index, &coded, &output)?;
    let decoded = image::open(&output)
        .map_err(|e| fail(format!("reading the decoded {}: {e}", output.display())))?
        .to_rgb8();
    if decoded.dimensions() != img.dimensions() {
        return Err(fail(format!(
            "decoded {}×{}, expected {}×{}",
            decoded.width(),
            decoded.height(),
            img.width(),
            img.height()
        )));
    }
    let bytes = usize::try_from(bytes).map_err(|_| fail(format!("{bytes} bytes")))?;
    Ok((bytes, decoded))
}

/// Measures AVIF (libavif's `avifenc`, AV1 through its default encoder, 4:2:0, speed 6) at
/// one quality (0–100, as `avifenc -q`; passed as equal `--min`/`--max` quantizers, see
/// [`avif_quantizer`]). Decoded with `avifdec` to 8-bit PNG. The size is the whole `.avif`
/// file, container included (about 280 bytes of boxes, which dominate at 32×32).
pub fn measure_avif(set: &ImageSet, quality: u8) -> Result<RdPoint, RdError> {
    let label = format!("AVIF q{quality}");
    let quantizer = avif_quantizer(quality).to_string();
    let encoder = ToolCommand {
        program: "avifenc",
        args: &[
            "--min", &quantizer, "--max", &quantizer, "--speed", "6", "-y", "420", "-j", "1", "--",
            "{in}", "{out}",
        ],
    };
    let decoder = ToolCommand {
        program: "avifdec",
        args: &["-d", "8", "--", "{in}", "{out}"],
    };
    measure_baseline(set, "AVIF", label.clone(), |i, img| {
        measure_with_tools(&label, i, img, "avif", &encoder, &decoder)
    })
}

/// Measures JPEG XL (libjxl's `cjxl`, effort 7) at one quality (`cjxl -q`: up to 100, which
/// is lossless; libjxl maps it to a butteraugli distance). Decoded with `djxl` to PNG. The
/// size is the whole `.jxl` file.
pub fn measure_jxl(set: &ImageSet, quality: f32) -> Result<RdPoint, RdError> {
    let label = format!("JPEG XL q{quality}");
    let q = quality.to_string();
    // One thread per tool: the images run in parallel. (cjxl's 0 means no worker threads,
    // djxl's 0 the machine's default.)
    let encoder = ToolCommand {
        program: "cjxl",
        args: &[
            "{in}",
            "{out}",
            "-q",
            &q,
            "-e",
            "7",
            "--num_threads=0",
            "--quiet",
        ],
    };
    let decoder = ToolCommand {
        program: "djxl",
        args: &["{in}", "{out}", "--num_threads=1", "--quiet"],
    };
    measure_baseline(set, "JPEG XL", label.clone(), |i, img| {
        measure_with_tools(&label, i, img, "jxl", &encoder, &decoder)
    })
}
