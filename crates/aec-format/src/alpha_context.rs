//! The context-coded alpha plane (filter `4`, SPEC.md §13.5): each value predicted by the
//! gradient filter, its residual split into binary decisions whose probabilities adapt to
//! counts kept per context (how busy the neighbourhood is, and the residuals to the left and
//! above), range-coded with the symbol stream's coder (§14). Integers only: every machine
//! reads the same plane.

use crate::symbols::{Interval, SymbolDecoder, SymbolEncoder};
use crate::{AlphaFilter, FormatError};

/// Largest plane, in pixels, that is context-coded: an arithmetic code's length does not bound
/// the work of decoding it, this does (a writer falls back to DEFLATE above it).
pub const MAX_CONTEXT_PIXELS: u64 = 1 << 28;
/// Most binary decisions one pixel takes: zero, sign, 7 of the prefix, 7 of the suffix.
const MAX_DECISIONS: u64 = 16;
/// A context's counts are halved when their sum reaches this, so that they follow the plane.
const COUNT_LIMIT: u32 = 1024;
/// Classes of the neighbourhood's activity (`|L − C| + |U − C| + |UR − U|`, by bit length).
const ACTIVITY_CLASSES: usize = 8;
/// Classes of a neighbouring residual: 0, 1…2, ≥ 3, −2…−1, ≤ −3.
const RESIDUAL_CLASSES: usize = 5;
/// Contexts of the zero, sign and prefix decisions.
const CONTEXTS: usize = ACTIVITY_CLASSES * RESIDUAL_CLASSES * RESIDUAL_CLASSES;
/// Longest prefix of a magnitude (its bit length less one, `0…7`).
const MAX_PREFIX: usize = 7;

/// How often each value of one binary decision has occurred in its context.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    zeros: u32,
    ones: u32,
}

impl Counts {
    /// The probability of `false`, in units of 2^−24: `(2·zeros + 1) / (2·(zeros + ones) + 2)`,
    /// rounded down; always in `1 … 2^24 − 1`.
    fn p0(self) -> u32 {
        let num = (2 * u64::from(self.zeros) + 1) << 24;
        (num / (2 * u64::from(self.zeros + self.ones) + 2)) as u32
    }

    fn update(&mut self, bit: bool) {
        if bit {
            self.ones += 1;
        } else {
            self.zeros += 1;
        }
        if self.zeros + self.ones >= COUNT_LIMIT {
            self.zeros = self.zeros.div_ceil(2);
            self.ones = self.ones.div_ceil(2);
        }
    }
}

/// The counts of every decision in every context, all zero at the start of a plane.
struct Models {
    zero: Vec<Counts>,
    sign: Vec<Counts>,
    prefix: Vec<[Counts; MAX_PREFIX]>,
    /// By activity class, prefix length and bit.
    suffix: Vec<[[Counts; MAX_PREFIX]; MAX_PREFIX + 1]>,
}

impl Models {
    fn new() -> Self {
        Self {
            zero: vec![Counts::default(); CONTEXTS],
            sign: vec![Counts::default(); CONTEXTS],
            prefix: vec![[Counts::default(); MAX_PREFIX]; CONTEXTS],
            suffix: vec![[[Counts::default(); MAX_PREFIX]; MAX_PREFIX + 1]; ACTIVITY_CLASSES],
        }
    }
}

/// One binary decision at a time: an encoder codes the bit it is given, a decoder returns the
/// bit it reads (ignoring the one given). Both adapt the counts the same way.
trait Bits {
    fn code(&mut self, counts: &mut Counts, bit: bool) -> Result<bool, FormatError>;
}

impl Bits for SymbolEncoder {
    fn code(&mut self, counts: &mut Counts, bit: bool) -> Result<bool, FormatError> {
        self.encode_interval(Interval::bit(counts.p0(), bit))?;
        counts.update(bit);
        Ok(bit)
    }
}

impl Bits for SymbolDecoder<'_> {
    fn code(&mut self, counts: &mut Counts, _: bool) -> Result<bool, FormatError> {
        let bit = self.decode_bit(counts.p0())?;
        counts.update(bit);
        Ok(bit)
    }
}

/// Bit length of `v` (0 for 0), at most `cap`.
fn bit_length(v: u32, cap: usize) -> usize {
    ((u32::BITS - v.leading_zeros()) as usize).min(cap)
}

