//! The [`AecFile`] type: reading, validating and writing whole files.

use std::io::{Read, Write};

use byteorder::{ByteOrder, LittleEndian};
use half::f16;

use crate::codes::{first_non_finite, Value};
use crate::header::{in_range, Cursor, FLAG_SPARSE};
use crate::{
    Codes, FileHeader, FormatError, Layout, Limits, Precision, HEADER_LEN, MAGIC, OVERHEAD, VERSION,
};

/// One compressed image: the model that made it, the image geometry and the
/// code of every tile.
#[derive(Debug, Clone, PartialEq)]
pub struct AecFile {
    /// First 16 bytes of the SHA-256 of the model file that produced the code.
    pub model_id: [u8; 16],
    /// Image width in pixels, 1 to 65535.
    pub width: u32,
    /// Image height in pixels, 1 to 65535.
    pub height: u32,
    /// Channels of the original image: 1 (grey), 2 (grey + alpha), 3 (RGB)
    /// or 4 (RGBA). Informational; the decoded image is RGB.
    pub channels: u8,
    /// Side of the square tiles, in pixels, 1 to 255.
    pub tile_size: u32,
    /// Values per tile, 1 to 65535.
    pub code_length: u32,
    /// How the payload is laid out.
    pub layout: Layout,
    /// All tiles' values, tile-major, tiles in raster order;
    /// `codes.len() == tile_count() * code_length`.
    pub codes: Codes,
}

/// Bytes per sparse index: 1 when every index fits in a `u8`, else 2.
fn index_size(code_length: usize) -> usize {
    if code_length <= 256 {
        1
    } else {
        2
    }
}

/// Whether a sparse tile with `k` stored values uses an index list (`true`)
/// or a bitmap (`false`): the index list only when strictly smaller.
fn uses_index_list(k: usize, code_length: usize) -> bool {
    k * index_size(code_length) < code_length.div_ceil(8)
}

/// Length of a sparse tile's position record (index list or bitmap).
fn selector_len(k: usize, code_length: usize) -> usize {
    if uses_index_list(k, code_length) {
        k * index_size(code_length)
    } else {
        code_length.div_ceil(8)
    }
}

fn check_file_len(len: usize, limits: &Limits) -> Result<(), FormatError> {
    if len as u64 > limits.max_file_len {
        return Err(FormatError::LimitExceeded {
            what: "file length",
            value: len as u64,
            limit: limits.max_file_len,
        });
    }
    Ok(())
}

fn decode_dense<V: Value>(
    payload: &[u8],
    base: usize,
    code_length: usize,
) -> Result<Vec<V>, FormatError> {
    // Convert first, check after: both passes vectorise, a fused one with an early exit does not.
    let out: Vec<V> = payload.chunks_exact(V::BYTES).map(V::read_le).collect();
    if let Some(i) = first_non_finite(&out) {
        return Err(FormatError::NonFinite {
            offset: base + i * V::BYTES,
            tile: i / code_length,
            index: i % code_length,
        });
    }
    Ok(out)
}

/// Where a sparse decoder puts each tile's values.
pub(crate) trait TileSink<V> {
    /// Tile `tile`'s destination, `code_length` values, all zero.
    fn tile(&mut self, tile: usize) -> &mut [V];
    /// Called once tile `tile`'s values are in place.
    fn done(&mut self, _tile: usize) {}
}

/// Every tile's values, in one vector.
pub(crate) struct AllTiles<V> {
    pub(crate) values: Vec<V>,
    pub(crate) code_length: usize,
}

impl<V> TileSink<V> for AllTiles<V> {
    fn tile(&mut self, tile: usize) -> &mut [V] {
        let l = self.code_length;
        &mut self.values[tile * l..(tile + 1) * l]
    }
}

