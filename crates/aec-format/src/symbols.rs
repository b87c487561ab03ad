//! The symbol stream of a version 2 file: integer symbols, one per code dimension, each with
//! its dimension's fixed categorical distribution, range-coded into one byte string.
//!
//! The coder is `constriction`'s range coder with 32-bit words, a 64-bit state and 24-bit
//! probabilities, driven with integers only, so every machine writes and reads the same bytes.
//! The stream ends with the point of the final interval that has the most trailing zero bytes,
//! and trailing zero bytes are not written: the encoding of a symbol sequence is the shortest
//! byte string that decodes to it, and the decoder accepts nothing else (see `SPEC.md` §14).

use std::borrow::Borrow;
use std::convert::Infallible;
use std::num::NonZeroU32;

use constriction::backends::{ReadWords, WriteWords};
use constriction::stream::model::{
    DecoderModel, DefaultContiguousCategoricalEntropyModel, EncoderModel, EntropyModel,
};
use constriction::stream::queue::{EncoderSituation, RangeDecoder, RangeEncoder};
use constriction::stream::{Code, Decode, Encode};
use constriction::{Queue, UnwrapInfallible};

use crate::FormatError;

/// Bits of precision of the symbol probabilities.
pub const PROBABILITY_BITS: u32 = 24;
/// What the probabilities of one dimension sum to: 2^24.
pub const PROBABILITY_TOTAL: u32 = 1 << PROBABILITY_BITS;
/// Largest alphabet of one dimension, in symbols.
pub const MAX_ALPHABET: usize = 1 << 16;

/// The entropy model of one dimension: its cumulative distribution, 24-bit fixed point.
type Model = DefaultContiguousCategoricalEntropyModel;

/// The distribution of one code dimension: the symbols `min_symbol ..= min_symbol + n − 1`
/// with probabilities `probabilities[i] / 2^24` (`n = probabilities.len()`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SymbolTable {
    /// The smallest symbol, the one of `probabilities[0]`.
    pub min_symbol: i32,
    /// Each symbol's probability in units of 2^−24: each at least 1, summing to exactly 2^24,
    /// 1 to 65536 of them.
    pub probabilities: Vec<u32>,
}

impl SymbolTable {
    /// The largest symbol, `min_symbol + n − 1` (saturating; exact for a table that
    /// [`SymbolTables::new`] accepted).
    pub fn max_symbol(&self) -> i32 {
        let n = i32::try_from(self.probabilities.len()).unwrap_or(i32::MAX);
        self.min_symbol.saturating_add(n.saturating_sub(1))
    }

    /// Checks the table (see [`SymbolTables::new`]); `dimension` names it in the error.
    fn check(&self, dimension: usize) -> Result<(), FormatError> {
        let bad = |reason: String| Err(FormatError::BadSymbolTable { dimension, reason });
        let n = self.probabilities.len();
        if n == 0 {
            return bad("the alphabet is empty".to_string());
        }
        if n > MAX_ALPHABET {
            return bad(format!("{n} symbols, over the maximum of {MAX_ALPHABET}"));
        }
        if let Some(i) = self.probabilities.iter().position(|&p| p == 0) {
            return bad(format!("the probability of symbol index {i} is 0"));
        }
        let sum: u64 = self.probabilities.iter().map(|&p| u64::from(p)).sum();
        if sum != u64::from(PROBABILITY_TOTAL) {
            return bad(format!(
                "the probabilities sum to {sum}, not 2^24 = {PROBABILITY_TOTAL}"
            ));
        }
        if i64::from(self.min_symbol) + n as i64 - 1 > i64::from(i32::MAX) {
            return bad(format!(
                "the largest symbol, {} + {n} - 1, does not fit in an i32",
                self.min_symbol
            ));
        }
        Ok(())
    }
}

/// The checked distributions of all `code_length` dimensions, with the entropy models built
/// from them (once; building is integer arithmetic only).
#[derive(Debug, Clone)]
pub struct SymbolTables {
    tables: Vec<SymbolTable>,
    models: Vec<Model>,
}

