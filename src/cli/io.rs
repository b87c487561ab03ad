//! Inputs and outputs of the coding commands: standard streams, output names and formats.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aec::fsutil;
use anyhow::{anyhow, bail, Context};
use image::ImageFormat;

/// Whether a path argument is `-` (standard input or output).
pub fn is_stdio(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Refuses more than one `-` among the inputs: standard input can be read only once.
pub fn stdin_at_most_once(inputs: &[PathBuf]) -> anyhow::Result<()> {
    if inputs.iter().filter(|p| is_stdio(p)).count() > 1 {
        bail!("standard input ('-') can be read only once");
    }
    Ok(())
}

/// The bytes of a file, or of standard input for `-`.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
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

/// Writes a whole output: to standard output for `-`, else atomically (see
/// [`fsutil::write_atomic`]).
pub fn write_output(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    if is_stdio(path) {
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)?;
        return Ok(out.flush()?);
    }
    fsutil::write_atomic(path, bytes, force)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Refuses to replace an existing output without `--force` (checked before the work, so that
/// a batch does not code what it cannot write).
pub fn check_overwrite(output: &Path, force: bool) -> anyhow::Result<()> {
    if !force && !is_stdio(output) && output.exists() {
        bail!("{} exists (use --force to overwrite)", output.display());
    }
    Ok(())
}

/// Where each input's output goes: `-o`, or beside the input (or in `--out-dir`) with `ext`.
pub fn output_paths(
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

/// The image format of a decoded output: `--format` if given, else the output's extension
/// (PNG for standard output). An extension that names no format aec writes is an error, so
/// that `-o out.xyz` never silently writes PNG.
pub fn output_format(output: &Path, format: Option<&str>) -> anyhow::Result<ImageFormat> {
    let format = match format {
        Some(name) => ImageFormat::from_extension(name)
            .ok_or_else(|| anyhow!("unknown image format '{name}' (--format)"))?,
        None if is_stdio(output) => ImageFormat::Png,
        None => ImageFormat::from_path(output).map_err(|_| {
            anyhow!(
                "cannot tell the image format of {} from its extension; use png, jpg, webp, \
                 bmp, tiff, tga, pnm, qoi, or --format",
                output.display()
            )
        })?,
    };
    if !format.writing_enabled() {
        bail!("aec cannot write {format:?} images; use png, jpg, webp, bmp, tiff, tga, pnm or qoi");
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension_or_the_flag() {
        let f = |p: &str, fmt: Option<&str>| {
            output_format(Path::new(p), fmt).map_err(|e| e.to_string())
        };
        assert_eq!(f("a.png", None).unwrap(), ImageFormat::Png);
        assert_eq!(f("a.JPG", None).unwrap(), ImageFormat::Jpeg);
        assert_eq!(f("-", None).unwrap(), ImageFormat::Png);
        assert_eq!(f("-", Some("bmp")).unwrap(), ImageFormat::Bmp);
        assert_eq!(f("a.xyz", Some("png")).unwrap(), ImageFormat::Png);
        assert!(f("a.xyz", None).unwrap_err().contains("a.xyz"));
        assert!(f("noext", None).is_err());
        assert!(f("a.png", Some("xyz")).unwrap_err().contains("xyz"));
    }
}
