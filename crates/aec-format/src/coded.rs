//! Version 2 files: [`CodedHeader`] and [`CodedFile`], an entropy-coded symbol stream in a
//! small header and a CRC.

use crate::alpha::{check_size, ALPHA_FLAG, ALPHA_HEAD_LEN};
use crate::blocks::EXACT_FLAG;
use crate::header::{in_range, magic_and_version, Cursor};
use crate::lossless;
use crate::{AlphaFilter, AlphaPlane, ExactBlocks, FormatError, Limits, MAGIC};

/// The version byte of a [`CodedFile`].
pub const VERSION_CODED: u8 = 2;
/// Offset of a version 2 file's width varint (the height's follows it).
pub const CODED_WIDTH_OFFSET: usize = 15;
/// Longest version 2 header: two 3-byte varints and a quantization step.
pub const CODED_HEADER_MAX_LEN: usize = CODED_WIDTH_OFFSET + 8;
/// The quantization step of a kind 1 or kind 2 file, in 256ths: 1. Any other step of a
/// whole-image file is written as kind 3, which stores it.
pub const UNIT_STEP: u16 = 256;
/// The kind byte of a whole-image file with a stored quantization step.
const KIND_STEP: u8 = 3;

/// What produced a version 2 file's symbols, and so how they are to be decoded (offset 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelKind {
    /// `1`: the image cut into square tiles, each tile's code `code_length` integer symbols,
    /// dimension `d` of every tile with the same fixed distribution (a factorized prior). The
    /// tile size, the code length and the distributions come from the model.
    TiledFactorized,
    /// `2`: the whole image through a convolutional transform with a hyperprior: first the
    /// side latent's symbols, then the latent's, each latent symbol with a distribution chosen
    /// from the side latent's. The counts and the distributions come from the model.
    WholeImageHyperprior,
    /// `4`: no model: the image's pixels exactly, as a WebP lossless bitstream
    /// ([`CodedFile::decode_lossless`]; SPEC.md §13.6).
    Lossless,
}

impl ModelKind {
    /// The family of kind byte 1, 2 or 4, `None` for any other (kind byte 3, a whole-image
    /// file with a quantization step, is read by [`CodedHeader::parse`]; 0 and 5–255 are
    /// reserved).
    pub fn from_byte(b: u8) -> Option<ModelKind> {
        match b {
            1 => Some(ModelKind::TiledFactorized),
            2 => Some(ModelKind::WholeImageHyperprior),
            4 => Some(ModelKind::Lossless),
            _ => None,
        }
    }

    /// The kind byte of this family's files at the unit step ([`CodedHeader::kind_byte`] gives
    /// a file's own).
    pub fn to_byte(self) -> u8 {
        match self {
            ModelKind::TiledFactorized => 1,
            ModelKind::WholeImageHyperprior => 2,
            ModelKind::Lossless => 4,
        }
    }
}

/// Length of `v` (at most 65535) as an unsigned LEB128 varint.
fn varint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        _ => 3,
    }
}

fn put_varint(mut v: u32, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a width or height: an unsigned LEB128 varint of 1 to 3 bytes in minimal form, with a
/// value of 1 to 65535.
fn read_varint(c: &mut Cursor<'_>, field: &'static str) -> Result<u32, FormatError> {
    let offset = c.pos;
    let mut v = 0u32;
    for i in 0..3 {
        let b = c
            .u8()
            .map_err(|_| FormatError::Truncated { offset, needed: 1 })?;
        v |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(FormatError::NonMinimalVarint { field, offset });
            }
            if v > 65535 {
                return Err(FormatError::VarintOverflow { field, offset });
            }
            if v == 0 {
                return Err(FormatError::ZeroField { field, offset });
            }
            return Ok(v);
        }
    }
    Err(FormatError::VarintOverflow { field, offset })
}

