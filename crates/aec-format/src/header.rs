//! The 32-byte header: [`FileHeader`], read on its own before anything is allocated.

use byteorder::{ByteOrder, LittleEndian};

use crate::{FormatError, Layout, Limits, Precision, HEADER_LEN, MAGIC, OVERHEAD, VERSION};

/// Bit 0 of the flags byte: the payload uses the sparse layout.
pub(crate) const FLAG_SPARSE: u8 = 0x01;

/// The fields of a file's 32-byte header, range-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// How the payload is laid out.
    pub layout: Layout,
    /// How each stored value is encoded.
    pub precision: Precision,
    /// Channels of the original image, 1 to 4.
    pub channels: u8,
    /// First 16 bytes of the SHA-256 of the model file that produced the code.
    pub model_id: [u8; 16],
    /// Image width in pixels, 1 to 65535.
    pub width: u32,
    /// Image height in pixels, 1 to 65535.
    pub height: u32,
    /// Side of the square tiles, in pixels, 1 to 255.
    pub tile_size: u32,
    /// Values per tile, 1 to 65535.
    pub code_length: u32,
}

impl FileHeader {
    /// Reads and range-checks the 32-byte header at the start of `bytes`, without looking at
    /// anything after it (the payload and the CRC are checked by
    /// [`crate::AecFile::from_bytes`]).
    ///
    /// A program that can refuse a file for what its header says (another model, a size over
    /// its own bounds) calls this first, so that it allocates nothing for such a file.
    pub fn parse(bytes: &[u8]) -> Result<FileHeader, FormatError> {
        let (mut c, _) = magic_and_version(bytes, &[VERSION], "version 1 only")?;
        let flags = c.u8()?;
        if flags & !FLAG_SPARSE != 0 {
            return Err(FormatError::ReservedFlags { flags });
        }
        let layout = if flags & FLAG_SPARSE != 0 {
            Layout::Sparse
        } else {
            Layout::Dense
        };
        let p = c.u8()?;
        let precision =
            Precision::from_byte(p).ok_or(FormatError::UnsupportedPrecision { value: p })?;
        let channels = c.u8()?;
        if !(1..=4).contains(&channels) {
            return Err(FormatError::BadChannels {
                channels,
                offset: 7,
            });
        }
        let model_id: [u8; 16] = c.take(16)?.try_into().expect("16 bytes");
        let width = nonzero(u32::from(c.u16()?), "width", 24)?;
        let height = nonzero(u32::from(c.u16()?), "height", 26)?;
        let tile_size = nonzero(u32::from(c.u8()?), "tile size", 28)?;
        let reserved = c.u8()?;
        if reserved != 0 {
            return Err(FormatError::ReservedByte {
                offset: 29,
                value: reserved,
            });
        }
        let code_length = nonzero(u32::from(c.u16()?), "code length", 30)?;
        debug_assert_eq!(c.pos, HEADER_LEN);
        Ok(FileHeader {
            layout,
            precision,
            channels,
            model_id,
            width,
            height,
            tile_size,
            code_length,
        })
    }

    /// Number of tile columns: `ceil(width / tile_size)`.
    pub fn tiles_x(&self) -> u32 {
        self.width.div_ceil(self.tile_size.max(1))
    }

    /// Number of tile rows: `ceil(height / tile_size)`.
    pub fn tiles_y(&self) -> u32 {
        self.height.div_ceil(self.tile_size.max(1))
    }

    /// Number of tiles (at most 2^32, so a `u64`).
    pub fn tiles(&self) -> u64 {
        u64::from(self.tiles_x()) * u64::from(self.tiles_y())
    }

    /// Number of pixels of the image.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Number of code values the file declares: tiles × code length.
    pub fn values(&self) -> u64 {
        self.tiles() * u64::from(self.code_length)
    }

    /// Largest file length this header allows.
    pub fn max_file_len(&self) -> u64 {
        let l = u64::from(self.code_length);
        let bpv = self.precision.bytes_per_value() as u64;
        let per_tile = match self.layout {
            Layout::Dense => l * bpv,
            Layout::Sparse => 2 + l.div_ceil(8) + l * bpv,
        };
        OVERHEAD as u64 + self.tiles() * per_tile
    }

    /// Checks the declared sizes against `limits`.
    pub fn check(&self, limits: &Limits) -> Result<(), FormatError> {
        let check = |what: &'static str, value: u64, limit: u64| {
            if value > limit {
                Err(FormatError::LimitExceeded { what, value, limit })
            } else {
                Ok(())
            }
        };
        check("width", self.width.into(), limits.max_width.into())?;
        check("height", self.height.into(), limits.max_height.into())?;
        check(
            "code length",
            self.code_length.into(),
            limits.max_code_length.into(),
        )?;
        check("tile count", self.tiles(), limits.max_tiles as u64)?;
        check("value count", self.values(), limits.max_values as u64)
    }
}

fn nonzero(v: u32, field: &'static str, offset: usize) -> Result<u32, FormatError> {
    if v == 0 {
        Err(FormatError::ZeroField { field, offset })
    } else {
        Ok(v)
    }
}

/// Checks the magic and that the version byte is one of `accepted` (`supported` names them in
/// the error); returns a cursor at offset 5 and the version.
pub(crate) fn magic_and_version<'a>(
    bytes: &'a [u8],
    accepted: &[u8],
    supported: &'static str,
) -> Result<(Cursor<'a>, u8), FormatError> {
    let mut c = Cursor {
        buf: bytes,
        pos: 0,
        end: bytes.len(),
    };
    let magic: [u8; 4] = c.take(4)?.try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(FormatError::BadMagic { found: magic });
    }
    let version = c.u8()?;
    if !accepted.contains(&version) {
        return Err(FormatError::UnsupportedVersion { version, supported });
    }
    Ok((c, version))
}

/// A writer-side range check: `value` in `lo..=hi`, else [`FormatError::Invalid`] for `field`.
pub(crate) fn in_range(
    field: &'static str,
    value: u32,
    lo: u32,
    hi: u32,
) -> Result<(), FormatError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(FormatError::Invalid {
            field,
            reason: format!("{value} is not in {lo}..={hi}"),
        })
    }
}

/// Bounds-checked reads from `buf[..end]`.
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) end: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let avail = self.end - self.pos;
        if n > avail {
            return Err(FormatError::Truncated {
                offset: self.pos,
                needed: n - avail,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(LittleEndian::read_u16(self.take(2)?))
    }
}
