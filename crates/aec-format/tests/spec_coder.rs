//! The symbol stream coder written out from `format-spec/SPEC.md` §14 alone, in plain integer
//! arithmetic (no `constriction`), checked against the crate: the same bytes for the same
//! symbols, the same verdict and symbols for any input, on the test vectors, random symbols
//! and random bytes. This is what an independent implementation of the spec would do.

mod common;

use aec_format::{decode_symbols, FormatError, SymbolTable, SymbolTables};
use common::{draw, realistic_tables, tables_of, Rng};

const TOTAL: u64 = 1 << 24;

/// Cumulative distribution of a table: `cdf[0] = 0`, `cdf[n] = 2^24`.
fn cdf(t: &SymbolTable) -> Vec<u64> {
    let mut c = vec![0u64];
    for &p in &t.probabilities {
        c.push(c.last().unwrap() + u64::from(p));
    }
    c
}

/// §14.4: the final point. The smallest `b` in 0..=8 such that a multiple of 2^(64 − 8b) lies
/// in `[lower, lower + range − 1]`, and the smallest such multiple (possibly 2^64).
fn final_point(lower: u64, range: u64) -> (usize, u128) {
    let last = u128::from(lower) + u128::from(range) - 1;
    for b in 0..=8u32 {
        let unit = 1u128 << (64 - 8 * b);
        let v = u128::from(lower).div_ceil(unit) * unit;
        if v <= last {
            return (b as usize, v);
        }
    }
    unreachable!("b = 8 always has one")
}

/// §14.3, encoder: adds a carry into the bytes written so far.
fn carry(out: &mut [u8]) {
    for b in out.iter_mut().rev() {
        let (v, overflow) = b.overflowing_add(1);
        *b = v;
        if !overflow {
            return;
        }
    }
    panic!("carry out of the stream");
}

/// §14.3: the encoder, with carries propagated into the bytes already written.
pub fn spec_encode(symbols: &[i32], tables: &[SymbolTable]) -> Vec<u8> {
    let cdfs: Vec<Vec<u64>> = tables.iter().map(cdf).collect();
    let l = tables.len();
    let (mut lower, mut range) = (0u64, u64::MAX);
    let mut out = Vec::new();
    for (k, &s) in symbols.iter().enumerate() {
        let d = k % l;
        let i = (i64::from(s) - i64::from(tables[d].min_symbol)) as usize;
        let scale = range >> 24;
        let new_lower = u128::from(lower) + u128::from(scale) * u128::from(cdfs[d][i]);
        if new_lower >> 64 != 0 {
            carry(&mut out);
        }
        lower = new_lower as u64;
        range = scale * (cdfs[d][i + 1] - cdfs[d][i]);
        if range < 1 << 32 {
            out.extend_from_slice(&((lower >> 32) as u32).to_be_bytes());
            lower <<= 32;
            range <<= 32;
        }
    }
    let (b, v) = final_point(lower, range);
    if v >> 64 != 0 {
        carry(&mut out);
    }
    out.extend_from_slice(&(v as u64).to_be_bytes()[..b]);
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// Why the spec decoder rejects a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Reject {
    TrailingZero,
    TooLong,
    Invalid(usize),
    NotCanonical,
}