impl PartialEq for SymbolTables {
    fn eq(&self, other: &Self) -> bool {
        self.tables == other.tables
    }
}

impl Eq for SymbolTables {}

impl SymbolTables {
    /// Checks every dimension's table and builds its entropy model. Dimension `d` codes the
    /// symbols `k` with `k mod code_length == d`, where `code_length = dims.len()`.
    ///
    /// A table is accepted when it has 1 to 65536 probabilities, each at least 1, summing to
    /// exactly 2^24, and its largest symbol `min_symbol + n − 1` fits in an `i32`. There must
    /// be at least one dimension.
    pub fn new(dims: Vec<SymbolTable>) -> Result<SymbolTables, FormatError> {
        if dims.is_empty() {
            return Err(FormatError::Invalid {
                field: "symbol tables",
                reason: "there are no dimensions".to_string(),
            });
        }
        let mut models = Vec::with_capacity(dims.len());
        for (d, t) in dims.iter().enumerate() {
            t.check(d)?;
            let model = Model::from_nonzero_fixed_point_probabilities(&t.probabilities, false)
                .map_err(|()| FormatError::BadSymbolTable {
                    dimension: d,
                    reason: "the entropy model cannot be built from it".to_string(),
                })?;
            models.push(model);
        }
        Ok(SymbolTables {
            tables: dims,
            models,
        })
    }

    /// Number of dimensions: symbols per tile.
    pub fn code_length(&self) -> usize {
        self.tables.len()
    }

    /// The interval of `symbol` in dimension `table`'s distribution, or `None` when there is
    /// no such dimension or the symbol is outside its alphabet. Found without a coder, so on
    /// any thread; [`SymbolEncoder::encode_interval`] then codes it.
    pub fn interval(&self, table: usize, symbol: i32) -> Option<Interval> {
        let (t, model) = (self.tables.get(table)?, self.models.get(table)?);
        // Out of the alphabet wraps to an index past it, which the model refuses.
        let i = symbol.wrapping_sub(t.min_symbol) as u32 as usize;
        let (left, probability) = model.left_cumulative_and_probability(i)?;
        Some(Interval { left, probability })
    }

    /// The tables, one per dimension.
    pub fn tables(&self) -> &[SymbolTable] {
        &self.tables
    }

    /// Table `table` and its entropy model, for symbol `index` (named in the error).
    fn entry(&self, table: usize, index: usize) -> Result<(&SymbolTable, &Model), FormatError> {
        self.tables
            .get(table)
            .zip(self.models.get(table))
            .ok_or_else(|| FormatError::Invalid {
                field: "table index",
                reason: format!(
                    "symbol {index} names table {table} of {}",
                    self.code_length()
                ),
            })
    }

    /// The tables, one per dimension, by value.
    pub fn into_tables(self) -> Vec<SymbolTable> {
        self.tables
    }
}

/// A symbol's interval in its dimension's distribution ([`SymbolTables::interval`]): all
/// the range coder needs to code it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The probabilities of the symbols before it.
    left: u32,
    probability: NonZeroU32,
}

impl EntropyModel<{ PROBABILITY_BITS as usize }> for Interval {
    type Symbol = ();
    type Probability = u32;
}

impl EncoderModel<{ PROBABILITY_BITS as usize }> for Interval {
    #[inline(always)]
    fn left_cumulative_and_probability(&self, _: impl Borrow<()>) -> Option<(u32, NonZeroU32)> {
        Some((self.left, self.probability))
    }
}

impl Interval {
    /// The interval of `bit` in a two-symbol distribution where `false` has probability
    /// `p0 / 2^24` (`1 <= p0 < 2^24`): `false` is the first symbol, `true` the second.
    pub(crate) fn bit(p0: u32, bit: bool) -> Interval {
        debug_assert!(p0 > 0 && p0 < PROBABILITY_TOTAL);
        let (left, probability) = if bit {
            (p0, PROBABILITY_TOTAL - p0)
        } else {
            (0, p0)
        };
        Interval {
            left,
            probability: NonZeroU32::new(probability).expect("0 < p0 < 2^24"),
        }
    }
}