/// Decodes a sparse payload whose structure (tile lengths) has already been
/// checked against the input length, enforcing the canonical-form rules.
pub(crate) fn decode_sparse<V: Value>(
    bytes: &[u8],
    end: usize,
    tiles: usize,
    code_length: usize,
    sink: &mut impl TileSink<V>,
) -> Result<(), FormatError> {
    #[cfg(target_arch = "x86_64")]
    if code_length.is_multiple_of(8) {
        if let Some(s) = crate::shuffle::Shuffler::new() {
            // The stored values, copied behind 16 bytes of slack for the shuffles' loads.
            let mut raw = vec![0u8; code_length * V::BYTES + 16];
            let spread = |bitmap: &[u8], values: &[u8], dst: &mut [V]| {
                raw[..values.len()].copy_from_slice(values);
                let mut at = 0;
                let groups = V::as_bytes_mut(dst).chunks_exact_mut(8 * V::BYTES);
                for (&bits, group) in bitmap.iter().zip(groups) {
                    s.expand_group(V::BYTES, bits, &raw, &mut at, group);
                }
            };
            return s.run(|| decode_sparse_with(bytes, end, tiles, code_length, sink, spread));
        }
    }
    decode_sparse_with(bytes, end, tiles, code_length, sink, spread_portable::<V>)
}

/// Places the checked values of a bitmap tile at its set bits, in order.
fn spread_portable<V: Value>(bitmap: &[u8], values: &[u8], dst: &mut [V]) {
    let mut next = values.chunks_exact(V::BYTES).map(V::read_le);
    for (byte_i, &b) in bitmap.iter().enumerate() {
        let mut bits = b;
        while bits != 0 {
            let index = 8 * byte_i + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // The bit count equals the number of values (checked), so one is always there.
            let Some(v) = next.next() else { break };
            dst[index] = v;
        }
    }
}

/// [`decode_sparse`] with `spread` placing the values of bitmap tiles, once checked.
#[inline(always)]
fn decode_sparse_with<V: Value>(
    bytes: &[u8],
    end: usize,
    tiles: usize,
    code_length: usize,
    sink: &mut impl TileSink<V>,
    mut spread: impl FnMut(&[u8], &[u8], &mut [V]),
) -> Result<(), FormatError> {
    let mut positions: Vec<usize> = Vec::with_capacity(code_length);
    let mut c = Cursor {
        buf: bytes,
        pos: HEADER_LEN,
        end,
    };
    for tile in 0..tiles {
        let dst = sink.tile(tile);
        let k_offset = c.pos;
        let k = usize::from(c.u16()?);
        if k > code_length {
            return Err(FormatError::TooManyValues {
                offset: k_offset,
                tile,
                k,
                code_length,
            });
        }
        if uses_index_list(k, code_length) {
            read_index_tile(&mut c, tile, k, dst, &mut positions)?;
        } else {
            let (bitmap, values) = read_bitmap_tile::<V>(&mut c, tile, k, code_length)?;
            spread(bitmap, values, dst);
        }
        sink.done(tile);
    }
    Ok(())
}

/// Reads an index-list tile of `k` values into `dst` (its code), checking the indices and values.
#[inline(always)]
fn read_index_tile<V: Value>(
    c: &mut Cursor<'_>,
    tile: usize,
    k: usize,
    dst: &mut [V],
    positions: &mut Vec<usize>,
) -> Result<(), FormatError> {
    let code_length = dst.len();
    let isz = index_size(code_length);
    positions.clear();
    let list_offset = c.pos;
    let list = c.take(k * isz)?;
    for j in 0..k {
        let offset = list_offset + j * isz;
        let index = if isz == 1 {
            usize::from(list[j])
        } else {
            usize::from(LittleEndian::read_u16(&list[2 * j..]))
        };
        if index >= code_length {
            return Err(FormatError::IndexOutOfRange {
                offset,
                tile,
                index,
                code_length,
            });
        }
        if let Some(&previous) = positions.last() {
            if index <= previous {
                return Err(FormatError::UnsortedIndices {
                    offset,
                    tile,
                    index,
                    previous,
                });
            }
        }
        positions.push(index);
    }
    let values_offset = c.pos;
    let values = c.take(k * V::BYTES)?;
    for (j, (&index, raw)) in positions
        .iter()
        .zip(values.chunks_exact(V::BYTES))
        .enumerate()
    {
        place(dst, index, raw, values_offset + j * V::BYTES, tile)?;
    }
    Ok(())
}