/// The header of a version 2 file, range-checked. Its length is 17 to 23 bytes
/// ([`CodedHeader::encoded_len`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodedHeader {
    /// What produced the symbols.
    pub kind: ModelKind,
    /// Channels of the original image, 1 to 4 (as in version 1).
    pub channels: u8,
    /// First 8 bytes of the SHA-256 of the model file that produced the symbols.
    pub model_id: [u8; 8],
    /// Image width in pixels, 1 to 65535.
    pub width: u32,
    /// Image height in pixels, 1 to 65535.
    pub height: u32,
    /// The latents' quantization step in 256ths ([`UNIT_STEP`] = 1): stored only by a
    /// whole-image file with another step (kind byte 3), 1 to 65535.
    pub step: u16,
    /// Whether an alpha section follows the header (kind byte bit 7; SPEC.md §13.4).
    pub alpha: bool,
    /// Whether an exact-blocks section follows the header (kind byte bit 6; SPEC.md §13.7).
    pub exact: bool,
}

/// The kind byte of a file of `kind` with quantization step `step`, bit 7 for an alpha plane
/// and bit 6 for exact blocks.
fn kind_byte(kind: ModelKind, step: u16, alpha: bool, exact: bool) -> u8 {
    let k = match kind {
        ModelKind::WholeImageHyperprior if step != UNIT_STEP => KIND_STEP,
        _ => kind.to_byte(),
    };
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    k | flag(alpha, ALPHA_FLAG) | flag(exact, EXACT_FLAG)
}

impl CodedHeader {
    /// Reads and range-checks the header at the start of `bytes`, a version 2 file or a prefix
    /// of one of at least [`CodedHeader::encoded_len`] bytes, without looking at anything
    /// after it. Checks, in order: magic, version (2), kind, channels, width, height, and
    /// (kind byte 3) the quantization step.
    pub fn parse(bytes: &[u8]) -> Result<CodedHeader, FormatError> {
        let (mut c, _) = magic_and_version(bytes, &[VERSION_CODED], "version 2 only")?;
        Self::parse_after_version(&mut c)
    }

    /// The fields after the version byte; `c` is at offset 5.
    pub(crate) fn parse_after_version(c: &mut Cursor<'_>) -> Result<CodedHeader, FormatError> {
        let byte = c.u8()?;
        let k = byte & !(ALPHA_FLAG | EXACT_FLAG);
        let (alpha, exact) = (byte & ALPHA_FLAG != 0, byte & EXACT_FLAG != 0);
        let kind = match k {
            KIND_STEP => ModelKind::WholeImageHyperprior,
            _ => ModelKind::from_byte(k).ok_or(FormatError::UnsupportedKind { kind: byte })?,
        };
        // A lossless file's alpha is in its payload; exact blocks go with a whole-image
        // file of an opaque image.
        let whole = kind == ModelKind::WholeImageHyperprior;
        if (alpha && kind == ModelKind::Lossless) || (exact && (alpha || !whole)) {
            return Err(FormatError::UnsupportedKind { kind: byte });
        }
        let channels = c.u8()?;
        if !(1..=4).contains(&channels) {
            return Err(FormatError::BadChannels {
                channels,
                offset: 6,
            });
        }
        if alpha && channels % 2 == 1 {
            return Err(FormatError::AlphaChannels { channels });
        }
        if exact && channels < 3 {
            return Err(FormatError::ExactBlocks {
                offset: 6,
                reason: format!("{channels} channel(s): exact blocks are for colour sources"),
            });
        }
        let model_id: [u8; 8] = c.take(8)?.try_into().expect("8 bytes");
        debug_assert_eq!(c.pos, CODED_WIDTH_OFFSET);
        let width = read_varint(c, "width")?;
        let height = read_varint(c, "height")?;
        let mut step = UNIT_STEP;
        if k == KIND_STEP {
            let offset = c.pos;
            step = c.u16()?;
            if step == 0 || step == UNIT_STEP {
                return Err(FormatError::BadStep { step, offset });
            }
        }
        let h = CodedHeader {
            kind,
            channels,
            model_id,
            width,
            height,
            step,
            alpha,
            exact,
        };
        if kind == ModelKind::Lossless {
            lossless::check_header(&h)?;
        } else if exact {
            lossless::check_sides(&h, "exact blocks'", crate::blocks::error)?;
        }
        Ok(h)
    }

