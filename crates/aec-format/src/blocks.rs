//! Exact blocks (kind bit 6, SPEC.md §13.7): a whole-image file whose flat-coloured parts (a
//! screenshot's text and panels around a photo) are stored exactly beside the lossy code of
//! the rest. The image is cut into blocks of [`EXACT_BLOCK`] pixels; a map says which blocks
//! take their pixels from a WebP lossless (VP8L) bitstream of the whole image; the others are
//! the lossy decode's.

use crate::lossless::{decode_vp8l, Vp8lHeader};
use crate::FormatError;

/// Bit 6 of a version 2 file's kind byte: an exact-blocks section follows the header.
pub const EXACT_FLAG: u8 = 0x40;
/// Side of an exact block, in pixels (the last column and row of blocks may be narrower).
pub const EXACT_BLOCK: u32 = 16;
/// Bytes of the section besides its map and bitstream: the bitstream's length.
const LEN_BYTES: usize = 4;

/// The exact blocks of a file: which blocks, and their pixels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExactBlocks {
    /// One bit a block, rows of blocks top to bottom, each left to right, the least
    /// significant bit of each byte first; set where the block is exact. Its length is
    /// [`ExactBlocks::map_len`]; the bits past the last block are zero; at least one bit is
    /// set and one clear.
    pub map: Vec<u8>,
    /// A VP8L bitstream (RFC 9649 §3) of the image's size, without alpha: the exact blocks'
    /// pixels. Its pixels elsewhere are not used.
    pub bitstream: Vec<u8>,
}

pub(crate) fn error(offset: usize, reason: String) -> FormatError {
    FormatError::ExactBlocks { offset, reason }
}

impl ExactBlocks {
    /// Columns and rows of blocks of a `width × height` image.
    pub fn grid(width: u32, height: u32) -> (u32, u32) {
        (width.div_ceil(EXACT_BLOCK), height.div_ceil(EXACT_BLOCK))
    }

    /// Length of the map of a `width × height` image: one bit a block, rounded up to bytes.
    pub fn map_len(width: u32, height: u32) -> usize {
        let (bx, by) = Self::grid(width, height);
        (u64::from(bx) * u64::from(by)).div_ceil(8) as usize
    }

    /// Builds the section from one flag per block (row by row, [`ExactBlocks::grid`]'s count)
    /// and a bitstream.
    pub fn from_flags(flags: &[bool], bitstream: Vec<u8>) -> ExactBlocks {
        let mut map = vec![0u8; flags.len().div_ceil(8)];
        for (i, _) in flags.iter().enumerate().filter(|(_, &f)| f) {
            map[i / 8] |= 1 << (i % 8);
        }
        ExactBlocks { map, bitstream }
    }

    /// Whether block `index` (row by row) is exact.
    pub fn is_exact(&self, index: usize) -> bool {
        self.map
            .get(index / 8)
            .is_some_and(|b| b >> (index % 8) & 1 == 1)
    }

    /// Number of exact blocks.
    pub fn exact_count(&self) -> u64 {
        self.map.iter().map(|b| u64::from(b.count_ones())).sum()
    }

    /// Length of the section in a file: the map, the bitstream's length and the bitstream.
    pub fn encoded_len(&self) -> usize {
        self.map.len() + LEN_BYTES + self.bitstream.len()
    }

    /// Appends the section to `out`.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.map);
        out.extend_from_slice(&(self.bitstream.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.bitstream);
    }

    /// Checks the map and the bitstream's header against a `width × height` image; `offset`
    /// is the section's place in the file, for errors.
    pub(crate) fn check(&self, width: u32, height: u32, offset: usize) -> Result<(), FormatError> {
        check_map(&self.map, width, height, offset)?;
        check_bitstream(
            &self.bitstream,
            width,
            height,
            offset + self.map.len() + LEN_BYTES,
        )
    }

    /// Reads the section at `start` of `bytes` (the file without its CRC) for a `width ×
    /// height` image: the section and its length.
    pub(crate) fn read(
        bytes: &[u8],
        start: usize,
        width: u32,
        height: u32,
    ) -> Result<(ExactBlocks, usize), FormatError> {
        let truncated = |offset: usize, needed: usize| FormatError::Truncated {
            offset,
            needed: needed - (bytes.len() - offset),
        };
        let map_len = Self::map_len(width, height);
        if bytes.len() - start < map_len + LEN_BYTES {
            return Err(truncated(start, map_len + LEN_BYTES));
        }
        let map = &bytes[start..start + map_len];
        check_map(map, width, height, start)?;
        let at = start + map_len;
        let len = u32::from_le_bytes(bytes[at..at + LEN_BYTES].try_into().expect("4 bytes"));
        let from = at + LEN_BYTES;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if bytes.len() - from < len {
            return Err(truncated(from, len));
        }
        let bitstream = &bytes[from..from + len];
        check_bitstream(bitstream, width, height, from)?;
        let section = ExactBlocks {
            map: map.to_vec(),
            bitstream: bitstream.to_vec(),
        };
        Ok((section, map_len + LEN_BYTES + len))
    }