/// Reads a bitmap tile of `k` values and checks it; returns its bitmap and its stored values'
/// bytes, for the caller to spread.
#[inline(always)]
fn read_bitmap_tile<'a, V: Value>(
    c: &mut Cursor<'a>,
    tile: usize,
    k: usize,
    code_length: usize,
) -> Result<(&'a [u8], &'a [u8]), FormatError> {
    let bitmap_len = code_length.div_ceil(8);
    let bitmap_offset = c.pos;
    let bitmap = c.take(bitmap_len)?;
    let used_bits = code_length - 8 * (bitmap_len - 1);
    let last = bitmap[bitmap_len - 1];
    if used_bits < 8 && last >> used_bits != 0 {
        return Err(FormatError::BitmapPadding {
            offset: bitmap_offset + bitmap_len - 1,
            tile,
        });
    }
    let found: usize = bitmap.iter().map(|b| b.count_ones() as usize).sum();
    if found != k {
        return Err(FormatError::BitmapCount {
            offset: bitmap_offset,
            tile,
            k,
            found,
        });
    }
    let values_offset = c.pos;
    let values = c.take(k * V::BYTES)?;
    // Check the tile's values in bulk (it vectorises); a bad value is then located, with its
    // offset, by the value-by-value walk.
    let bad = values
        .chunks_exact(V::BYTES)
        .map(V::read_le)
        .fold(false, |bad, v| bad | !v.is_finite() | v.is_zero());
    if bad {
        return Err(bitmap_tile_error::<V>(bitmap, values, values_offset, tile));
    }
    Ok((bitmap, values))
}

/// The error of a bitmap tile that holds a zero or non-finite value: the first such value in
/// file order, found by placing the values one by one.
#[cold]
fn bitmap_tile_error<V: Value>(
    bitmap: &[u8],
    values: &[u8],
    values_offset: usize,
    tile: usize,
) -> FormatError {
    let mut scratch = vec![V::ZERO; 8 * bitmap.len()];
    let mut stored = values.chunks_exact(V::BYTES).enumerate();
    for (byte_i, &b) in bitmap.iter().enumerate() {
        let mut bits = b;
        while bits != 0 {
            let index = 8 * byte_i + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some((j, raw)) = stored.next() else {
                break;
            };
            if let Err(e) = place(&mut scratch, index, raw, values_offset + j * V::BYTES, tile) {
                return e;
            }
        }
    }
    unreachable!("called for a tile with a bad value")
}

/// For each byte `m`: the positions of its set bits in increasing order, then zeros.
const SET_BITS: [[u8; 8]; 256] = {
    let mut table = [[0u8; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let (mut i, mut j) = (0, 0);
        while i < 8 {
            if (m >> i) & 1 == 1 {
                table[m][j] = i as u8;
                j += 1;
            }
            i += 1;
        }
        m += 1;
    }
    table
};

/// Stores one sparse value (its bytes `raw`, at byte `offset` of the file) at `index` of its
/// tile, after checking that it is finite and not zero.
#[inline]
fn place<V: Value>(
    dst: &mut [V],
    index: usize,
    raw: &[u8],
    offset: usize,
    tile: usize,
) -> Result<(), FormatError> {
    let v = V::read_le(raw);
    if !v.is_finite() || v.is_zero() {
        return Err(bad_stored_value(v, offset, tile, index));
    }
    dst[index] = v;
    Ok(())
}

/// The error for a stored value that is not finite or is zero.
#[cold]
fn bad_stored_value<V: Value>(v: V, offset: usize, tile: usize, index: usize) -> FormatError {
    if v.is_finite() {
        FormatError::StoredZero {
            offset,
            tile,
            index,
        }
    } else {
        FormatError::NonFinite {
            offset,
            tile,
            index,
        }
    }
}

/// Walks the sparse tile records without looking at their contents and
/// returns where the payload ends. Allocates nothing.
fn scan_sparse(bytes: &[u8], end: usize, h: &FileHeader) -> Result<usize, FormatError> {
    let code_length = h.code_length as usize;
    let bpv = h.precision.bytes_per_value();
    let mut c = Cursor {
        buf: bytes,
        pos: HEADER_LEN,
        end,
    };
    for tile in 0..h.tiles() as usize {
        let offset = c.pos;
        let k = usize::from(c.u16()?);
        if k > code_length {
            return Err(FormatError::TooManyValues {
                offset,
                tile,
                k,
                code_length,
            });
        }
        c.take(selector_len(k, code_length) + k * bpv)?;
    }
    Ok(c.pos)
}

fn write_dense<V: Value>(values: &[V], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + values.len() * V::BYTES, 0);
    for (dst, &v) in out[start..].chunks_exact_mut(V::BYTES).zip(values) {
        v.put_le(dst);
    }
}