/// A two-symbol distribution (`false` with probability `p0 / 2^24`, then `true`), for coders
/// whose probabilities adapt symbol by symbol.
struct Binary {
    p0: u32,
}

impl EntropyModel<{ PROBABILITY_BITS as usize }> for Binary {
    type Symbol = bool;
    type Probability = u32;
}

impl DecoderModel<{ PROBABILITY_BITS as usize }> for Binary {
    #[inline(always)]
    fn quantile_function(&self, quantile: u32) -> (bool, u32, NonZeroU32) {
        let bit = quantile >= self.p0;
        let i = Interval::bit(self.p0, bit);
        (bit, i.left, i.probability)
    }
}

/// How an encoder's final state was sealed: the situation of the range coder at the end.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealCase {
    /// No words held back: the stream ends with the bytes of the point.
    Normal,
    /// Words held back because the final interval passes 2^64 (an unresolved carry). The
    /// interval then holds 2^64 itself, so the point is 2^64: the carry goes into the held
    /// words and no byte of the point is written.
    Carry,
}

impl SealCase {
    /// A name for the case.
    pub fn as_str(self) -> &'static str {
        match self {
            SealCase::Normal => "normal",
            SealCase::Carry => "carry",
        }
    }
}

/// The encoder's output: each 32-bit word as 4 big-endian bytes.
struct ByteSink(Vec<u8>);

impl WriteWords<u32> for ByteSink {
    type WriteError = Infallible;

    #[inline(always)]
    fn write(&mut self, word: u32) -> Result<(), Infallible> {
        self.0.extend_from_slice(&word.to_be_bytes());
        Ok(())
    }
}

/// The decoder's input: the payload as big-endian 32-bit words, the last one zero-padded.
struct ByteWords<'a> {
    bytes: &'a [u8],
    /// Bytes read so far (never more than `bytes.len()`).
    pos: usize,
}

