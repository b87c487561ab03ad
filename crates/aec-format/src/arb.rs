//! `arbitrary` support: random *valid* files for round-trip fuzzing.

use arbitrary::{Arbitrary, Result, Unstructured};
use half::f16;

use crate::{AecFile, Codes, Layout};

/// Picks a value: zero about half the time (so sparse tiles have gaps),
/// otherwise any finite bit pattern.
fn value_f32(u: &mut Unstructured<'_>) -> Result<f32> {
    if u.ratio(1, 2)? {
        return Ok(if u.arbitrary()? { -0.0 } else { 0.0 });
    }
    let v = f32::from_bits(u.arbitrary()?);
    Ok(if v.is_finite() { v } else { 1.0 })
}

fn value_f16(u: &mut Unstructured<'_>) -> Result<f16> {
    if u.ratio(1, 2)? {
        return Ok(if u.arbitrary()? {
            f16::NEG_ZERO
        } else {
            f16::ZERO
        });
    }
    let v = f16::from_bits(u.arbitrary()?);
    Ok(if v.is_finite() { v } else { f16::ONE })
}

impl<'a> Arbitrary<'a> for AecFile {
    /// Builds a small file that passes [`AecFile::validate`]: at most 16
    /// tiles, code length 1 to 300 (so both sparse index widths occur), finite
    /// values with many zeros.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let model_id: [u8; 16] = u.arbitrary()?;
        let tile_size: u32 = u.int_in_range(1..=40)?;
        let width = u.int_in_range(1..=4 * tile_size)?;
        let height = u.int_in_range(1..=4 * tile_size)?;
        let channels = u.int_in_range(1..=4)?;
        let code_length: u32 = if u.ratio(1, 4)? {
            u.int_in_range(257..=300)?
        } else {
            u.int_in_range(1..=64)?
        };
        let layout = if u.arbitrary()? {
            Layout::Sparse
        } else {
            Layout::Dense
        };
        let n = (width.div_ceil(tile_size) * height.div_ceil(tile_size) * code_length) as usize;
        let codes = if u.arbitrary()? {
            Codes::F16((0..n).map(|_| value_f16(u)).collect::<Result<_>>()?)
        } else {
            Codes::F32((0..n).map(|_| value_f32(u)).collect::<Result<_>>()?)
        };
        Ok(AecFile {
            model_id,
            width,
            height,
            channels,
            tile_size,
            code_length,
            layout,
            codes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arbitrary_files_are_valid_and_roundtrip() {
        let mut seed = 0x1234_5678_u32;
        for _ in 0..200 {
            let data: Vec<u8> = (0..4096)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            let file = AecFile::arbitrary(&mut Unstructured::new(&data)).unwrap();
            file.validate().unwrap();
            let bytes = file.to_bytes().unwrap();
            assert_eq!(bytes.len(), file.encoded_len());
            assert_eq!(AecFile::from_bytes(&bytes).unwrap(), file);
        }
    }
}