    /// Where the bitstream starts, given the section's place in the file.
    pub fn bitstream_offset(&self, section: usize) -> usize {
        section + self.map.len() + LEN_BYTES
    }

    /// Decodes the bitstream and copies the exact blocks' pixels into `rgb`, the lossy decode
    /// of a `width × height` image (RGB, row by row); `offset` is the section's place in the
    /// file, for errors. Allocates the bitstream's image (3 bytes a pixel, and 4 while
    /// decoding) after its header has been checked.
    pub fn apply(
        &self,
        width: u32,
        height: u32,
        rgb: &mut [u8],
        offset: usize,
    ) -> Result<(), FormatError> {
        let pixels = u64::from(width) * u64::from(height);
        if rgb.len() as u64 != pixels * 3 {
            return Err(FormatError::Invalid {
                field: "image",
                reason: format!("{} bytes for {width}×{height} RGB pixels", rgb.len()),
            });
        }
        self.check(width, height, offset)?;
        let at = self.bitstream_offset(offset);
        let exact = decode_vp8l(&self.bitstream, at)?;
        if exact.len() != rgb.len() {
            return Err(FormatError::Lossless {
                offset: at,
                reason: format!(
                    "{} bytes decoded for {width}×{height} RGB pixels",
                    exact.len()
                ),
            });
        }
        let (bx, _) = Self::grid(width, height);
        let (w, b) = (width as usize, EXACT_BLOCK as usize);
        for y in 0..height as usize {
            let row = y / b * bx as usize;
            for x0 in (0..w).step_by(b) {
                if self.is_exact(row + x0 / b) {
                    let span = (y * w + x0) * 3..(y * w + (x0 + b).min(w)) * 3;
                    rgb[span.clone()].copy_from_slice(&exact[span]);
                }
            }
        }
        Ok(())
    }
}

/// The map's canonical form: the bits past the last block zero, some block exact and some not.
fn check_map(map: &[u8], width: u32, height: u32, offset: usize) -> Result<(), FormatError> {
    let (bx, by) = ExactBlocks::grid(width, height);
    let blocks = u64::from(bx) * u64::from(by);
    if map.len() != ExactBlocks::map_len(width, height) {
        return Err(error(
            offset,
            format!("a map of {} bytes for {blocks} blocks", map.len()),
        ));
    }
    let rest = blocks % 8;
    if rest != 0 && map[map.len() - 1] >> rest != 0 {
        return Err(error(
            offset + map.len() - 1,
            format!("bits past the last of {blocks} blocks are set"),
        ));
    }
    let set: u64 = map.iter().map(|b| u64::from(b.count_ones())).sum();
    if set == 0 || set == blocks {
        let what = if set == 0 { "no block" } else { "every block" };
        return Err(error(
            offset,
            format!("{what} of {blocks} is exact: such an image is written without the section"),
        ));
    }
    Ok(())
}

/// The bitstream's header: the image's sides, no alpha.
fn check_bitstream(
    bitstream: &[u8],
    width: u32,
    height: u32,
    offset: usize,
) -> Result<(), FormatError> {
    let v = Vp8lHeader::parse(bitstream, offset)?;
    if (v.width, v.height) != (width, height) {
        return Err(error(
            offset + 1,
            format!(
                "the bitstream is {}×{} pixels, the image {width}×{height}",
                v.width, v.height
            ),
        ));
    }
    if v.alpha {
        return Err(error(offset + 4, "the bitstream has alpha".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_canonical() {
        // 40 × 20 pixels: 3 × 2 blocks, one byte of which 6 bits count.
        assert_eq!(ExactBlocks::grid(40, 20), (3, 2));
        assert_eq!(ExactBlocks::map_len(40, 20), 1);
        assert!(check_map(&[0b00_0101], 40, 20, 9).is_ok());
        let at = |r: Result<(), FormatError>| match r {
            Err(FormatError::ExactBlocks { offset, .. }) => offset,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(check_map(&[0b100_0101], 40, 20, 9)), 9);
        assert_eq!(at(check_map(&[0], 40, 20, 9)), 9);
        assert_eq!(at(check_map(&[0b11_1111], 40, 20, 9)), 9);
        assert_eq!(at(check_map(&[1, 0], 40, 20, 9)), 9);
        // 8 blocks fill their byte: no bits past them.
        assert!(check_map(&[0x7f], 128, 16, 0).is_ok());
        assert!(check_map(&[0xff], 128, 16, 0).is_err());
    }

    #[test]
    fn flags_round_trip_through_the_map() {
        let flags: Vec<bool> = (0..21).map(|i| i % 3 == 0 || i == 20).collect();
        let s = ExactBlocks::from_flags(&flags, vec![]);
        assert_eq!(s.map.len(), 3);
        for (i, &f) in flags.iter().enumerate() {
            assert_eq!(s.is_exact(i), f, "block {i}");
        }
        assert!(!s.is_exact(21) && !s.is_exact(99));
        assert_eq!(s.exact_count(), flags.iter().filter(|&&f| f).count() as u64);
    }
}
