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

/// One file to code: a path as given, or one found in a folder given (with its folder relative
/// to that one, which `--out-dir` mirrors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The file (or `-`).
    pub path: PathBuf,
    /// Its folder relative to the folder argument it was found in; empty for a file argument.
    pub sub: PathBuf,
}

/// The arguments with each folder replaced by the files under it that `wanted` accepts, in
/// name order (`what` names them in the error for a folder with none). Links to files count
/// as files; links to folders are not followed, so a cycle cannot make the walk endless.
pub fn expand_inputs(
    args: &[PathBuf],
    wanted: impl Fn(&Path) -> bool,
    what: &str,
) -> anyhow::Result<Vec<Input>> {
    let mut inputs = Vec::with_capacity(args.len());
    for arg in args {
        if is_stdio(arg) || !arg.is_dir() {
            inputs.push(Input {
                path: arg.clone(),
                sub: PathBuf::new(),
            });
            continue;
        }
        let before = inputs.len();
        for entry in walkdir::WalkDir::new(arg).sort_by_file_name() {
            let entry = entry.with_context(|| format!("cannot list {}", arg.display()))?;
            let path = entry.path();
            let file = entry.file_type().is_file() || (entry.path_is_symlink() && path.is_file());
            if file && wanted(path) {
                let parent = path.parent().unwrap_or(arg);
                let sub = parent
                    .strip_prefix(arg)
                    .unwrap_or(Path::new(""))
                    .to_path_buf();
                inputs.push(Input {
                    path: path.to_path_buf(),
                    sub,
                });
            }
        }
        if inputs.len() == before {
            bail!("{} holds no {what}", arg.display());
        }
    }
    Ok(inputs)
}

/// Whether a file name's extension is `ext`, in any case.
pub fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case(ext))
}

/// Where each input's output goes: `-o`, or beside the input (or in `--out-dir`, under the
/// input's folder relative to a folder argument) with `ext`. Two inputs that would write the
/// same file are refused before any work, so that neither replaces the other's output.
pub fn output_paths(
    inputs: &[Input],
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
    let outputs = inputs
        .iter()
        .map(|input| {
            if is_stdio(&input.path) {
                return Ok(PathBuf::from("-"));
            }
            let name = input
                .path
                .file_stem()
                .ok_or_else(|| anyhow!("{} has no file name", input.path.display()))?;
            let mut file = PathBuf::from(name);
            file.set_extension(ext);
            Ok(match out_dir {
                Some(dir) => dir.join(&input.sub).join(file),
                None => input.path.with_file_name(file),
            })
        })
        .collect::<anyhow::Result<Vec<PathBuf>>>()?;
    refuse_shared_outputs(inputs, &outputs)?;
    if out_dir.is_some() {
        for folder in outputs.iter().filter_map(|o| o.parent()) {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
    }
    Ok(outputs)
}

/// Refuses two inputs whose outputs are the same file (`a.png` and `a.jpg`, or two folders'
/// `a.png` in one `--out-dir`).
fn refuse_shared_outputs(inputs: &[Input], outputs: &[PathBuf]) -> anyhow::Result<()> {
    let mut seen = std::collections::HashMap::new();
    for (input, output) in inputs.iter().zip(outputs) {
        if is_stdio(output) {
            continue;
        }
        if let Some(first) = seen.insert(output, &input.path) {
            bail!(
                "{} and {} would both be written to {}; code them separately or into \
                 different --out-dir folders",
                first.display(),
                input.path.display(),
                output.display()
            );
        }
    }
    Ok(())
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