fn write_sparse<V: Value>(values: &[V], code_length: usize, out: &mut Vec<u8>) {
    #[cfg(target_arch = "x86_64")]
    if code_length.is_multiple_of(8) {
        if let Some(s) = crate::shuffle::Shuffler::new() {
            return s.run(|| write_sparse_shuffled(s, values, code_length, out));
        }
    }
    write_sparse_portable(values, code_length, out);
}

/// [`write_sparse`] on any CPU and code length.
fn write_sparse_portable<V: Value>(values: &[V], code_length: usize, out: &mut Vec<u8>) {
    let isz = index_size(code_length);
    let bitmap_len = code_length.div_ceil(8);
    // Per group of eight values: their bitmap byte, then the stored ones left-packed by a
    // table of set-bit positions, eight copies whatever their number, so the next free slot
    // moves once per group and nothing branches on the (unpredictable) zeros.
    let mut packed = vec![V::ZERO; code_length + 8];
    let mut bitmap = vec![0u8; bitmap_len];
    for tile in values.chunks_exact(code_length) {
        let mut k = 0;
        let (groups, rest) = tile.as_chunks::<8>();
        for (group, slot) in groups.iter().zip(bitmap.iter_mut()) {
            let byte = V::nonzero_mask(group);
            *slot = byte;
            let order = &SET_BITS[usize::from(byte)];
            let dst: &mut [V; 8] = (&mut packed[k..k + 8]).try_into().expect("8 slots");
            for (d, &i) in dst.iter_mut().zip(order) {
                *d = group[usize::from(i & 7)];
            }
            k += byte.count_ones() as usize;
        }
        if !rest.is_empty() {
            // A short last group (code lengths that are not multiples of 8).
            let mut byte = 0u8;
            for (bit, v) in rest.iter().enumerate() {
                if !v.is_zero() {
                    byte |= 1 << bit;
                    packed[k] = *v;
                    k += 1;
                }
            }
            bitmap[groups.len()] = byte;
        }
        write_selector(k, &bitmap, code_length, isz, out);
        write_dense(&packed[..k], out);
    }
}

/// A tile's count `k` and its selector: the bitmap, or for few values (under one per 8) the
/// indices read off it.
#[inline(always)]
fn write_selector(k: usize, bitmap: &[u8], code_length: usize, isz: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&(k as u16).to_le_bytes());
    if uses_index_list(k, code_length) {
        for (byte_i, &b) in bitmap.iter().enumerate() {
            let mut bits = b;
            while bits != 0 {
                let i = 8 * byte_i + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if isz == 1 {
                    out.push(i as u8);
                } else {
                    out.extend_from_slice(&(i as u16).to_le_bytes());
                }
            }
        }
    } else {
        out.extend_from_slice(bitmap);
    }
}

/// [`write_sparse`] with byte shuffles, for code lengths that are multiples of 8: the same
/// bytes, group by group, straight from the values' memory (the file is little-endian, as
/// x86-64 is).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn write_sparse_shuffled<V: Value>(
    s: crate::shuffle::Shuffler,
    values: &[V],
    code_length: usize,
    out: &mut Vec<u8>,
) {
    let isz = index_size(code_length);
    let width = V::BYTES;
    let mut packed = vec![0u8; code_length * width + 16];
    let mut bitmap = vec![0u8; code_length / 8];
    for tile in V::as_bytes(values).chunks_exact(code_length * width) {
        let mut at = 0;
        for (group, slot) in tile.chunks_exact(8 * width).zip(bitmap.iter_mut()) {
            *slot = s.pack_group(width, group, &mut packed, &mut at);
        }
        write_selector(at / width, &bitmap, code_length, isz, out);
        out.extend_from_slice(&packed[..at]);
    }
}

/// An upper bound of a sparse payload's length (every tile full, with a bitmap), to reserve
/// the output once without a counting pass.
fn sparse_capacity(values: usize, code_length: usize, bytes_per_value: usize) -> usize {
    let tiles = values / code_length.max(1);
    tiles * (2 + code_length.div_ceil(8)) + values * bytes_per_value
}