/// A residual's class for the contexts of its neighbours.
fn residual_class(e: i32) -> usize {
    match e {
        0 => 0,
        1..=2 => 1,
        3.. => 2,
        -2..=-1 => 3,
        _ => 4,
    }
}

/// Codes one residual (`−128 … 127`) in context `ctx` with activity class `activity`; returns
/// the residual coded (read, for a decoder), or `None` for a magnitude no encoder writes.
fn code_residual<B: Bits>(
    b: &mut B,
    m: &mut Models,
    ctx: usize,
    activity: usize,
    e: i32,
) -> Result<Option<i32>, FormatError> {
    if !b.code(&mut m.zero[ctx], e != 0)? {
        return Ok(Some(0));
    }
    let negative = b.code(&mut m.sign[ctx], e < 0)?;
    let magnitude = e.unsigned_abs();
    let n_given = bit_length(magnitude, 8).saturating_sub(1);
    let mut n = 0;
    while n < MAX_PREFIX && b.code(&mut m.prefix[ctx][n], n < n_given)? {
        n += 1;
    }
    let mut rest = 0u32;
    for i in (0..n).rev() {
        if b.code(&mut m.suffix[activity][n][i], magnitude >> i & 1 == 1)? {
            rest |= 1 << i;
        }
    }
    let magnitude = (1u32 << n) + rest;
    Ok(match (negative, magnitude) {
        (false, 1..=127) => Some(magnitude as i32),
        (true, 1..=128) => Some(-(magnitude as i32)),
        _ => None,
    })
}

/// Codes one row, left to right: `row` holds the values (an encoder's input; a decoder's
/// output, filled as it goes), `up` the row above (empty for the first), `up_classes` the
/// classes of the residuals above (all 0 for the first row), replaced by this row's.
/// Returns the column of a residual out of range, if any (only a decoder meets one).
fn code_row<B: Bits>(
    b: &mut B,
    m: &mut Models,
    row: &mut [u8],
    up: &[u8],
    up_classes: &mut [u8],
) -> Result<Option<usize>, FormatError> {
    let w = row.len();
    let mut left_class = 0;
    for x in 0..w {
        let p = AlphaFilter::Gradient.predict(row, up, x);
        let activity = if up.is_empty() {
            0
        } else {
            let u = i32::from(up[x]);
            let at = |i: Option<usize>| i.filter(|&i| i < w).map_or(u, |i| i32::from(up[i]));
            let (c, ur) = (at(x.checked_sub(1)), at(Some(x + 1)));
            let l = x.checked_sub(1).map_or(u, |i| i32::from(row[i]));
            let busy = (l - c).unsigned_abs() + (u - c).unsigned_abs() + (ur - u).unsigned_abs();
            bit_length(busy, ACTIVITY_CLASSES - 1)
        };
        let ctx = (activity * RESIDUAL_CLASSES + left_class) * RESIDUAL_CLASSES
            + usize::from(up_classes[x]);
        let given = i32::from(row[x].wrapping_sub(p) as i8);
        let Some(e) = code_residual(b, m, ctx, activity, given)? else {
            return Ok(Some(x));
        };
        row[x] = p.wrapping_add(e as u8);
        left_class = residual_class(e);
        up_classes[x] = left_class as u8;
    }
    Ok(None)
}

/// The context code of a `width`-wide plane (row-major, at most [`MAX_CONTEXT_PIXELS`]
/// pixels). Empty exactly when the plane is 0 everywhere.
pub(crate) fn encode(plane: &[u8], width: u32) -> Vec<u8> {
    let w = width as usize;
    let mut enc = SymbolEncoder::with_capacity(plane.len());
    let mut models = Models::new();
    let mut up_classes = vec![0u8; w];
    let mut row = vec![0u8; w];
    for (y, values) in plane.chunks_exact(w).enumerate() {
        row.copy_from_slice(values);
        let up = if y == 0 {
            &[][..]
        } else {
            &plane[(y - 1) * w..y * w]
        };
        let bad = code_row(&mut enc, &mut models, &mut row, up, &mut up_classes)
            .expect("24-bit binary intervals always code");
        debug_assert!(bad.is_none() && row == values);
    }
    enc.finish()
}

