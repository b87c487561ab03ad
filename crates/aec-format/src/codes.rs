//! Code values, their precision and their layout in the payload.

use std::fmt;
use std::str::FromStr;

use byteorder::{ByteOrder, LittleEndian};
use half::f16;
use half::slice::HalfFloatSliceExt;

/// Numeric type of the stored code values (byte 6 of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// IEEE 754 binary32, 4 bytes per value (precision byte 0).
    F32,
    /// IEEE 754 binary16, 2 bytes per value (precision byte 1).
    F16,
}

impl Precision {
    /// Bytes one value takes in the payload: 4 for `F32`, 2 for `F16`.
    pub const fn bytes_per_value(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
        }
    }

    /// Lowercase name: `"f32"` or `"f16"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }

    /// The value of the precision byte in the header.
    pub const fn to_byte(self) -> u8 {
        match self {
            Precision::F32 => 0,
            Precision::F16 => 1,
        }
    }

    /// The precision a header byte stands for, or `None` for reserved values.
    pub const fn from_byte(byte: u8) -> Option<Precision> {
        match byte {
            0 => Some(Precision::F32),
            1 => Some(Precision::F16),
            _ => None,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            _ => Err(ParseNameError {
                what: "precision",
                found: s.to_owned(),
                expected: "f32 or f16",
            }),
        }
    }
}

/// How the payload stores each tile's code (bit 0 of the flags byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Every value of every tile, in order.
    Dense,
    /// Per tile, only the non-zero values and where they go.
    Sparse,
}

impl Layout {
    /// Lowercase name: `"dense"` or `"sparse"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Layout::Dense => "dense",
            Layout::Sparse => "sparse",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Layout {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dense" => Ok(Layout::Dense),
            "sparse" => Ok(Layout::Sparse),
            _ => Err(ParseNameError {
                what: "layout",
                found: s.to_owned(),
                expected: "dense or sparse",
            }),
        }
    }
}

/// Error of [`Precision::from_str`] and [`Layout::from_str`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseNameError {
    what: &'static str,
    found: String,
    expected: &'static str,
}

impl fmt::Display for ParseNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?}: expected {}",
            self.what, self.found, self.expected
        )
    }
}

impl std::error::Error for ParseNameError {}

/// The code values of all tiles, tile-major: tile `t` owns the values
/// `[t * code_length, (t + 1) * code_length)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Codes {
    /// Values stored as IEEE binary32.
    F32(Vec<f32>),
    /// Values stored as IEEE binary16.
    F16(Vec<f16>),
}

impl Codes {
    /// Converts `values` to `precision` (rounding to nearest for `F16`;
    /// values too large for `f16` become infinite, which
    /// [`crate::AecFile::validate`] rejects).
    pub fn from_f32(values: &[f32], precision: Precision) -> Codes {
        match precision {
            Precision::F32 => Codes::F32(values.to_vec()),
            Precision::F16 => Codes::F16(values.iter().map(|&v| f16::from_f32(v)).collect()),
        }
    }

