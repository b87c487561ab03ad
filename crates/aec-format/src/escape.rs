//! Values of any size in a symbol stream (version 2, kind 2, SPEC.md §13.3): a value within its
//! table's alphabet is one symbol; any other is the table's last symbol (the *escape*), then a
//! sign and an order-0 Exp-Golomb code of its distance beyond the alphabet, each a symbol of a
//! uniform binary table.
//!
//! The escapes of a stream are bounded: the symbols they add (escape, sign, prefix, its end,
//! suffix: `3 + 2b` for a distance of `b + 1` bits) total at most three per value of the stream
//! ([`EscapeBudget`]). An encoder clamps a value whose escape would pass the bound, and a
//! decoder rejects an escape that passes it, so every accepted stream is the one an encoder
//! writes for its values.

use crate::{FormatError, Interval, SymbolDecoder, SymbolEncoder, SymbolTable, SymbolTables};

/// Longest Exp-Golomb prefix: distances below 2^33.
pub const MAX_PREFIX: u32 = 32;

/// The uniform binary table of the escape bits.
pub fn bit_table() -> SymbolTable {
    SymbolTable {
        min_symbol: 0,
        probabilities: vec![1 << 23, 1 << 23],
    }
}

/// What the escapes of a stream may still add, in symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscapeBudget {
    left: usize,
}

impl EscapeBudget {
    /// The budget of a stream of `values` values: three symbols each.
    pub fn for_values(values: usize) -> Self {
        Self {
            left: values.saturating_mul(3),
        }
    }

    /// Symbols a stream of `values` values holds at most: the values and their escapes.
    pub fn max_symbols(values: usize) -> usize {
        values.saturating_mul(4)
    }

    fn spend(&mut self, symbols: usize) -> bool {
        match self.left.checked_sub(symbols) {
            Some(left) => {
                self.left = left;
                true
            }
            None => false,
        }
    }
}

fn table_of(tables: &SymbolTables, index: usize) -> Result<&SymbolTable, FormatError> {
    // The message is built only on failure: this runs once per coded value.
    tables
        .tables()
        .get(index)
        .ok_or_else(|| FormatError::Invalid {
            field: "table index",
            reason: format!("table {index} of {}", tables.code_length()),
        })
}

/// Encodes `value` with table `table` of `tables` (its last symbol the escape; `bit` the index
/// of the binary table). Returns the value a decoder reads: `value`, or `value` clamped to the
/// alphabet when its escape would pass the budget.
pub fn encode_value(
    enc: &mut SymbolEncoder,
    value: i32,
    table: usize,
    bit: usize,
    tables: &SymbolTables,
    budget: &mut EscapeBudget,
) -> Result<i32, FormatError> {
    let t = table_of(tables, table)?;
    let (lo, escape) = (t.min_symbol, t.max_symbol());
    let hi = escape - 1;
    if hi < lo {
        return Err(FormatError::Invalid {
            field: "table",
            reason: format!("table {table} has only its escape symbol"),
        });
    }
    if (lo..=hi).contains(&value) {
        enc.encode(value, table, tables)?;
        return Ok(value);
    }
    let negative = value < lo;
    let distance = if negative {
        i64::from(lo) - i64::from(value)
    } else {
        i64::from(value) - i64::from(hi)
    } as u64;
    let bits = 63 - distance.leading_zeros();
    if !budget.spend(3 + 2 * bits as usize) {
        let clamped = value.clamp(lo, hi);
        enc.encode(clamped, table, tables)?;
        return Ok(clamped);
    }
    enc.encode(escape, table, tables)?;
    enc.encode(i32::from(negative), bit, tables)?;
    for _ in 0..bits {
        enc.encode(1, bit, tables)?;
    }
    enc.encode(0, bit, tables)?;
    for b in (0..bits).rev() {
        enc.encode(((distance >> b) & 1) as i32, bit, tables)?;
    }
    Ok(value)
}

/// The interval of `value` in table `table` when [`encode_value`] codes it as one symbol
/// (inside the alphabet, short of the escape), found without the coder; `None` when it needs
/// the escape (or the table is missing or holds only its escape): code it with
/// [`encode_value`] then.
pub fn plain_interval(tables: &SymbolTables, table: usize, value: i32) -> Option<Interval> {
    // The table's last symbol is the escape: values outside the alphabet have no interval.
    let escape = tables.tables().get(table)?.max_symbol();
    (value != escape).then(|| tables.interval(table, value))?
}

/// Decodes a value written by [`encode_value`], rejecting an escape that passes the budget,
/// a prefix of more than 32 ones (`MAX_PREFIX`), and a value outside the `i32` range.
pub fn decode_value(
    dec: &mut SymbolDecoder<'_>,
    table: usize,
    bit: usize,
    tables: &SymbolTables,
    budget: &mut EscapeBudget,
) -> Result<i32, FormatError> {
    let t = table_of(tables, table)?;
    let s = dec.decode(table, tables)?;
    if s != t.max_symbol() {
        return Ok(s);
    }
    let invalid = |reason: &str| FormatError::Invalid {
        field: "escaped value",
        reason: reason.to_string(),
    };
    let negative = dec.decode(bit, tables)? == 1;
    let mut bits = 0u32;
    while dec.decode(bit, tables)? == 1 {
        bits += 1;
        if bits > MAX_PREFIX {
            return Err(invalid("an Exp-Golomb prefix longer than 32 bits"));
        }
    }
    if !budget.spend(3 + 2 * bits as usize) {
        return Err(invalid("the escapes pass three symbols per value"));
    }
    let mut distance = 1u64;
    for _ in 0..bits {
        distance = distance << 1 | dec.decode(bit, tables)? as u64;
    }
    let value = if negative {
        i64::from(t.min_symbol) - distance as i64
    } else {
        i64::from(t.max_symbol() - 1) + distance as i64
    };
    i32::try_from(value).map_err(|_| invalid("a value beyond 32 bits"))
}