/// Decodes the context code `stream` of a `width × height` plane row by row into `f`, holding
/// two rows and the counts whatever the plane's size. `offset` is where the stream starts in
/// its file (for the errors). The caller has checked the plane against [`MAX_CONTEXT_PIXELS`]
/// (`alpha::check_size`). Refuses a stream the coder cannot follow or that spells a residual
/// out of range, and one that is not exactly the encoding of the plane it decodes to.
pub(crate) fn for_each_row(
    stream: &[u8],
    width: u32,
    height: u32,
    offset: usize,
    mut f: impl FnMut(&[u8]),
) -> Result<(), FormatError> {
    let bad = |reason: String| FormatError::AlphaStream { offset, reason };
    let pixels = u64::from(width) * u64::from(height);
    let count = usize::try_from(pixels * MAX_DECISIONS).unwrap_or(usize::MAX);
    let mut dec = SymbolDecoder::new(stream, count).map_err(|e| bad(e.to_string()))?;
    let w = width as usize;
    let mut models = Models::new();
    let (mut row, mut up, mut up_classes) = (vec![0u8; w], Vec::with_capacity(w), vec![0u8; w]);
    for y in 0..height {
        let out = code_row(&mut dec, &mut models, &mut row, &up, &mut up_classes);
        let at = |x: usize| format!("pixel ({x}, {y})");
        match out {
            Ok(None) => {}
            Ok(Some(x)) => return Err(bad(format!("a residual out of range at {}", at(x)))),
            Err(_) => {
                return Err(bad(format!(
                    "invalid range code in row {y} (decision {})",
                    dec.decoded()
                )))
            }
        }
        f(&row);
        std::mem::swap(&mut row, &mut up);
        row.resize(w, 0);
    }
    dec.finish()
        .map_err(|_| bad("not the encoding of the plane it decodes to".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a whole plane, sizes checked as a reader does.
    fn decode(stream: &[u8], w: u32, h: u32) -> Result<Vec<u8>, FormatError> {
        crate::alpha::check_size(AlphaFilter::Context, stream.len(), w, h, 0)?;
        let mut out = Vec::new();
        for_each_row(stream, w, h, 0, |r| out.extend_from_slice(r))?;
        Ok(out)
    }

    #[test]
    fn counts_give_probabilities_inside_the_range() {
        let mut c = Counts::default();
        assert_eq!(c.p0(), 1 << 23);
        for bit in [false, true] {
            for _ in 0..5000 {
                c.update(bit);
                assert!(c.p0() >= 1 && c.p0() < 1 << 24);
                assert!(c.zeros + c.ones < COUNT_LIMIT);
            }
            // The counts follow the plane: 5,000 of one value outweigh those before.
            assert_eq!(c.p0() < 1 << 23, bit);
        }
    }

    #[test]
    fn every_residual_round_trips_in_every_context() {
        // A plane whose residuals take every value from −128 to 127: each row a ramp of
        // steps, the rows shifted.
        let (w, h) = (256u32, 40u32);
        let plane: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x * (y + 1) * 37 % 256) as u8 ^ (y as u8)))
            .collect();
        let stream = encode(&plane, w);
        assert_eq!(decode(&stream, w, h).unwrap(), plane);
        // Every size, edge columns and rows included.
        for (w, h) in [(1, 1), (1, 7), (7, 1), (2, 3), (17, 5)] {
            let p: Vec<u8> = (0..w * h).map(|i| (i * 97 % 251) as u8).collect();
            assert_eq!(decode(&encode(&p, w), w, h).unwrap(), p, "{w}×{h}");
        }
    }

    #[test]
    fn only_the_zero_plane_codes_to_nothing() {
        assert!(encode(&[0; 12], 4).is_empty());
        assert_eq!(decode(&[], 4, 3).unwrap(), [0; 12]);
        assert!(!encode(&[0, 0, 0, 1], 2).is_empty());
    }

    #[test]
    fn damaged_streams_are_refused_with_where() {
        let plane: Vec<u8> = (0..64u32 * 16).map(|i| (i % 64 * 4) as u8).collect();
        let stream = encode(&plane, 64);
        let err = |s: &[u8], w, h| match decode(s, w, h) {
            Err(FormatError::AlphaStream { offset: 0, reason }) => reason,
            other => panic!("{other:?}"),
        };
        let mut extra = stream.clone();
        extra.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(err(&extra, 64, 16).contains("not the encoding"));
        assert!(err(&stream, 65536, 4097).contains("more than"));
        let mut zero_end = stream.clone();
        zero_end.push(0);
        assert!(err(&zero_end, 64, 16).contains("zero"));
    }
}
