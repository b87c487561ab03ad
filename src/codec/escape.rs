//! Values of the hyperprior's latents as symbols: a value within its table's alphabet is one
//! symbol; any other is the table's escape symbol, then a sign and an order-0 Exp-Golomb code
//! of its distance beyond the alphabet, in symbols of a uniform binary table.
//!
//! Escapes are rare (the alphabets hold all but 10⁻⁹ of each distribution's mass) but values
//! of unseen images can fall anywhere; escapes keep them exact instead of clamping them. The
//! symbols a file may hold are bounded by four times its value count ([`Escapes`]), which
//! bounds the decoder's work; an encoder that would pass the bound (more than about one value
//! in 22 escaped) clamps the remaining outliers instead.

use aec_format::{FormatError, SymbolDecoder, SymbolEncoder, SymbolTable, SymbolTables};

use crate::entropy::hyper_tables::Table;

/// Longest Exp-Golomb prefix: distances up to 2^32.
const MAX_PREFIX: u32 = 32;
/// Symbols of one escape at most: escape, sign, prefix with its end, suffix.
const MAX_ESCAPE_SYMBOLS: usize = 2 + 2 * MAX_PREFIX as usize + 1;

/// The uniform binary table of escape bits.
pub(crate) fn bit_table() -> SymbolTable {
    SymbolTable {
        min_symbol: 0,
        probabilities: vec![1 << 23, 1 << 23],
    }
}

/// The symbols of an image's values: as many as its values, plus at most three times as many
/// for escapes.
pub(crate) struct Escapes {
    left: usize,
}

impl Escapes {
    /// The budget for an image of `values` values.
    pub(crate) fn for_values(values: usize) -> Self {
        Self {
            left: values.saturating_mul(3),
        }
    }

    /// Symbols a decoder may read for `values` values.
    pub(crate) fn max_symbols(values: usize) -> usize {
        values.saturating_mul(4)
    }
}

/// `round(v)` as an `i32` (saturating; NaN gives 0).
pub(crate) fn round_i32(v: f32) -> i32 {
    if v.is_nan() {
        0
    } else {
        v.round().clamp(i32::MIN as f32, i32::MAX as f32) as i32
    }
}

/// Encodes `q` with table index `table` (whose values `t` holds); `bit` is the index of the
/// binary table. Returns the value the decoder will read (`q`, or `q` clamped when the escape
/// budget is spent).
pub(crate) fn encode_value(
    enc: &mut SymbolEncoder,
    q: i32,
    (table, t): (usize, &Table),
    bit: usize,
    tables: &SymbolTables,
    budget: &mut Escapes,
) -> Result<i32, FormatError> {
    let (lo, hi) = (t.min_symbol, t.escape() - 1);
    if (lo..=hi).contains(&q) {
        enc.encode(q, table, tables)?;
        return Ok(q);
    }
    if budget.left < MAX_ESCAPE_SYMBOLS {
        let c = q.clamp(lo, hi);
        enc.encode(c, table, tables)?;
        return Ok(c);
    }
    budget.left -= MAX_ESCAPE_SYMBOLS;
    enc.encode(t.escape(), table, tables)?;
    let negative = q < lo;
    let distance = if negative {
        i64::from(lo) - i64::from(q)
    } else {
        i64::from(q) - i64::from(hi)
    };
    // distance ≥ 1; v = distance ≥ 1 has a leading one and `bits` more bits.
    let v = distance as u64;
    let bits = 63 - v.leading_zeros();
    enc.encode(i32::from(negative), bit, tables)?;
    for _ in 0..bits {
        enc.encode(1, bit, tables)?;
    }
    enc.encode(0, bit, tables)?;
    for b in (0..bits).rev() {
        enc.encode(((v >> b) & 1) as i32, bit, tables)?;
    }
    Ok(q)
}

/// Decodes a value written by [`encode_value`].
pub(crate) fn decode_value(
    dec: &mut SymbolDecoder<'_>,
    (table, t): (usize, &Table),
    bit: usize,
    tables: &SymbolTables,
) -> Result<i32, FormatError> {
    let s = dec.decode(table, tables)?;
    if s != t.escape() {
        return Ok(s);
    }
    let invalid = |reason: &str| FormatError::Invalid {
        field: "escaped value",
        reason: reason.to_string(),
    };
    let negative = dec.decode(bit, tables)? == 1;
    let mut bits = 0;
    while dec.decode(bit, tables)? == 1 {
        bits += 1;
        if bits > MAX_PREFIX {
            return Err(invalid("an Exp-Golomb prefix longer than 32 bits"));
        }
    }
    let mut v = 1u64;
    for _ in 0..bits {
        v = v << 1 | dec.decode(bit, tables)? as u64;
    }
    let q = if negative {
        i64::from(t.min_symbol) - v as i64
    } else {
        i64::from(t.escape() - 1) + v as i64
    };
    i32::try_from(q).map_err(|_| invalid("a value beyond 32 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_values_round_trip_and_the_budget_clamps() {
        let t = Table {
            min_symbol: -2,
            probabilities: vec![
                1 << 21,
                1 << 22,
                (1 << 24) - (1 << 23) - (1 << 22) - 1,
                1 << 22,
                1 << 21,
                1,
            ],
        };
        let tables = SymbolTables::new(vec![
            SymbolTable {
                min_symbol: t.min_symbol,
                probabilities: t.probabilities.clone(),
            },
            bit_table(),
        ])
        .unwrap();
        let values = [0, 3, -3, 4, -2, 100, -70_000, i32::MAX, i32::MIN, 2];
        let mut enc = SymbolEncoder::with_capacity(0);
        let mut budget = Escapes::for_values(10 * MAX_ESCAPE_SYMBOLS);
        for &q in &values {
            assert_eq!(
                encode_value(&mut enc, q, (0, &t), 1, &tables, &mut budget).unwrap(),
                q
            );
        }
        let mut tight = Escapes::for_values(0);
        let mut other = SymbolEncoder::with_capacity(0);
        assert_eq!(
            encode_value(&mut other, 100, (0, &t), 1, &tables, &mut tight).unwrap(),
            2
        );
        let n = enc.len();
        let bytes = enc.finish();
        let mut dec = SymbolDecoder::new(&bytes, n).unwrap();
        for &q in &values {
            assert_eq!(decode_value(&mut dec, (0, &t), 1, &tables).unwrap(), q);
        }
        dec.finish().unwrap();
    }
}