    /// Length of the header in bytes: 15 plus the two varints, plus 2 for a stored step:
    /// 17 to 23.
    pub fn encoded_len(&self) -> usize {
        let step = if kind_byte(self.kind, self.step, false, false) == KIND_STEP {
            2
        } else {
            0
        };
        CODED_WIDTH_OFFSET + varint_len(self.width) + varint_len(self.height) + step
    }

    /// The file's kind byte: the family's, or 3 for a whole-image file with a step other
    /// than [`UNIT_STEP`]; with bit 7 set where an alpha plane follows, bit 6 where exact
    /// blocks do.
    pub fn kind_byte(&self) -> u8 {
        kind_byte(self.kind, self.step, self.alpha, self.exact)
    }

    /// The quantization step as a number (1 for [`UNIT_STEP`]).
    pub fn step_value(&self) -> f64 {
        f64::from(self.step) / f64::from(UNIT_STEP)
    }

    /// Number of pixels of the image.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Number of tiles of `tile_size` pixels (the model's): `ceil(width / tile_size) ×
    /// ceil(height / tile_size)`, at most 2^32; 0 for a tile size of 0.
    pub fn tiles(&self, tile_size: u32) -> u64 {
        if tile_size == 0 {
            return 0;
        }
        u64::from(self.width.div_ceil(tile_size)) * u64::from(self.height.div_ceil(tile_size))
    }

    /// Checks the width and height against `limits`.
    pub fn check(&self, limits: &Limits) -> Result<(), FormatError> {
        limit("width", self.width.into(), limits.max_width.into())?;
        limit("height", self.height.into(), limits.max_height.into())
    }

    /// The number of symbols the file holds for a model with tiles of `tile_size` pixels and
    /// `code_length` symbols per tile: `tiles × code_length`, after checking `code_length`,
    /// the tile count and the symbol count against `limits` (`max_code_length`, `max_tiles`,
    /// `max_symbols`, in that order). This is the `count` for [`crate::decode_symbols`].
    pub fn symbol_count(
        &self,
        tile_size: u32,
        code_length: usize,
        limits: &Limits,
    ) -> Result<usize, FormatError> {
        if tile_size == 0 || code_length == 0 {
            return Err(FormatError::Invalid {
                field: if tile_size == 0 {
                    "tile size"
                } else {
                    "code length"
                },
                reason: "must be at least 1".to_string(),
            });
        }
        limit(
            "code length",
            code_length as u64,
            limits.max_code_length.into(),
        )?;
        let tiles = self.tiles(tile_size);
        limit("tile count", tiles, limits.max_tiles as u64)?;
        let symbols = tiles.saturating_mul(code_length as u64);
        limit("symbol count", symbols, limits.max_symbols as u64)?;
        usize::try_from(symbols).map_err(|_| FormatError::LimitExceeded {
            what: "symbol count",
            value: symbols,
            limit: usize::MAX as u64,
        })
    }
}

fn limit(what: &'static str, value: u64, limit: u64) -> Result<(), FormatError> {
    if value > limit {
        Err(FormatError::LimitExceeded { what, value, limit })
    } else {
        Ok(())
    }
}

/// One image compressed into integer symbols (format version 2): the model that made them,
/// the image geometry and the symbol stream. The stream's symbols are decoded with the
/// model's tables by [`crate::decode_symbols`]; this type only carries its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodedFile {
    /// What produced the symbols.
    pub kind: ModelKind,
    /// Channels of the original image: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA).
    pub channels: u8,
    /// First 8 bytes of the SHA-256 of the model file that produced the symbols.
    pub model_id: [u8; 8],
    /// Image width in pixels, 1 to 65535.
    pub width: u32,
    /// Image height in pixels, 1 to 65535.
    pub height: u32,
    /// The latents' quantization step in 256ths: [`UNIT_STEP`] for a tiled model's file, 1 to
    /// 65535 for a whole-image model's.
    pub step: u16,
    /// The source's transparency, where some pixel was not opaque (channels 2 or 4 only).
    pub alpha: Option<AlphaPlane>,
    /// The blocks stored exactly (a whole-image file of a colour source without alpha only):
    /// their pixels replace the lossy decode's ([`ExactBlocks::apply`]).
    pub exact: Option<ExactBlocks>,
    /// The symbol stream ([`crate::encode_symbols`]'s output): possibly empty, never ending
    /// with a zero byte.
    pub payload: Vec<u8>,
}