/// §14.2: the decoder, with the checks of §14.5 in their order.
pub fn spec_decode(
    payload: &[u8],
    tables: &[SymbolTable],
    count: usize,
) -> Result<Vec<i32>, Reject> {
    if payload.last() == Some(&0) {
        return Err(Reject::TrailingZero);
    }
    if payload.len() > 4 * (count + 2) {
        return Err(Reject::TooLong);
    }
    let word = |j: usize| -> u64 {
        let mut w = [0u8; 4];
        for (i, x) in w.iter_mut().enumerate() {
            *x = payload.get(4 * j + i).copied().unwrap_or(0);
        }
        u64::from(u32::from_be_bytes(w))
    };
    let cdfs: Vec<Vec<u64>> = tables.iter().map(cdf).collect();
    let l = tables.len();
    let (mut lower, mut range) = (0u64, u64::MAX);
    let mut point = (word(0) << 32) | word(1);
    let mut next = 2;
    let mut out = Vec::with_capacity(count);
    for k in 0..count {
        let d = k % l;
        let scale = range >> 24;
        let q = point.wrapping_sub(lower) / scale;
        if q >= TOTAL {
            return Err(Reject::Invalid(k));
        }
        let c = &cdfs[d];
        let i = c.partition_point(|&x| x <= q) - 1;
        lower = lower.wrapping_add(scale * c[i]);
        range = scale * (c[i + 1] - c[i]);
        if range < 1 << 32 {
            lower <<= 32;
            range <<= 32;
            point = (point << 32) | word(next);
            next += 1;
        }
        out.push(tables[d].min_symbol + i as i32);
    }
    let (_, v) = final_point(lower, range);
    if payload.len() > 4 * next || point != v as u64 {
        return Err(Reject::NotCanonical);
    }
    Ok(out)
}

/// The crate's verdict in the spec decoder's terms.
fn crate_decode(payload: &[u8], tables: &SymbolTables, count: usize) -> Result<Vec<i32>, Reject> {
    let mut out = Vec::new();
    match decode_symbols(payload, tables, count, &mut out) {
        Ok(()) => Ok(out),
        Err(FormatError::TrailingZeroByte { .. }) => Err(Reject::TrailingZero),
        Err(FormatError::StreamInvalid { index, .. }) => Err(Reject::Invalid(index)),
        Err(FormatError::StreamNotCanonical { .. }) => {
            if payload.len() > 4 * (count + 2) {
                Err(Reject::TooLong)
            } else {
                Err(Reject::NotCanonical)
            }
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn spec_coder_matches_the_crate_on_random_symbols() {
    let mut rng = Rng(0x51ec);
    let mut carries = 0;
    for trial in 0..1000 {
        let tables = realistic_tables(&mut rng, 1 + trial % 40);
        let l = tables.code_length();
        let n = l * (trial % 7);
        let symbols = draw(&mut rng, &tables, n, trial % 3 == 0);
        let (bytes, case) = aec_format::encode_symbols_sealed(&symbols, &tables).unwrap();
        carries += usize::from(case == aec_format::SealCase::Carry);
        assert_eq!(
            spec_encode(&symbols, tables.tables()),
            bytes,
            "trial {trial}"
        );
        assert_eq!(spec_decode(&bytes, tables.tables(), n), Ok(symbols));
    }
    // The held-back words and their carry are the crate's, the byte carry the spec's.
    assert!(carries > 10, "{carries} streams ended with a carry");
}

#[test]
fn spec_decoder_matches_the_crate_on_random_bytes() {
    let mut rng = Rng(0xbad5);
    let mut verdicts = std::collections::BTreeMap::new();
    for trial in 0..20_000 {
        let tables = tables_of(&[
            (0, vec![1 << 24]),
            (-1, vec![1 << 20, (1 << 24) - (1 << 21), 1 << 20]),
            (-8, {
                let mut p = vec![1 << 20; 16];
                p[0] = 1;
                p[8] += (1 << 20) - 1;
                p
            }),
        ]);
        let count = 3 * (trial % 20);
        let len = rng.below(4 * count + 12);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let spec = spec_decode(&bytes, tables.tables(), count);
        assert_eq!(crate_decode(&bytes, &tables, count), spec, "{bytes:02x?}");
        let key = match &spec {
            Ok(_) => "accepted",
            Err(Reject::TrailingZero) => "trailing zero",
            Err(Reject::TooLong) => "too long",
            Err(Reject::Invalid(_)) => "invalid",
            Err(Reject::NotCanonical) => "not canonical",
        };
        *verdicts.entry(key).or_insert(0) += 1;
        if let Ok(symbols) = spec {
            // Accepted means canonical: the symbols encode to exactly these bytes.
            assert_eq!(
                aec_format::encode_symbols(&symbols, &tables).unwrap(),
                bytes
            );
        }
    }
    println!("random bytes: {verdicts:?}");
}
