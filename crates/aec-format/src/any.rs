//! Either version: [`AnyHeader`] and [`AnyFile`] read the version byte and dispatch.

use crate::coded::check_file_len;
use crate::header::magic_and_version;
use crate::{
    AecFile, CodedFile, CodedHeader, FileHeader, FormatError, Limits, VERSION, VERSION_CODED,
};

/// Reads the magic and the version byte.
fn version(bytes: &[u8]) -> Result<u8, FormatError> {
    magic_and_version(bytes, &[VERSION, VERSION_CODED], "versions 1 and 2").map(|(_, v)| v)
}

/// The header of a file of either version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyHeader {
    /// A version 1 file: code values per tile.
    V1(FileHeader),
    /// A version 2 file: an entropy-coded symbol stream.
    V2(CodedHeader),
}

impl AnyHeader {
    /// Reads and range-checks the header at the start of `bytes` (32 bytes for version 1, 17
    /// to 21 for version 2; at most [`crate::HEADER_LEN`] bytes are looked at), without looking
    /// at anything after it. Errors are those of [`FileHeader::parse`] and
    /// [`CodedHeader::parse`], and an unknown version.
    pub fn parse(bytes: &[u8]) -> Result<AnyHeader, FormatError> {
        match version(bytes)? {
            VERSION => FileHeader::parse(bytes).map(AnyHeader::V1),
            _ => CodedHeader::parse(bytes).map(AnyHeader::V2),
        }
    }

    /// The format version, 1 or 2.
    pub fn version(&self) -> u8 {
        match self {
            AnyHeader::V1(_) => VERSION,
            AnyHeader::V2(_) => VERSION_CODED,
        }
    }

    /// Image width in pixels.
    pub fn width(&self) -> u32 {
        match self {
            AnyHeader::V1(h) => h.width,
            AnyHeader::V2(h) => h.width,
        }
    }

    /// Image height in pixels.
    pub fn height(&self) -> u32 {
        match self {
            AnyHeader::V1(h) => h.height,
            AnyHeader::V2(h) => h.height,
        }
    }

    /// Channels of the original image, 1 to 4.
    pub fn channels(&self) -> u8 {
        match self {
            AnyHeader::V1(h) => h.channels,
            AnyHeader::V2(h) => h.channels,
        }
    }

    /// Whether the file carries an alpha plane (version 2 only).
    pub fn has_alpha(&self) -> bool {
        matches!(self, AnyHeader::V2(h) if h.alpha)
    }

    /// The model id: 16 bytes in version 1, 8 in version 2 (both a prefix of the model
    /// file's SHA-256).
    pub fn model_id(&self) -> &[u8] {
        match self {
            AnyHeader::V1(h) => &h.model_id,
            AnyHeader::V2(h) => &h.model_id,
        }
    }

    /// Length of the header in bytes.
    pub fn encoded_len(&self) -> usize {
        match self {
            AnyHeader::V1(_) => crate::HEADER_LEN,
            AnyHeader::V2(h) => h.encoded_len(),
        }
    }

    /// Checks the header's declared sizes against `limits` (for version 2 only width and
    /// height: the symbol count needs the model, see [`CodedHeader::symbol_count`]).
    pub fn check(&self, limits: &Limits) -> Result<(), FormatError> {
        match self {
            AnyHeader::V1(h) => h.check(limits),
            AnyHeader::V2(h) => h.check(limits),
        }
    }
}

/// A whole file of either version.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyFile {
    /// A version 1 file.
    V1(AecFile),
    /// A version 2 file.
    V2(CodedFile),
}

impl AnyFile {
    /// Parses a whole file of either version with the default [`Limits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<AnyFile, FormatError> {
        Self::from_bytes_with_limits(bytes, &Limits::default())
    }

    /// Parses a whole file of either version: [`AecFile::from_bytes_with_limits`] or
    /// [`CodedFile::from_bytes_with_limits`] by the version byte, with the same checks in the
    /// same order (the input length limit first, then magic and version).
    pub fn from_bytes_with_limits(bytes: &[u8], limits: &Limits) -> Result<AnyFile, FormatError> {
        check_file_len(bytes.len(), limits)?;
        match version(bytes)? {
            VERSION => AecFile::from_bytes_with_limits(bytes, limits).map(AnyFile::V1),
            _ => CodedFile::from_bytes_with_limits(bytes, limits).map(AnyFile::V2),
        }
    }

    /// Serialises the file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        match self {
            AnyFile::V1(f) => f.to_bytes(),
            AnyFile::V2(f) => f.to_bytes(),
        }
    }

    /// Exact length of the bytes [`AnyFile::to_bytes`] produces, assuming the file is valid.
    pub fn encoded_len(&self) -> usize {
        match self {
            AnyFile::V1(f) => f.encoded_len(),
            AnyFile::V2(f) => f.encoded_len(),
        }
    }

    /// The format version, 1 or 2.
    pub fn version(&self) -> u8 {
        match self {
            AnyFile::V1(_) => VERSION,
            AnyFile::V2(_) => VERSION_CODED,
        }
    }

    /// The file's header.
    pub fn header(&self) -> AnyHeader {
        match self {
            AnyFile::V1(f) => AnyHeader::V1(FileHeader {
                layout: f.layout,
                precision: f.codes.precision(),
                channels: f.channels,
                model_id: f.model_id,
                width: f.width,
                height: f.height,
                tile_size: f.tile_size,
                code_length: f.code_length,
            }),
            AnyFile::V2(f) => AnyHeader::V2(f.header()),
        }
    }
}