impl ReadWords<u32, Queue> for ByteWords<'_> {
    type ReadError = Infallible;

    #[inline(always)]
    fn read(&mut self) -> Result<Option<u32>, Infallible> {
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        if let Some(word) = rest.first_chunk::<4>() {
            self.pos += 4;
            Ok(Some(u32::from_be_bytes(*word)))
        } else if rest.is_empty() {
            Ok(None)
        } else {
            let mut word = [0u8; 4];
            word[..rest.len()].copy_from_slice(rest);
            self.pos = self.bytes.len();
            Ok(Some(u32::from_be_bytes(word)))
        }
    }

    #[inline(always)]
    fn maybe_exhausted(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

/// The point where a stream whose final interval is `[lower, lower + range)` ends: of the
/// numbers in the interval (taken as 64-bit fractions, in 65-bit arithmetic as the interval may
/// pass 2^64), the smallest multiple of `2^(64 − 8b)` for the smallest `b` in `0..=8` that has
/// one. Returns `b`, the number of the point's bytes the stream must hold, and the point,
/// which is at most `2^64` (a carry out of the state).
fn seal_point(lower: u64, range: u64) -> (usize, u128) {
    let lower = u128::from(lower);
    let last = lower + u128::from(range) - 1;
    for b in 0..8 {
        let unit = 1u128 << (64 - 8 * b);
        let point = lower.div_ceil(unit) * unit;
        if point <= last {
            return (b, point);
        }
    }
    (8, lower)
}

/// Checks that `n` symbols make whole tiles of `code_length`.
fn check_multiple(what: &'static str, n: usize, code_length: usize) -> Result<(), FormatError> {
    if !n.is_multiple_of(code_length) {
        return Err(FormatError::Invalid {
            field: what,
            reason: format!("{n} is not a multiple of the code length {code_length}"),
        });
    }
    Ok(())
}

/// Range-codes `symbols` into a symbol stream: symbol `k` with the table of dimension
/// `k mod code_length`. `symbols.len()` must be a multiple of the code length.
///
/// The bytes depend only on the symbols and the tables (integer arithmetic only), and they
/// never end with a zero byte; the stream is empty exactly when every symbol is the smallest of
/// its alphabet.
pub fn encode_symbols(symbols: &[i32], tables: &SymbolTables) -> Result<Vec<u8>, FormatError> {
    encode_symbols_sealed(symbols, tables).map(|(bytes, _)| bytes)
}

/// [`encode_symbols`], also saying how the final state was sealed (for tests and the test
/// vectors, which should cover every case).
#[doc(hidden)]
pub fn encode_symbols_sealed(
    symbols: &[i32],
    tables: &SymbolTables,
) -> Result<(Vec<u8>, SealCase), FormatError> {
    let l = tables.code_length();
    check_multiple("symbols", symbols.len(), l)?;
    let mut enc = SymbolEncoder::with_capacity(symbols.len());
    for tile in symbols.chunks_exact(l) {
        for (d, &s) in tile.iter().enumerate() {
            enc.encode(s, d, tables)?;
        }
    }
    Ok(enc.finish_sealed())
}

/// A symbol stream written one symbol at a time, each with any table of a [`SymbolTables`]
/// (for models whose distributions depend on symbols coded before). [`encode_symbols`] is
/// this encoder with table `k mod code_length` for symbol `k`.
pub struct SymbolEncoder {
    enc: RangeEncoder<u32, u64, ByteSink>,
    count: usize,
}

impl SymbolEncoder {
    /// An empty stream, with room for about `symbols` symbols.
    pub fn with_capacity(symbols: usize) -> Self {
        // About 2 bits per symbol is typical; the vector grows as needed.
        let sink = ByteSink(Vec::with_capacity(symbols / 4 + 16));
        Self {
            enc: RangeEncoder::with_write_backend(sink),
            count: 0,
        }
    }

    /// Appends `symbol` with the distribution of `tables`' dimension `table`.
    pub fn encode(
        &mut self,
        symbol: i32,
        table: usize,
        tables: &SymbolTables,
    ) -> Result<(), FormatError> {
        let index = self.count;
        let (t, _) = tables.entry(table, index)?;
        let interval = (tables.interval(table, symbol)).ok_or(FormatError::SymbolOutOfRange {
            index,
            dimension: table,
            symbol,
            min: t.min_symbol,
            max: t.max_symbol(),
        })?;
        self.encode_interval(interval)
    }

    /// Appends the symbol of `interval` (from [`SymbolTables::interval`]): the same bytes as
    /// [`Self::encode`] of that symbol.
    pub fn encode_interval(&mut self, interval: Interval) -> Result<(), FormatError> {
        let index = self.count;
        self.enc
            .encode_symbol((), interval)
            .map_err(|e| FormatError::Invalid {
                field: "symbols",
                reason: format!("the range coder refused symbol {index}: {e:?}"),
            })?;
        self.count += 1;
        Ok(())
    }

    /// Symbols encoded so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no symbol was encoded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The stream's bytes: the shortest that decode to the symbols (never ending with a zero
    /// byte).
    pub fn finish(self) -> Vec<u8> {
        self.finish_sealed().0
    }

    fn finish_sealed(self) -> (Vec<u8>, SealCase) {
        let (ByteSink(mut out), state, situation) = self.enc.into_raw_parts();
        let (bytes, point) = seal_point(state.lower(), state.range().get());
        let carry = point >> 64 != 0;
        let case = match situation {
            // The interval does not pass 2^64, so neither does the point.
            EncoderSituation::Normal => SealCase::Normal,
            EncoderSituation::Inverted(held, first) => {
                // Held back: `first` then `held − 1` words of all ones, or after a carry
                // `first + 1` then zeros (`first` is never all ones: the carry stops there).
                // The interval passes 2^64 here, so the point is 2^64 and there always is a
                // carry.
                let (first, rest) = if carry {
                    (first.wrapping_add(1), 0)
                } else {
                    (first, u32::MAX)
                };
                out.extend_from_slice(&first.to_be_bytes());
                for _ in 1..held.get() {
                    out.extend_from_slice(&rest.to_be_bytes());
                }
                SealCase::Carry
            }
        };
        out.extend_from_slice(&(point as u64).to_be_bytes()[..bytes]);
        while out.last() == Some(&0) {
            out.pop();
        }
        (out, case)
    }
}

/// Decodes exactly `count` symbols from the symbol stream `payload` into `out` (cleared
/// first): symbol `k` with the table of dimension `k mod code_length`. `count` must be a
/// multiple of the code length; for a file it is `tiles × code_length`
/// ([`crate::CodedHeader::symbol_count`]).
///
/// Accepts exactly the streams [`encode_symbols`] writes: a stream that ends with a zero byte
/// ([`FormatError::TrailingZeroByte`]), that the decoder cannot follow
/// ([`FormatError::StreamInvalid`]) or that holds more or other final bytes than the encoding
/// of the symbols it decodes to ([`FormatError::StreamNotCanonical`]) is rejected, so that
/// `encode_symbols(out) == payload` whenever this succeeds. That is not an integrity check:
/// most damaged streams still decode to some symbols and are their canonical encoding; the
/// file's CRC is what catches damage.
///
/// Work is proportional to `count` (a longer payload is rejected before decoding) and `out`
/// grows to `count` symbols, so the caller bounds `count` (see [`crate::Limits::max_symbols`]).
/// On error, `out` holds the symbols decoded before the failure.
pub fn decode_symbols(
    payload: &[u8],
    tables: &SymbolTables,
    count: usize,
    out: &mut Vec<i32>,
) -> Result<(), FormatError> {
    let l = tables.code_length();
    check_multiple("count", count, l)?;
    out.clear();
    let mut dec = SymbolDecoder::new(payload, count)?;
    out.reserve(count);
    for _ in 0..count / l {
        for d in 0..l {
            out.push(dec.decode(d, tables)?);
        }
    }
    dec.finish()
}

/// A symbol stream read one symbol at a time, each with any table (the counterpart of
/// [`SymbolEncoder`]). The caller says up front how many symbols it may read, which bounds
/// the payload's length and the work; [`SymbolDecoder::finish`] checks that exactly the encoder's bytes
/// were given.
pub struct SymbolDecoder<'a> {
    dec: RangeDecoder<u32, u64, ByteWords<'a>>,
    payload_len: usize,
    count: usize,
    decoded: usize,
}

