//! Training and evaluation data: CIFAR-10 binary batches, folders of images, and lists of files.
//!
//! Every source becomes a [`Dataset`]: 32×32 RGB tiles stored channel-major (1,024 red, then
//! 1,024 green, then 1,024 blue bytes), exactly as a CIFAR-10 record stores them.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::model::{TILE, TILE_VALUES};

/// Bytes of one CIFAR-10 record: a label byte, then 3,072 pixel bytes.
pub const CIFAR_RECORD: usize = 1 + TILE_VALUES;

/// What can go wrong while loading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("cannot read {path}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A CIFAR-10 binary file whose length is not a whole number of records.
    #[error(
        "{path}: {len} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records \
         (the last record would start at byte {last_start} and is {partial} bytes short)"
    )]
    BadCifarLength {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// Offset of the incomplete record.
        last_start: u64,
        /// Bytes missing from it.
        partial: u64,
    },
    /// A source with no usable images.
    #[error("{path}: no usable images found{detail}")]
    Empty {
        /// The source.
        path: PathBuf,
        /// Extra context, e.g. how many files were skipped.
        detail: String,
    },
    /// A list file names a file that is not there.
    #[error("{list}:{line}: {path} does not exist")]
    MissingListed {
        /// The list file.
        list: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The missing path.
        path: PathBuf,
    },
}

/// An image that was left out of a data set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: String,
}

/// A set of 32×32 RGB tiles in a fixed order, with CIFAR-10 labels where the source has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    /// `len() × 3,072` bytes, channel-major per tile.
    pub pixels: Vec<u8>,
    /// One label per tile for CIFAR-10 sources; empty otherwise.
    pub labels: Vec<u8>,
    /// Files that could not be used, then symbolic-link loops that a folder walk skipped.
    pub skipped: Vec<Skipped>,
}

impl Dataset {
    /// Number of tiles.
    pub fn len(&self) -> usize {
        self.pixels.len() / TILE_VALUES
    }

    /// Whether the set holds no tiles.
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// The bytes of tile `i`.
    pub fn tile(&self, i: usize) -> &[u8] {
        &self.pixels[i * TILE_VALUES..(i + 1) * TILE_VALUES]
    }

    /// Loads a data set from any supported source:
    /// - a CIFAR-10 binary file (`*.bin`);
    /// - a folder holding `data_batch_*.bin` files (read in numeric order);
    /// - a list file (`*.txt`): one image path per line, relative to the list's folder (further
    ///   words on a line, such as labels, are ignored), read in the listed order;
    /// - any other folder: every image below it, recursively, in path order; symbolic links are
    ///   followed, except one that loops back to a folder above it, which is noted in
    ///   [`Dataset::skipped`] (naming the link and its target) and not followed.
    ///
    /// Images of 32×32 are used as they are; larger ones are cut into whole 32×32 tiles in
    /// raster order (partial edge tiles are left out); smaller ones and unreadable files are
    /// skipped and listed in [`Dataset::skipped`]. A source with no usable tile is an error.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let meta = fs::metadata(path).map_err(|source| io(path, source))?;
        let set = if meta.is_dir() {
            let batches = cifar_batches_in(path)?;
            if batches.is_empty() {
                let (images, loops) = images_below(path)?;
                let mut set = from_images(&images);
                set.skipped.extend(loops);
                set
            } else {
                let mut set = Dataset::default();
                for batch in batches {
                    set.append(read_cifar(&batch)?);
                }
                set
            }
        } else if has_extension(path, "bin") {
            read_cifar(path)?
        } else if has_extension(path, "txt") {
            from_images(&read_list(path)?)
        } else {
            from_images(&[path.to_path_buf()])
        };
        if set.is_empty() {
            let detail = if set.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} files skipped)", set.skipped.len())
            };
            return Err(DataError::Empty {
                path: path.to_path_buf(),
                detail,
            });
        }
        Ok(set)
    }

    fn append(&mut self, other: Dataset) {
        self.pixels.extend_from_slice(&other.pixels);
        self.labels.extend_from_slice(&other.labels);
        self.skipped.extend(other.skipped);
    }
}