    /// All values widened to `f32` (exact for both precisions).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Codes::F32(v) => v.clone(),
            Codes::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
        }
    }

    /// The precision the values are held in.
    pub fn precision(&self) -> Precision {
        match self {
            Codes::F32(_) => Precision::F32,
            Codes::F16(_) => Precision::F16,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Codes::F32(v) => v.len(),
            Codes::F16(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of values equal to zero (+0 or -0); these cost nothing in the
    /// sparse layout.
    pub fn count_zeros(&self) -> usize {
        match self {
            Codes::F32(v) => v.iter().filter(|x| x.is_zero()).count(),
            Codes::F16(v) => v.iter().filter(|x| x.is_zero()).count(),
        }
    }

    /// Position of the first NaN or infinite value, if any.
    pub(crate) fn first_non_finite(&self) -> Option<usize> {
        match self {
            Codes::F32(v) => first_non_finite(v),
            Codes::F16(v) => first_non_finite(v),
        }
    }
}

/// Position of the first NaN or infinite value. A pass without early exit (it vectorises)
/// answers the common case, all finite; only a file with a bad value pays for the search.
pub(crate) fn first_non_finite<V: Value>(values: &[V]) -> Option<usize> {
    let bad = values.iter().fold(false, |bad, v| bad | !v.is_finite());
    if bad {
        values.iter().position(|v| !v.is_finite())
    } else {
        None
    }
}

/// A scalar type that can be a code value.
pub(crate) trait Value: Copy {
    /// Encoded size in bytes.
    const BYTES: usize;
    /// Positive zero.
    const ZERO: Self;
    /// Decodes from exactly `BYTES` little-endian bytes, bit for bit.
    fn read_le(bytes: &[u8]) -> Self;
    /// Writes the `BYTES` little-endian bytes of the value, bit for bit, into `dst` (exactly
    /// `BYTES` long).
    fn put_le(self, dst: &mut [u8]);
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// +0 or -0.
    fn is_zero(self) -> bool;
    /// The values' bytes in memory order (little-endian on the targets that use it).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn as_bytes(values: &[Self]) -> &[u8];
    /// The values' bytes in memory order, writable.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn as_bytes_mut(values: &mut [Self]) -> &mut [u8];
    /// Bit `i` set when `group[i]` is not zero.
    #[inline]
    fn nonzero_mask(group: &[Self; 8]) -> u8 {
        let mut byte = 0u8;
        for (bit, v) in group.iter().enumerate() {
            byte |= u8::from(!v.is_zero()) << bit;
        }
        byte
    }
}

impl Value for f32 {
    const BYTES: usize = 4;
    const ZERO: Self = 0.0;

    fn read_le(bytes: &[u8]) -> Self {
        f32::from_bits(LittleEndian::read_u32(bytes))
    }

    fn put_le(self, dst: &mut [u8]) {
        dst.copy_from_slice(&self.to_bits().to_le_bytes());
    }

    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }

    fn is_zero(self) -> bool {
        self == 0.0
    }

    fn as_bytes(values: &[Self]) -> &[u8] {
        pulp::bytemuck::cast_slice(values)
    }

    fn as_bytes_mut(values: &mut [Self]) -> &mut [u8] {
        pulp::bytemuck::cast_slice_mut(values)
    }
}

impl Value for f16 {
    const BYTES: usize = 2;
    const ZERO: Self = f16::ZERO;

    fn read_le(bytes: &[u8]) -> Self {
        f16::from_bits(LittleEndian::read_u16(bytes))
    }

    fn put_le(self, dst: &mut [u8]) {
        dst.copy_from_slice(&self.to_bits().to_le_bytes());
    }

    fn is_finite(self) -> bool {
        // Exponent not all ones (as `f16::is_finite`, spelled out so that it vectorises).
        self.to_bits() & 0x7c00 != 0x7c00
    }

    fn is_zero(self) -> bool {
        self.to_bits() & 0x7fff == 0
    }

    fn as_bytes(values: &[Self]) -> &[u8] {
        pulp::bytemuck::cast_slice(values.reinterpret_cast())
    }

    fn as_bytes_mut(values: &mut [Self]) -> &mut [u8] {
        pulp::bytemuck::cast_slice_mut(values.reinterpret_cast_mut())
    }

    /// Four values per 64-bit word: adding 0x7fff to a value's magnitude (15 bits) sets the
    /// lane's top bit exactly when the magnitude is not zero, with no carry into the next
    /// lane; a multiplication then gathers the four top bits into one nibble.
    #[inline]
    fn nonzero_mask(group: &[Self; 8]) -> u8 {
        const MAGNITUDE: u64 = 0x7fff_7fff_7fff_7fff;
        const TOP: u64 = 0x8000_8000_8000_8000;
        // Lane bits at 0, 16, 32, 48 land on 45, 46, 47, 48, and nothing else reaches those.
        const GATHER: u64 = 1 | 1 << 15 | 1 << 30 | 1 << 45;
        let nibble = |q: &[f16]| -> u8 {
            let word = q
                .iter()
                .enumerate()
                .fold(0u64, |w, (i, v)| w | u64::from(v.to_bits()) << (16 * i));
            let top = ((word & MAGNITUDE) + MAGNITUDE) & TOP;
            ((top >> 15).wrapping_mul(GATHER) >> 45) as u8 & 0xf
        };
        nibble(&group[..4]) | nibble(&group[4..]) << 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        for p in [Precision::F32, Precision::F16] {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
            assert_eq!(Precision::from_byte(p.to_byte()), Some(p));
        }
        for l in [Layout::Dense, Layout::Sparse] {
            assert_eq!(l.to_string().parse::<Layout>().unwrap(), l);
        }
        assert!("f64".parse::<Precision>().is_err());
        assert!("F32".parse::<Precision>().is_err());
        assert!("packed".parse::<Layout>().is_err());
        assert_eq!(Precision::from_byte(2), None);
        assert_eq!(Precision::F32.bytes_per_value(), 4);
        assert_eq!(Precision::F16.bytes_per_value(), 2);
    }

    #[test]
    fn codes_helpers() {
        let c = Codes::from_f32(&[0.0, -0.0, 1.5, 3.0], Precision::F16);
        assert_eq!(c.precision(), Precision::F16);
        assert_eq!(c.len(), 4);
        assert!(!c.is_empty());
        assert_eq!(c.count_zeros(), 2);
        assert_eq!(c.to_f32(), vec![0.0, -0.0, 1.5, 3.0]);
        assert_eq!(c.first_non_finite(), None);
        let big = Codes::from_f32(&[1.0, 1e6], Precision::F16);
        assert_eq!(big.first_non_finite(), Some(1));
        let c32 = Codes::from_f32(&[f32::NAN], Precision::F32);
        assert_eq!(c32.first_non_finite(), Some(0));
        assert!(Codes::F32(vec![]).is_empty());
    }

    #[test]
    fn nonzero_masks() {
        let f16s = [
            0x0000u16, 0x8000, 0x0001, 0x7fff, 0x8001, 0x7c00, 0xffff, 0x3c00,
        ];
        for m in 0..=255u8 {
            // Every pattern of zeros (+0 and −0 alternately) and non-zeros (assorted bits).
            let group: [f16; 8] = std::array::from_fn(|i| {
                let bits = if m >> i & 1 == 1 {
                    f16s[2 + (i + usize::from(m)) % 6]
                } else {
                    f16s[i % 2]
                };
                f16::from_bits(bits)
            });
            assert_eq!(f16::nonzero_mask(&group), m, "f16 pattern {m:08b}");
            let group: [f32; 8] = std::array::from_fn(|i| {
                if m >> i & 1 == 1 {
                    i as f32 - 3.5
                } else {
                    -0.0
                }
            });
            assert_eq!(f32::nonzero_mask(&group), m, "f32 pattern {m:08b}");
        }
    }

    #[test]
    fn value_bits_preserved() {
        let mut out = [0u8; 4];
        (-0.0f32).put_le(&mut out);
        assert_eq!(out, [0, 0, 0, 0x80]);
        assert_eq!(f32::read_le(&out).to_bits(), 0x8000_0000);
        let mut out = [0u8; 2];
        f16::from_f32(1.0).put_le(&mut out);
        assert_eq!(out, [0x00, 0x3c]);
        assert!(f16::from_bits(0x8000).is_zero());
        assert!(!f16::from_bits(0x0001).is_zero());
    }
}