fn sparse_len<V: Value>(values: &[V], code_length: usize) -> usize {
    values
        .chunks_exact(code_length)
        .map(|tile| {
            let k = tile.iter().filter(|v| !v.is_zero()).count();
            2 + selector_len(k, code_length) + k * V::BYTES
        })
        .sum()
}

/// The checks of [`AecFile::from_bytes_with_limits`] up to the CRC: input length against
/// `limits`, the header, the declared sizes against `limits`, the input length against the
/// declared sizes (exact for dense, a walk over the tile records for sparse), and the CRC.
/// Returns the header and where the CRC starts. Allocates nothing.
pub(crate) fn check_structure(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(FileHeader, usize), FormatError> {
    check_file_len(bytes.len(), limits)?;
    let h = FileHeader::parse(bytes)?;
    h.check(limits)?;
    let len = bytes.len() as u64;
    // Smallest length the header allows: dense is exact, sparse needs at least the 2-byte
    // count of every tile.
    let min_len = match h.layout {
        Layout::Dense => h.max_file_len(),
        Layout::Sparse => OVERHEAD as u64 + 2 * h.tiles(),
    };
    if len < min_len {
        return Err(FormatError::Truncated {
            offset: HEADER_LEN.min(bytes.len()),
            needed: (min_len - len) as usize,
        });
    }
    let end = bytes.len() - 4;
    let payload_end = match h.layout {
        Layout::Dense => (h.max_file_len() - 4) as usize,
        Layout::Sparse => scan_sparse(bytes, end, &h)?,
    };
    if payload_end < end {
        return Err(FormatError::TrailingBytes {
            offset: payload_end,
            count: end - payload_end,
        });
    }
    let stored = LittleEndian::read_u32(&bytes[end..]);
    let computed = crc32fast::hash(&bytes[..end]);
    if stored != computed {
        return Err(FormatError::CrcMismatch { stored, computed });
    }
    Ok((h, end))
}

/// Every tile of a checked sparse payload, in one vector.
fn decode_all_sparse<V: Value>(
    bytes: &[u8],
    end: usize,
    tiles: usize,
    code_length: usize,
) -> Result<Vec<V>, FormatError> {
    let mut sink = AllTiles {
        values: vec![V::ZERO; tiles * code_length],
        code_length,
    };
    decode_sparse(bytes, end, tiles, code_length, &mut sink)?;
    Ok(sink.values)
}

impl AecFile {
    /// Number of tile columns: `ceil(width / tile_size)`.
    pub fn tiles_x(&self) -> u32 {
        self.width.div_ceil(self.tile_size.max(1))
    }

    /// Number of tile rows: `ceil(height / tile_size)`.
    pub fn tiles_y(&self) -> u32 {
        self.height.div_ceil(self.tile_size.max(1))
    }

    /// Number of tiles: `tiles_x() * tiles_y()`.
    pub fn tile_count(&self) -> usize {
        self.tiles_x() as usize * self.tiles_y() as usize
    }

    /// Checks that the file can be written: every header field in range,
    /// `codes.len() == tile_count() * code_length`, and every value finite.
    pub fn validate(&self) -> Result<(), FormatError> {
        let invalid =
            |field: &'static str, reason: String| Err(FormatError::Invalid { field, reason });
        in_range("width", self.width, 1, 65535)?;
        in_range("height", self.height, 1, 65535)?;
        in_range("tile size", self.tile_size, 1, 255)?;
        in_range("code length", self.code_length, 1, 65535)?;
        in_range("channels", u32::from(self.channels), 1, 4)?;
        let expected = (self.tile_count() as u64).checked_mul(u64::from(self.code_length));
        if expected != Some(self.codes.len() as u64) {
            return invalid(
                "codes",
                format!(
                    "{} values, but {} tiles of {} values need {}",
                    self.codes.len(),
                    self.tile_count(),
                    self.code_length,
                    self.tile_count() as u64 * u64::from(self.code_length)
                ),
            );
        }
        if let Some(i) = self.codes.first_non_finite() {
            let l = self.code_length as usize;
            return invalid(
                "codes",
                format!(
                    "value {} (tile {}, index {}) is not finite",
                    i,
                    i / l,
                    i % l
                ),
            );
        }
        Ok(())
    }

    /// Exact length of the bytes [`AecFile::to_bytes`] produces, assuming the
    /// file is valid.
    pub fn encoded_len(&self) -> usize {
        let l = self.code_length.max(1) as usize;
        OVERHEAD
            + match (&self.layout, &self.codes) {
                (Layout::Dense, c) => c.len() * c.precision().bytes_per_value(),
                (Layout::Sparse, Codes::F32(v)) => sparse_len(v, l),
                (Layout::Sparse, Codes::F16(v)) => sparse_len(v, l),
            }
    }

    /// Serialises the file after [`AecFile::validate`]. Sparse tiles store only
    /// non-zero values (+0 and -0 are both left out).
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        self.validate()?;
        let l = self.code_length as usize;
        let bpv = self.codes.precision().bytes_per_value();
        let payload = match self.layout {
            Layout::Dense => self.codes.len() * bpv,
            Layout::Sparse => sparse_capacity(self.codes.len(), l, bpv),
        };
        let mut out = Vec::with_capacity(OVERHEAD + payload);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(if self.layout == Layout::Sparse {
            FLAG_SPARSE
        } else {
            0
        });
        out.push(self.codes.precision().to_byte());
        out.push(self.channels);
        out.extend_from_slice(&self.model_id);
        let mut b = [0u8; 2];
        LittleEndian::write_u16(&mut b, self.width as u16);
        out.extend_from_slice(&b);
        LittleEndian::write_u16(&mut b, self.height as u16);
        out.extend_from_slice(&b);
        out.push(self.tile_size as u8);
        out.push(0);
        LittleEndian::write_u16(&mut b, self.code_length as u16);
        out.extend_from_slice(&b);
        debug_assert_eq!(out.len(), HEADER_LEN);
        match (&self.layout, &self.codes) {
            (Layout::Dense, Codes::F32(v)) => write_dense(v, &mut out),
            (Layout::Dense, Codes::F16(v)) => write_dense(v, &mut out),
            (Layout::Sparse, Codes::F32(v)) => write_sparse(v, l, &mut out),
            (Layout::Sparse, Codes::F16(v)) => write_sparse(v, l, &mut out),
        }
        let mut crc = [0u8; 4];
        LittleEndian::write_u32(&mut crc, crc32fast::hash(&out));
        out.extend_from_slice(&crc);
        debug_assert_eq!(out.len(), self.encoded_len());
        Ok(out)
    }

    /// Serialises the file (see [`AecFile::to_bytes`]) into `w`.
    pub fn write_to<W: Write>(&self, mut w: W) -> Result<(), FormatError> {
        w.write_all(&self.to_bytes()?)?;
        Ok(())
    }

    /// Parses a whole file with the default [`Limits`].
    pub fn from_bytes(bytes: &[u8]) -> Result<AecFile, FormatError> {
        Self::from_bytes_with_limits(bytes, &Limits::default())
    }

    /// Parses a whole file. `bytes` must hold exactly one file.
    ///
    /// Checks, in order: input length against `limits.max_file_len`; the
    /// header fields; the declared sizes against `limits`; the input length
    /// against the declared sizes (exact for dense, a walk over the tile
    /// records for sparse); the CRC; then every value and sparse record.
    /// Nothing proportional to the declared sizes is allocated before the
    /// size checks pass.
    pub fn from_bytes_with_limits(bytes: &[u8], limits: &Limits) -> Result<AecFile, FormatError> {
        let (h, end) = check_structure(bytes, limits)?;
        let tiles = h.tiles() as usize;
        let code_length = h.code_length as usize;
        let payload = &bytes[HEADER_LEN..end];
        let codes = match (h.layout, h.precision) {
            (Layout::Dense, Precision::F32) => {
                Codes::F32(decode_dense::<f32>(payload, HEADER_LEN, code_length)?)
            }
            (Layout::Dense, Precision::F16) => {
                Codes::F16(decode_dense::<f16>(payload, HEADER_LEN, code_length)?)
            }
            (Layout::Sparse, Precision::F32) => {
                Codes::F32(decode_all_sparse(bytes, end, tiles, code_length)?)
            }
            (Layout::Sparse, Precision::F16) => {
                Codes::F16(decode_all_sparse(bytes, end, tiles, code_length)?)
            }
        };
        Ok(AecFile {
            model_id: h.model_id,
            width: h.width,
            height: h.height,
            channels: h.channels,
            tile_size: h.tile_size,
            code_length: h.code_length,
            layout: h.layout,
            codes,
        })
    }

    /// Reads one file from `r` and parses it like
    /// [`AecFile::from_bytes_with_limits`].
    ///
    /// Reads the 32-byte header first and checks it against `limits`; then
    /// reads at most the largest file length that header allows (capped by
    /// `limits.max_file_len`) plus one byte, which detects trailing data
    /// without reading the rest of an over-long stream. Memory grows with the
    /// bytes actually read, never with the sizes the header merely declares.
    pub fn read_from<R: Read>(r: R, limits: &Limits) -> Result<AecFile, FormatError> {
        let mut buf = Vec::with_capacity(HEADER_LEN);
        let mut r = r.take(HEADER_LEN as u64);
        r.read_to_end(&mut buf)?;
        let h = FileHeader::parse(&buf)?;
        h.check(limits)?;
        // One byte past the largest acceptable length, so that trailing data
        // or an over-long input is seen without reading all of it.
        let cap = h.max_file_len().min(limits.max_file_len).saturating_add(1);
        let mut r = r.into_inner().take(cap.saturating_sub(buf.len() as u64));
        r.read_to_end(&mut buf)?;
        Self::from_bytes_with_limits(&buf, limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random f32 bit patterns: zeros of both signs with probability `zeros`, else
    /// finite values of any exponent (subnormals included).
    fn values(n: usize, zeros: f64, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|_| {
                let r = next();
                if (r >> 11) as f64 / (1u64 << 53) as f64 <= zeros {
                    if r & 1 == 0 {
                        0.0
                    } else {
                        -0.0
                    }
                } else {
                    let v = f32::from_bits(r as u32 & 0xbfff_ffff); // exponent below all ones
                    if v.is_finite() {
                        v
                    } else {
                        1.0
                    }
                }
            })
            .collect()
    }

    /// The byte-shuffle paths (when this CPU has them) write and read exactly what the
    /// portable loops do, at every density, for both precisions and several code lengths.
    #[test]
    fn shuffled_sparse_paths_match_portable_ones() {
        for code_length in [8usize, 16, 24, 128, 512] {
            for (seed, zeros) in [0.0, 0.3, 0.5, 0.8, 0.95, 1.0].into_iter().enumerate() {
                let v = values(code_length * 37, zeros, seed as u64 + code_length as u64);
                let halves: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
                check(&v, code_length);
                check(&halves, code_length);
            }
        }
    }

    fn check<V: Value>(values: &[V], code_length: usize) {
        let tiles = values.len() / code_length;
        let mut portable = vec![0u8; HEADER_LEN];
        write_sparse_portable(values, code_length, &mut portable);
        let mut dispatched = vec![0u8; HEADER_LEN];
        write_sparse(values, code_length, &mut dispatched);
        assert_eq!(
            portable,
            dispatched,
            "code length {code_length}, {}-byte values",
            V::BYTES
        );
        let end = portable.len();
        let sink = || AllTiles {
            values: vec![V::ZERO; tiles * code_length],
            code_length,
        };
        let (mut portable_sink, mut dispatched_sink) = (sink(), sink());
        decode_sparse_with(
            &portable,
            end,
            tiles,
            code_length,
            &mut portable_sink,
            spread_portable::<V>,
        )
        .unwrap();
        decode_sparse(&portable, end, tiles, code_length, &mut dispatched_sink).unwrap();
        let (read_portable, read_dispatched) = (portable_sink.values, dispatched_sink.values);
        // Compare bits: -0 is read back as +0 by both.
        let bits = |v: &[V]| V::as_bytes(v).to_vec();
        assert_eq!(bits(&read_portable), bits(&read_dispatched));
        let expected: Vec<V> = values
            .iter()
            .map(|&x| if x.is_zero() { V::ZERO } else { x })
            .collect();
        assert_eq!(bits(&read_portable), bits(&expected));
    }
}
