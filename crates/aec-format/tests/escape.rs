//! Escaped values (SPEC.md §13.3): round trips, the budget, and the decoder's checks.

use aec_format::{
    bit_table, decode_value, encode_value, plain_interval, EscapeBudget, SymbolDecoder,
    SymbolEncoder, SymbolTable, SymbolTables,
};

fn tables() -> SymbolTables {
    let p = vec![
        1 << 21,
        1 << 22,
        (1 << 24) - (1 << 23) - (1 << 22) - 1,
        1 << 22,
        1 << 21,
        1,
    ];
    SymbolTables::new(vec![
        SymbolTable {
            min_symbol: -2,
            probabilities: p,
        },
        bit_table(),
    ])
    .unwrap()
}

#[test]
fn values_of_any_size_round_trip() {
    let t = tables();
    let values = [0, 3, -3, 4, -2, 100, -70_000, i32::MAX, i32::MIN, 2];
    let mut enc = SymbolEncoder::with_capacity(0);
    let mut budget = EscapeBudget::for_values(100);
    for &v in &values {
        assert_eq!(encode_value(&mut enc, v, 0, 1, &t, &mut budget).unwrap(), v);
    }
    let n = enc.len();
    let bytes = enc.finish();
    let mut dec = SymbolDecoder::new(&bytes, n).unwrap();
    let mut budget = EscapeBudget::for_values(100);
    for &v in &values {
        assert_eq!(decode_value(&mut dec, 0, 1, &t, &mut budget).unwrap(), v);
    }
    dec.finish().unwrap();
}

#[test]
fn intervals_code_as_the_values_themselves() {
    let t = tables();
    // Every direct value of table 0, the escape symbol's value 3, values past the alphabet on
    // both sides, bits of table 1, and tables that do not exist.
    let values: Vec<(i32, usize)> = (-4..6)
        .map(|v| (v, 0))
        .chain([(0, 1), (1, 1), (2, 1), (0, 2), (0, usize::MAX)])
        .collect();
    let (mut by_value, mut by_interval) = (
        SymbolEncoder::with_capacity(0),
        SymbolEncoder::with_capacity(0),
    );
    let (mut a, mut b) = (EscapeBudget::for_values(100), EscapeBudget::for_values(100));
    for &(v, table) in values.iter().cycle().take(200) {
        let direct = encode_value(&mut by_value, v, table, 1, &t, &mut a);
        match plain_interval(&t, table, v) {
            Some(interval) => {
                assert_eq!(direct.unwrap(), v);
                by_interval.encode_interval(interval).unwrap();
            }
            None => {
                let escaped = encode_value(&mut by_interval, v, table, 1, &t, &mut b);
                assert_eq!(escaped.is_ok(), direct.is_ok(), "{v} in table {table}");
                // The escapes are exactly the values past the last direct one.
                let direct_range = table < 2
                    && (t.tables()[table].min_symbol..)
                        .take(t.tables()[table].probabilities.len() - 1)
                        .any(|s| s == v);
                assert!(!direct_range, "{v} in table {table}");
            }
        }
    }
    assert_eq!(by_value.len(), by_interval.len());
    assert_eq!(by_value.finish(), by_interval.finish());
}

#[test]
fn the_budget_clamps_and_is_enforced() {
    let t = tables();
    // 3 symbols per value for 1 value: the escape of 3 (distance 1: 3 symbols) fits, the next
    // does not and is clamped to the largest direct value, 2.
    let mut enc = SymbolEncoder::with_capacity(0);
    let mut budget = EscapeBudget::for_values(1);
    assert_eq!(encode_value(&mut enc, 3, 0, 1, &t, &mut budget).unwrap(), 3);
    assert_eq!(encode_value(&mut enc, 3, 0, 1, &t, &mut budget).unwrap(), 2);
    let n = enc.len();
    let bytes = enc.finish();
    let mut dec = SymbolDecoder::new(&bytes, n).unwrap();
    let mut budget = EscapeBudget::for_values(1);
    assert_eq!(decode_value(&mut dec, 0, 1, &t, &mut budget).unwrap(), 3);
    assert_eq!(decode_value(&mut dec, 0, 1, &t, &mut budget).unwrap(), 2);
    dec.finish().unwrap();

    // A stream of two escapes read with the budget of one value: the second is refused.
    let mut enc = SymbolEncoder::with_capacity(0);
    let mut wide = EscapeBudget::for_values(10);
    encode_value(&mut enc, 3, 0, 1, &t, &mut wide).unwrap();
    encode_value(&mut enc, 3, 0, 1, &t, &mut wide).unwrap();
    let n = enc.len();
    let bytes = enc.finish();
    let mut dec = SymbolDecoder::new(&bytes, n).unwrap();
    let mut budget = EscapeBudget::for_values(1);
    decode_value(&mut dec, 0, 1, &t, &mut budget).unwrap();
    assert!(decode_value(&mut dec, 0, 1, &t, &mut budget).is_err());
}

#[test]
fn long_prefixes_are_refused() {
    let t = tables();
    // The escape, a sign, then 40 ones: no value has such a prefix.
    let mut enc = SymbolEncoder::with_capacity(0);
    enc.encode(3, 0, &t).unwrap();
    enc.encode(0, 1, &t).unwrap();
    for _ in 0..40 {
        enc.encode(1, 1, &t).unwrap();
    }
    let n = enc.len();
    let bytes = enc.finish();
    let mut dec = SymbolDecoder::new(&bytes, n).unwrap();
    let mut budget = EscapeBudget::for_values(1000);
    assert!(decode_value(&mut dec, 0, 1, &t, &mut budget).is_err());
}