impl CodedFile {
    /// The header fields.
    pub fn header(&self) -> CodedHeader {
        CodedHeader {
            kind: self.kind,
            channels: self.channels,
            model_id: self.model_id,
            width: self.width,
            height: self.height,
            step: self.step,
            alpha: self.alpha.is_some(),
            exact: self.exact.is_some(),
        }
    }

    /// Checks that the file can be written: width and height in 1..=65535, channels in
    /// 1..=4, a step of at least 1 ([`UNIT_STEP`] for a tiled model), and a payload that does
    /// not end with a zero byte.
    pub fn validate(&self) -> Result<(), FormatError> {
        let invalid =
            |field: &'static str, reason: String| Err(FormatError::Invalid { field, reason });
        in_range("width", self.width, 1, 65535)?;
        in_range("height", self.height, 1, 65535)?;
        in_range("channels", u32::from(self.channels), 1, 4)?;
        if self.step == 0 || (self.kind == ModelKind::TiledFactorized && self.step != UNIT_STEP) {
            return invalid(
                "quantization step",
                format!(
                    "{} (a tiled model's file has step {UNIT_STEP}, a whole-image one's 1 to 65535)",
                    self.step
                ),
            );
        }
        if self.kind == ModelKind::Lossless {
            if self.alpha.is_some() || self.step != UNIT_STEP {
                return invalid(
                    "lossless file",
                    "has no alpha section and no quantization step".to_string(),
                );
            }
            let h = self.header();
            lossless::check_header(&h).or_else(|e| invalid("lossless file", e.to_string()))?;
            if let Err(e) = lossless::check_payload(&h, &self.payload, 0) {
                return invalid("payload", e.to_string());
            }
        } else if self.payload.last() == Some(&0) {
            return invalid(
                "payload",
                "ends with a zero byte, which a symbol stream never does".to_string(),
            );
        }
        if let Some(e) = &self.exact {
            if self.kind != ModelKind::WholeImageHyperprior
                || self.alpha.is_some()
                || self.channels < 3
            {
                return invalid(
                    "exact blocks",
                    "only in a whole-image file of a colour source without alpha".to_string(),
                );
            }
            if u32::try_from(e.bitstream.len()).is_err() {
                return invalid("exact blocks", "bitstream over 4 GiB".to_string());
            }
            let h = self.header();
            lossless::check_sides(&h, "exact blocks'", crate::blocks::error)
                .and_then(|()| e.check(self.width, self.height, 0))
                .or_else(|e| invalid("exact blocks", e.to_string()))?;
        }
        if let Some(a) = &self.alpha {
            if self.channels % 2 == 1 {
                return invalid(
                    "alpha plane",
                    format!("a source of {} channel(s) has no alpha", self.channels),
                );
            }
            if u32::try_from(a.stream.len()).is_err() {
                return invalid("alpha plane", "stream over 4 GiB".to_string());
            }
            check_size(a.filter, a.stream.len(), self.width, self.height, 0)
                .or_else(|e| invalid("alpha plane", e.to_string()))?;
        }
        Ok(())
    }

    /// The alpha plane, decompressed (`width × height` bytes, 255 opaque), or `None` for a
    /// file without one.
    pub fn decode_alpha(&self) -> Result<Option<Vec<u8>>, FormatError> {
        let offset = self.alpha_stream_offset();
        self.alpha
            .as_ref()
            .map(|a| a.decode(self.width, self.height, offset))
            .transpose()
    }

