//! Arbitrary bytes as the symbol stream of a whole-image (kind 2) file: values with escapes
//! (SPEC.md §13.3) under a fixed set of tables, each value's table picked by a sequence the
//! input's first bytes seed, as a model's scale levels would. Nothing may panic, the work is
//! bounded by the declared count, and a stream the decoder accepts must be exactly what the
//! encoder writes for the decoded values (escapes included: the budget rule makes the encoding
//! unique).
#![no_main]

use std::sync::OnceLock;

use aec_format::{
    bit_table, decode_value, encode_value, EscapeBudget, SymbolDecoder, SymbolEncoder, SymbolTable,
    SymbolTables,
};
use libfuzzer_sys::fuzz_target;

/// Tables whose last symbol is the escape, then the binary table.
fn tables() -> &'static SymbolTables {
    static TABLES: OnceLock<SymbolTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let table = |min_symbol, probabilities| SymbolTable {
            min_symbol,
            probabilities,
        };
        let mut wide = vec![16_000u32; 1001];
        wide[500] += (1 << 24) - 16_000 * 1001 - 1;
        wide.push(1);
        SymbolTables::new(vec![
            table(-1, vec![1 << 21, (1 << 24) - (1 << 22) - 1, 1 << 21, 1]),
            table(0, vec![(1 << 24) - 1, 1]),
            table(-500, wide),
            table(
                -2,
                vec![1 << 20, 3 << 20, 1 << 23, 3 << 20, (1 << 20) - 7, 7],
            ),
            bit_table(),
        ])
        .expect("valid tables")
    })
}

fuzz_target!(|data: &[u8]| {
    let [count, seed, payload @ ..] = data else {
        return;
    };
    let count = usize::from(*count) * 16 + 1;
    let t = tables();
    let bit = t.code_length() - 1;
    let pick = |k: usize| (k.wrapping_mul(usize::from(*seed) | 1) >> 3) % bit;
    let Ok(mut dec) = SymbolDecoder::new(payload, EscapeBudget::max_symbols(count)) else {
        return;
    };
    let mut budget = EscapeBudget::for_values(count);
    let mut values = Vec::with_capacity(count);
    for k in 0..count {
        match decode_value(&mut dec, pick(k), bit, t, &mut budget) {
            Ok(v) => values.push(v),
            Err(_) => return,
        }
    }
    assert!(dec.decoded() <= EscapeBudget::max_symbols(count));
    if dec.finish().is_err() {
        return;
    }
    let mut enc = SymbolEncoder::with_capacity(count);
    let mut budget = EscapeBudget::for_values(count);
    for (k, &v) in values.iter().enumerate() {
        let coded = encode_value(&mut enc, v, pick(k), bit, t, &mut budget).expect("encodes");
        assert_eq!(coded, v, "an accepted value re-encodes unclamped");
    }
    assert_eq!(enc.finish(), payload, "accepted streams are canonical");
});