impl<'a> SymbolDecoder<'a> {
    /// A decoder for a stream of at most `count` symbols. Rejects a payload that ends with a
    /// zero byte or is longer than any encoding of `count` symbols.
    pub fn new(payload: &'a [u8], count: usize) -> Result<Self, FormatError> {
        if payload.last() == Some(&0) {
            return Err(FormatError::TrailingZeroByte {
                offset: payload.len() - 1,
            });
        }
        // The decoder reads two words, then at most one per symbol; an encoding never has
        // more.
        if payload.len() > count.saturating_add(2).saturating_mul(4) {
            return Err(FormatError::StreamNotCanonical { count });
        }
        let words = ByteWords {
            bytes: payload,
            pos: 0,
        };
        Ok(Self {
            dec: RangeDecoder::with_backend(words).unwrap_infallible(),
            payload_len: payload.len(),
            count,
            decoded: 0,
        })
    }

    /// The next symbol, with the distribution of `tables`' dimension `table`. Fails past
    /// `count` symbols.
    pub fn decode(&mut self, table: usize, tables: &SymbolTables) -> Result<i32, FormatError> {
        let index = self.next_index()?;
        let (t, model) = tables.entry(table, index)?;
        match self.dec.decode_symbol(model.as_view()) {
            Ok(i) => {
                self.decoded += 1;
                // i < n <= 65536 and min_symbol + n − 1 fits: no overflow.
                Ok(t.min_symbol.wrapping_add(i as i32))
            }
            Err(_) => Err(FormatError::StreamInvalid {
                index,
                dimension: table,
            }),
        }
    }