    /// Where the alpha stream starts in the file's bytes (past the header, the filter byte
    /// and the length), for [`AlphaPlane::for_each_row`]'s errors.
    pub fn alpha_stream_offset(&self) -> usize {
        self.header().encoded_len() + ALPHA_HEAD_LEN
    }

    /// Exact length of the bytes [`CodedFile::to_bytes`] produces, assuming the file is
    /// valid: header, alpha or exact-blocks section, payload and the 4-byte CRC.
    pub fn encoded_len(&self) -> usize {
        let alpha = self.alpha.as_ref().map_or(0, AlphaPlane::encoded_len);
        let exact = self.exact.as_ref().map_or(0, ExactBlocks::encoded_len);
        self.header().encoded_len() + alpha + exact + self.payload.len() + 4
    }

    /// Copies the exact blocks' pixels, if any, into `rgb`, this file's lossy decode (RGB,
    /// row by row).
    pub fn apply_exact(&self, rgb: &mut [u8]) -> Result<(), FormatError> {
        match &self.exact {
            Some(e) => e.apply(self.width, self.height, rgb, self.header().encoded_len()),
            None => Ok(()),
        }
    }

    /// Serialises the file after [`CodedFile::validate`].
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        self.validate()?;
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION_CODED);
        let kind = self.header().kind_byte();
        out.push(kind);
        out.push(self.channels);
        out.extend_from_slice(&self.model_id);
        put_varint(self.width, &mut out);
        put_varint(self.height, &mut out);
        if kind & !(ALPHA_FLAG | EXACT_FLAG) == KIND_STEP {
            out.extend_from_slice(&self.step.to_le_bytes());
        }
        debug_assert_eq!(out.len(), self.header().encoded_len());
        if let Some(a) = &self.alpha {
            out.push(a.filter.to_byte());
            out.extend_from_slice(&(a.stream.len() as u32).to_le_bytes());
            out.extend_from_slice(&a.stream);
        }
        if let Some(e) = &self.exact {
            e.write(&mut out);
        }
        out.extend_from_slice(&self.payload);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(out.len(), self.encoded_len());
        Ok(out)
    }

    /// Parses a whole version 2 file with the default [`Limits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<CodedFile, FormatError> {
        Self::from_bytes_with_limits(bytes, &Limits::default())
    }

    /// Parses a whole version 2 file. `bytes` must hold exactly one file.
    ///
    /// Checks, in order: input length against `limits.max_file_len`; the header fields in
    /// offset order; width and height against `limits`; that the input holds the header and
    /// a CRC; the CRC; the alpha section's filter, length and stream length against the plane
    /// ([`AlphaPlane::decode`] checks the rest); that the payload does not end with a zero
    /// byte. The symbols are not decoded (that needs the model's tables:
    /// [`crate::decode_symbols`]). Allocates only the copies of the payload and the alpha
    /// stream.
    pub fn from_bytes_with_limits(bytes: &[u8], limits: &Limits) -> Result<CodedFile, FormatError> {
        check_file_len(bytes.len(), limits)?;
        let h = CodedHeader::parse(bytes)?;
        Self::from_checked_header(bytes, h, limits)
    }

    /// The checks after the header fields.
    pub(crate) fn from_checked_header(
        bytes: &[u8],
        h: CodedHeader,
        limits: &Limits,
    ) -> Result<CodedFile, FormatError> {
        h.check(limits)?;
        let start = h.encoded_len();
        if bytes.len() < start + 4 {
            return Err(FormatError::Truncated {
                offset: start.min(bytes.len()),
                needed: start + 4 - bytes.len(),
            });
        }
        let end = bytes.len() - 4;
        let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&bytes[..end]);
        if stored != computed {
            return Err(FormatError::CrcMismatch { stored, computed });
        }
        let (alpha, start) = match h.alpha {
            true => {
                let (a, len) = alpha_section(&bytes[..end], start, &h)?;
                (Some(a), start + len)
            }
            false => (None, start),
        };
        let (exact, start) = match h.exact {
            true => {
                let (e, len) = ExactBlocks::read(&bytes[..end], start, h.width, h.height)?;
                (Some(e), start + len)
            }
            false => (None, start),
        };
        let payload = &bytes[start..end];
        if h.kind == ModelKind::Lossless {
            lossless::check_payload(&h, payload, start)?;
        } else if payload.last() == Some(&0) {
            return Err(FormatError::TrailingZeroByte { offset: end - 1 });
        }
        Ok(CodedFile {
            kind: h.kind,
            channels: h.channels,
            model_id: h.model_id,
            width: h.width,
            height: h.height,
            step: h.step,
            alpha,
            exact,
            payload: payload.to_vec(),
        })
    }
}