fn io(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Parses CIFAR-10 records: pixels and labels, or a length error that names the file.
pub fn parse_cifar(path: &Path, bytes: &[u8]) -> Result<Dataset, DataError> {
    let len = bytes.len() as u64;
    let partial = len % CIFAR_RECORD as u64;
    if partial != 0 || bytes.is_empty() {
        return Err(DataError::BadCifarLength {
            path: path.to_path_buf(),
            len,
            last_start: len - partial,
            partial: if bytes.is_empty() {
                CIFAR_RECORD as u64
            } else {
                CIFAR_RECORD as u64 - partial
            },
        });
    }
    let records = bytes.len() / CIFAR_RECORD;
    let mut set = Dataset {
        pixels: Vec::with_capacity(records * TILE_VALUES),
        labels: Vec::with_capacity(records),
        skipped: Vec::new(),
    };
    for record in bytes.chunks_exact(CIFAR_RECORD) {
        set.labels.push(record[0]);
        set.pixels.extend_from_slice(&record[1..]);
    }
    Ok(set)
}

/// Reads one CIFAR-10 binary file.
pub fn read_cifar(path: &Path) -> Result<Dataset, DataError> {
    let bytes = fs::read(path).map_err(|source| io(path, source))?;
    parse_cifar(path, &bytes)
}

/// `data_batch_N.bin` files directly in `dir`, by N.
fn cifar_batches_in(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut batches: Vec<(u32, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(|source| io(dir, source))? {
        let entry = entry.map_err(|source| io(dir, source))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix("data_batch_")
            .and_then(|rest| rest.strip_suffix(".bin"))
            .and_then(|n| n.parse().ok())
        {
            batches.push((n, entry.path()));
        }
    }
    batches.sort();
    Ok(batches.into_iter().map(|(_, p)| p).collect())
}

/// Every file below `dir` whose extension the `image` crate can decode, sorted by path, with
/// symbolic links followed; and a note for each link that loops back to a folder above it.
///
/// A loop is not followed (the walk would never end) and not an error: the images are all
/// reached once through the real folders, so the walk skips the link and notes it, naming the
/// link and the folder it leads back to. A link whose target is missing is kept as a file if
/// its name is an image's, so that it is reported as unreadable like any other bad file.
pub(crate) fn images_below(dir: &Path) -> Result<(Vec<PathBuf>, Vec<Skipped>), DataError> {
    let mut found = Vec::new();
    let mut loops = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                if let Some(ancestor) = e.loop_ancestor() {
                    loops.push(Skipped {
                        reason: format!(
                            "symbolic link loop back to {}, not followed",
                            ancestor.display()
                        ),
                        path,
                    });
                } else if e.depth() > 0 && is_dangling_link(&path) {
                    if image::ImageFormat::from_path(&path).is_ok() {
                        found.push(path);
                    }
                } else {
                    // The system's own error where there is one (walkdir's repeats it).
                    let error = match e.into_io_error() {
                        Some(error) => error,
                        None => std::io::Error::other("cannot walk the folder"),
                    };
                    return Err(io(&path, error));
                }
                continue;
            }
        };
        if !entry.file_type().is_dir() && image::ImageFormat::from_path(entry.path()).is_ok() {
            found.push(entry.into_path());
        }
    }
    found.sort();
    loops.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((found, loops))
}

/// Whether `path` is a symbolic link whose target cannot be reached.
fn is_dangling_link(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        && fs::metadata(path).is_err()
}

fn read_list(list: &Path) -> Result<Vec<PathBuf>, DataError> {
    let text = fs::read_to_string(list).map_err(|source| io(list, source))?;
    let base = list.parent().unwrap_or(Path::new("."));
    let mut paths = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if name.starts_with('#') {
            continue;
        }
        let path = base.join(name);
        if !path.exists() {
            return Err(DataError::MissingListed {
                list: list.to_path_buf(),
                line: i + 1,
                path,
            });
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Decodes images in parallel and cuts them into tiles, keeping the files' order.
fn from_images(paths: &[PathBuf]) -> Dataset {
    let decoded: Vec<Result<Vec<u8>, Skipped>> = paths
        .par_iter()
        .map(|path| {
            let skip = |reason: String| Skipped {
                path: path.clone(),
                reason,
            };
            let img = image::open(path).map_err(|e| skip(e.to_string()))?;
            let rgb = img.to_rgb8();
            if rgb.width() < TILE as u32 || rgb.height() < TILE as u32 {
                return Err(skip(format!(
                    "{}×{} is smaller than a {TILE}×{TILE} tile",
                    rgb.width(),
                    rgb.height()
                )));
            }
            Ok(whole_tiles(&rgb))
        })
        .collect();
    let mut set = Dataset::default();
    for d in decoded {
        match d {
            Ok(tiles) => set.pixels.extend_from_slice(&tiles),
            Err(skipped) => set.skipped.push(skipped),
        }
    }
    set
}

/// The whole 32×32 tiles of an image, in raster order, each channel-major (a partial tile at
/// the right or bottom edge is left out).
pub fn whole_tiles(rgb: &image::RgbImage) -> Vec<u8> {
    let (w, h) = (
        rgb.width() / TILE as u32 * TILE as u32,
        rgb.height() / TILE as u32 * TILE as u32,
    );
    if (w, h) == rgb.dimensions() {
        crate::codec::to_tiles(rgb)
    } else {
        crate::codec::to_tiles(&image::imageops::crop_imm(rgb, 0, 0, w, h).to_image())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_cifar_length_names_the_file_and_offset() {
        let err = parse_cifar(Path::new("x.bin"), &vec![0u8; CIFAR_RECORD + 10]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("x.bin") && msg.contains("3083 bytes"), "{msg}");
        assert!(msg.contains("byte 3073"), "{msg}");
        assert!(parse_cifar(Path::new("e.bin"), &[]).is_err());
    }

    #[test]
    fn tiles_are_channel_major_in_raster_order() {
        let mut img = image::RgbImage::new(64, 40);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([x as u8, y as u8, 7]);
        }
        let tiles = whole_tiles(&img);
        assert_eq!(tiles.len(), 2 * TILE_VALUES);
        // Second tile, red plane, row 3, column 5 → x = 37.
        assert_eq!(tiles[TILE_VALUES + 3 * 32 + 5], 37);
        // First tile, green plane, row 9 → y = 9.
        assert_eq!(tiles[1024 + 9 * 32 + 1], 9);
        assert_eq!(tiles[2048], 7);
    }
}