    /// The next symbol of a two-symbol distribution where `false` has probability
    /// `p0 / 2^24` (`1 <= p0 < 2^24`), as [`Interval::bit`] codes it. Fails past `count`
    /// symbols (`dimension` 0 in the error).
    pub(crate) fn decode_bit(&mut self, p0: u32) -> Result<bool, FormatError> {
        let index = self.next_index()?;
        match self.dec.decode_symbol(Binary { p0 }) {
            Ok(bit) => {
                self.decoded += 1;
                Ok(bit)
            }
            Err(_) => Err(FormatError::StreamInvalid {
                index,
                dimension: 0,
            }),
        }
    }

    /// The index of the next symbol, refused past the `count` declared.
    fn next_index(&self) -> Result<usize, FormatError> {
        if self.decoded >= self.count {
            return Err(FormatError::Invalid {
                field: "symbols",
                reason: format!("more than the {} symbols declared", self.count),
            });
        }
        Ok(self.decoded)
    }

    /// Symbols read so far.
    pub fn decoded(&self) -> usize {
        self.decoded
    }

    /// Checks that the payload is exactly the canonical encoding of the symbols read (which
    /// may be fewer than the `count` given to [`SymbolDecoder::new`], a bound; a caller that
    /// needs exactly `count` checks [`SymbolDecoder::decoded`]).
    pub fn finish(self) -> Result<(), FormatError> {
        let count = self.decoded;
        let state = self.dec.state();
        let (words, _, point) = self.dec.into_raw_parts();
        let (_, seal) = seal_point(state.lower(), state.range().get());
        if words.pos < self.payload_len || point != seal as u64 {
            return Err(FormatError::StreamNotCanonical { count });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(dims: &[(i32, Vec<u32>)]) -> SymbolTables {
        SymbolTables::new(
            dims.iter()
                .map(|(m, p)| SymbolTable {
                    min_symbol: *m,
                    probabilities: p.clone(),
                })
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn seal_point_is_the_roundest_point_of_the_interval() {
        // Whole range: 0 needs no byte.
        assert_eq!(seal_point(0, u64::MAX), (0, 0));
        // The smallest multiple of 2^56 in the interval, not the roundest number in it.
        assert_eq!(seal_point(1, 1 << 63), (1, 1 << 56));
        // An interval passing 2^64 holds 2^64 itself.
        assert_eq!(seal_point(u64::MAX - 5, 10), (0, 1 << 64));
        // Width 1: the point is `lower`, all 8 bytes unless it has trailing zeros.
        assert_eq!(
            seal_point(0x0102_0304_0506_0708, 1),
            (8, 0x0102_0304_0506_0708)
        );
        assert_eq!(
            seal_point(0x0102_0304_0506_0700, 1),
            (7, 0x0102_0304_0506_0700)
        );
    }

    #[test]
    fn every_seal_case_occurs_and_round_trips() {
        let t = tables(&[
            (-1, vec![1 << 20, (1 << 24) - (1 << 21), 1 << 20]),
            (0, {
                let mut p = vec![1u32 << 18; 64];
                p[0] += 1;
                p[1] -= 1;
                p
            }),
        ]);
        let mut seen = [0usize; 2];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut out = Vec::new();
        for trial in 0..3000 {
            let n = 2 * (1 + trial % 40);
            let symbols: Vec<i32> = (0..n)
                .map(|k| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if k % 2 == 0 {
                        [0, 0, 0, 0, 0, 0, 1, -1][(x % 8) as usize]
                    } else {
                        (x % 64) as i32
                    }
                })
                .collect();
            let (bytes, case) = encode_symbols_sealed(&symbols, &t).unwrap();
            seen[case as usize] += 1;
            decode_symbols(&bytes, &t, n, &mut out).unwrap();
            assert_eq!(out, symbols);
        }
        assert!(seen.iter().all(|&c| c > 0), "seal cases seen: {seen:?}");
    }
}