/// Reads the alpha section at `start` of `bytes` (the file without its CRC): the plane and
/// the section's length.
fn alpha_section(
    bytes: &[u8],
    start: usize,
    h: &CodedHeader,
) -> Result<(AlphaPlane, usize), FormatError> {
    let truncated = |offset: usize, needed: usize| FormatError::Truncated {
        offset,
        needed: needed - (bytes.len() - offset),
    };
    if bytes.len() < start + ALPHA_HEAD_LEN {
        return Err(truncated(start, ALPHA_HEAD_LEN));
    }
    let filter = AlphaFilter::from_byte(bytes[start]).ok_or(FormatError::BadAlphaFilter {
        filter: bytes[start],
        offset: start,
    })?;
    let len = u32::from_le_bytes(bytes[start + 1..start + 5].try_into().expect("4 bytes"));
    let from = start + ALPHA_HEAD_LEN;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if bytes.len() - from < len {
        return Err(truncated(from, len));
    }
    if len == 0 {
        return Err(FormatError::AlphaStream {
            offset: from,
            reason: "empty".into(),
        });
    }
    check_size(filter, len, h.width, h.height, from)?;
    let stream = bytes[from..from + len].to_vec();
    Ok((AlphaPlane { filter, stream }, ALPHA_HEAD_LEN + len))
}

pub(crate) fn check_file_len(len: usize, limits: &Limits) -> Result<(), FormatError> {
    limit("file length", len as u64, limits.max_file_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(bytes: &[u8]) -> Result<u32, FormatError> {
        let mut c = Cursor {
            buf: bytes,
            pos: 0,
            end: bytes.len(),
        };
        let v = read_varint(&mut c, "width")?;
        assert_eq!(c.pos, varint_len(v));
        Ok(v)
    }

    #[test]
    fn varints_round_trip_and_only_minimal_ones_are_read() {
        for v in (1..=65535u32)
            .step_by(7)
            .chain([127, 128, 16383, 16384, 65535])
        {
            let mut b = Vec::new();
            put_varint(v, &mut b);
            assert_eq!(b.len(), varint_len(v));
            assert_eq!(varint(&b).unwrap(), v);
            // The same value with a zero group appended is non-minimal (or too long).
            if b.len() < 3 {
                let last = b.len() - 1;
                b[last] |= 0x80;
                b.push(0);
                assert!(matches!(
                    varint(&b),
                    Err(FormatError::NonMinimalVarint { offset: 0, .. })
                ));
            }
        }
        assert!(matches!(varint(&[0]), Err(FormatError::ZeroField { .. })));
        assert!(matches!(
            varint(&[0x80, 0]),
            Err(FormatError::NonMinimalVarint { .. })
        ));
        assert!(matches!(
            varint(&[0x80, 0x80, 0x04]),
            Err(FormatError::VarintOverflow { .. })
        ));
        assert!(matches!(
            varint(&[0xff, 0xff, 0x83, 0x00]),
            Err(FormatError::VarintOverflow { .. })
        ));
        assert!(matches!(
            varint(&[0xff, 0xff]),
            Err(FormatError::Truncated {
                offset: 0,
                needed: 1
            })
        ));
        assert_eq!(varint(&[0xff, 0xff, 0x03]).unwrap(), 65535);
    }
}
