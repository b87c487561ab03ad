//! The alpha plane of a version 2 file: the source's transparency, kept losslessly beside the
//! lossy colour. One byte a pixel, predicted from its neighbours by one of four filters, the
//! residuals DEFLATE-compressed (RFC 1951, raw, with `miniz_oxide`), or context-coded
//! (`alpha_context`). SPEC.md §13.4, §13.5.

use miniz_oxide::inflate::core::{decompress, DecompressorOxide, TINFL_LZ_DICT_SIZE};
use miniz_oxide::inflate::TINFLStatus;

use crate::alpha_context::{self, MAX_CONTEXT_PIXELS};
use crate::FormatError;

/// Bit 7 of a version 2 file's kind byte: an alpha section follows the header.
pub const ALPHA_FLAG: u8 = 0x80;
/// Bytes of the alpha section before its stream: the filter byte and the stream's length.
pub const ALPHA_HEAD_LEN: usize = 5;
/// Most bytes one byte of DEFLATE data can inflate to (a 258-byte match in two bits): a
/// stream declared shorter than `plane / 1032` cannot fill the plane, and is refused before
/// the plane is allocated.
pub const MAX_INFLATE_RATIO: u64 = 1032;
/// The compression level of the writer (`miniz_oxide`'s 0–10): level 10 gained little more on
/// the planes tried, at more time; level 6 lost much on smooth ones.
const LEVEL: u8 = 9;

/// How each alpha value is predicted before its residual is compressed (SPEC.md §13.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlphaFilter {
    /// `0`: no prediction (hard masks: DEFLATE's runs do best on the values themselves).
    None,
    /// `1`: the value to the left (the one above in the first column).
    Left,
    /// `2`: the value above (the one to the left in the first row).
    Up,
    /// `3`: `clamp(left + up − upper-left, 0, 255)` (soft edges and gradients).
    Gradient,
    /// `4`: the gradient's prediction, the residuals range-coded with probabilities that adapt
    /// to their neighbourhood instead of DEFLATE-compressed (soft mattes, noise, anti-aliased
    /// edges; planes of at most [`MAX_CONTEXT_PIXELS`] pixels).
    Context,
}

impl AlphaFilter {
    /// All filters, by byte value.
    pub const ALL: [AlphaFilter; 5] = [
        AlphaFilter::None,
        AlphaFilter::Left,
        AlphaFilter::Up,
        AlphaFilter::Gradient,
        AlphaFilter::Context,
    ];

    /// The filter of byte `b`, `None` for a reserved value (5–255).
    pub fn from_byte(b: u8) -> Option<AlphaFilter> {
        Self::ALL.get(usize::from(b)).copied()
    }

    /// The filter's byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The prediction of the value at column `x` of a row, from the row so far (`row`, its
    /// values before `x`) and the row above (`up`, empty in the first row).
    pub(crate) fn predict(self, row: &[u8], up: &[u8], x: usize) -> u8 {
        let left = x.checked_sub(1).map(|i| row[i]);
        let above = up.get(x).copied();
        match (self, left, above) {
            (AlphaFilter::None, _, _) | (_, None, None) => 0,
            (AlphaFilter::Left, Some(l), _) | (_, Some(l), None) => l,
            (AlphaFilter::Up, _, Some(u)) | (_, None, Some(u)) => u,
            (AlphaFilter::Gradient | AlphaFilter::Context, Some(l), Some(u)) => {
                let g = i32::from(l) + i32::from(u) - i32::from(up[x - 1]);
                g.clamp(0, 255) as u8
            }
        }
    }
}

/// A compressed alpha plane: the filter and the DEFLATE stream of the filtered values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlphaPlane {
    /// How the values were predicted.
    pub filter: AlphaFilter,
    /// The raw DEFLATE stream of the residuals, row by row, or their context code: at least
    /// one byte.
    pub stream: Vec<u8>,
}

impl AlphaPlane {
    /// Compresses a `width × height` plane (row-major, one byte a pixel, 255 opaque) with
    /// whichever filter gives the shortest stream (the lowest-numbered of equals; the context
    /// code only where it may be used and is not empty). A plane that is opaque everywhere is
    /// refused: such an image is written without an alpha plane.
    ///
    /// The filters are tried on threads of their own (each holding a copy of the plane).
    pub fn encode(plane: &[u8], width: u32, height: u32) -> Result<AlphaPlane, FormatError> {
        check_plane(plane, width, height)?;
        let tried: Vec<AlphaPlane> = std::thread::scope(|s| {
            let runs: Vec<_> = AlphaFilter::ALL
                .iter()
                .map(|&f| s.spawn(move || Self::filtered(plane, width, f)))
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("the coders do not panic"))
                .collect()
        });
        // `min_by_key` keeps the first of equals: the lowest filter number.
        Ok(tried
            .into_iter()
            .filter(|p| !p.stream.is_empty())
            .min_by_key(|p| p.stream.len())
            .expect("DEFLATE streams are never empty"))
    }

    /// Compresses a `width × height` plane with `filter`. A plane that is opaque everywhere is
    /// refused, and so is the context code of a plane over [`MAX_CONTEXT_PIXELS`] or of one
    /// that is 0 everywhere (its code would be empty).
    pub fn with_filter(
        plane: &[u8],
        width: u32,
        height: u32,
        filter: AlphaFilter,
    ) -> Result<AlphaPlane, FormatError> {
        check_plane(plane, width, height)?;
        let coded = Self::filtered(plane, width, filter);
        if coded.stream.is_empty() {
            return Err(FormatError::Invalid {
                field: "alpha plane",
                reason: "transparent everywhere or too large for the context code".into(),
            });
        }
        Ok(coded)
    }

    /// Compresses a checked plane with `filter`: the context code is empty for a plane that
    /// is 0 everywhere or over [`MAX_CONTEXT_PIXELS`].
    fn filtered(plane: &[u8], width: u32, filter: AlphaFilter) -> AlphaPlane {
        let stream = match filter {
            AlphaFilter::Context if plane.len() as u64 > MAX_CONTEXT_PIXELS => Vec::new(),
            AlphaFilter::Context => alpha_context::encode(plane, width),
            _ => miniz_oxide::deflate::compress_to_vec(&residuals(plane, width, filter), LEVEL),
        };
        AlphaPlane { filter, stream }
    }

    /// Length of the alpha section in a file: the filter byte, the stream's length and the
    /// stream.
    pub fn encoded_len(&self) -> usize {
        ALPHA_HEAD_LEN + self.stream.len()
    }

    /// Decompresses the plane of a `width × height` image. `offset` is where the stream
    /// starts in its file (for the errors). Checks, in order: for DEFLATE, that the stream is
    /// long enough to fill the plane at DEFLATE's largest ratio, that it is valid DEFLATE data
    /// ending in its last byte and inflating to exactly `width × height` bytes; for the
    /// context code, that the plane is at most [`MAX_CONTEXT_PIXELS`] and the stream exactly
    /// its code; then that some value is not 255.
    pub fn decode(&self, width: u32, height: u32, offset: usize) -> Result<Vec<u8>, FormatError> {
        // The ratio and the size are checked before the plane's room is taken.
        self.check_size(width, height, offset)?;
        let n = u64::from(width) * u64::from(height);
        let mut plane =
            Vec::with_capacity(usize::try_from(n).map_err(|_| FormatError::Invalid {
                field: "alpha plane",
                reason: "larger than this machine's memory can address".into(),
            })?);
        self.rows(width, height, offset, |row| plane.extend_from_slice(row))?;
        Ok(plane)
    }

    /// Decompresses the plane row by row into `f`, holding two rows and DEFLATE's 32 KiB
    /// window (or the context code's counts) whatever the image's size, with
    /// [`AlphaPlane::decode`]'s checks (the last ones after every row has been given to `f`).
    pub fn for_each_row(
        &self,
        width: u32,
        height: u32,
        offset: usize,
        f: impl FnMut(&[u8]),
    ) -> Result<(), FormatError> {
        self.check_size(width, height, offset)?;
        self.rows(width, height, offset, f)
    }

    /// [`AlphaPlane::for_each_row`] after the size checks.
    fn rows(
        &self,
        width: u32,
        height: u32,
        offset: usize,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), FormatError> {
        let mut opaque = true;
        let mut each = |row: &[u8]| {
            opaque &= row.iter().all(|&a| a == u8::MAX);
            f(row);
        };
        if self.filter == AlphaFilter::Context {
            alpha_context::for_each_row(&self.stream, width, height, offset, each)?;
        } else {
            self.inflate_rows(width, height, offset, &mut each)?;
        }
        if opaque {
            return Err(FormatError::OpaqueAlpha { offset });
        }
        Ok(())
    }

    /// Refuses a plane its stream cannot fill (DEFLATE) or that is too large to context-code.
    fn check_size(&self, width: u32, height: u32, offset: usize) -> Result<(), FormatError> {
        check_size(self.filter, self.stream.len(), width, height, offset)
    }

    /// Inflates the DEFLATE stream row by row into `f`, unfiltering each row.
    fn inflate_rows(
        &self,
        width: u32,
        height: u32,
        offset: usize,
        f: &mut impl FnMut(&[u8]),
    ) -> Result<(), FormatError> {
        let bad = |reason: String| FormatError::AlphaStream { offset, reason };
        let (w, n) = (width as usize, u64::from(width) * u64::from(height));
        let mut window = vec![0u8; TINFL_LZ_DICT_SIZE];
        let mut state = Box::<DecompressorOxide>::default();
        let (mut row, mut up) = (Vec::with_capacity(w), Vec::with_capacity(w));
        let (mut input, mut at, mut total) = (&self.stream[..], 0usize, 0u64);
        loop {
            let (status, read, written) = decompress(&mut state, input, &mut window, at, 0);
            input = &input[read..];
            if total + written as u64 > n {
                return Err(bad(format!("inflates to more than {n} bytes")));
            }
            total += written as u64;
            for &r in &window[at..at + written] {
                row.push(r);
                if row.len() == w {
                    unfilter_row(&mut row, &up, self.filter);
                    f(&row);
                    std::mem::swap(&mut row, &mut up);
                    row.clear();
                }
            }
            at = (at + written) & (TINFL_LZ_DICT_SIZE - 1);
            match status {
                TINFLStatus::Done => break,
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
                    return Err(bad("ends before its final block".into()))
                }
                _ => return Err(bad(format!("invalid DEFLATE data ({status:?})"))),
            }
        }
        if total < n {
            return Err(bad(format!("inflates to {total} bytes, {n} expected")));
        }
        if !input.is_empty() {
            return Err(bad(format!(
                "{} byte(s) after the final block",
                input.len()
            )));
        }
        Ok(())
    }
}

/// A plane to compress: `width × height` bytes, not all 255.
fn check_plane(plane: &[u8], width: u32, height: u32) -> Result<(), FormatError> {
    let invalid = |reason: String| {
        Err(FormatError::Invalid {
            field: "alpha plane",
            reason,
        })
    };
    if plane.len() as u64 != u64::from(width) * u64::from(height) {
        return invalid(format!(
            "{} bytes for a {width}×{height} image",
            plane.len()
        ));
    }
    if plane.iter().all(|&a| a == u8::MAX) {
        return invalid("opaque everywhere: write no alpha plane".into());
    }
    Ok(())
}

/// Refuses a `width × height` plane that a stream of `len` bytes under `filter` cannot fill
/// (DEFLATE) or that is too large to context-code: what a reader checks before decoding.
pub(crate) fn check_size(
    filter: AlphaFilter,
    len: usize,
    width: u32,
    height: u32,
    offset: usize,
) -> Result<(), FormatError> {
    if filter != AlphaFilter::Context {
        return check_ratio(len, width, height, offset);
    }
    if u64::from(width) * u64::from(height) > MAX_CONTEXT_PIXELS {
        return Err(FormatError::AlphaStream {
            offset,
            reason: format!(
                "a context-coded plane of {width}×{height}: more than {MAX_CONTEXT_PIXELS} pixels"
            ),
        });
    }
    Ok(())
}

/// Refuses a stream too short to inflate to a `width × height` plane.
fn check_ratio(len: usize, width: u32, height: u32, offset: usize) -> Result<(), FormatError> {
    let pixels = u64::from(width) * u64::from(height);
    if (len as u64).saturating_mul(MAX_INFLATE_RATIO) < pixels {
        return Err(FormatError::AlphaStream {
            offset,
            reason: format!(
                "{len} bytes cannot inflate to a {width}×{height} plane ({MAX_INFLATE_RATIO} bytes a byte at most)"
            ),
        });
    }
    Ok(())
}

/// The residuals of `plane` under `filter`, row by row.
fn residuals(plane: &[u8], width: u32, filter: AlphaFilter) -> Vec<u8> {
    let w = width as usize;
    let mut out = Vec::with_capacity(plane.len());
    for (y, row) in plane.chunks_exact(w).enumerate() {
        let up = if y == 0 {
            &[][..]
        } else {
            &plane[(y - 1) * w..y * w]
        };
        out.extend((0..w).map(|x| row[x].wrapping_sub(filter.predict(row, up, x))));
    }
    out
}

/// Turns one row of residuals back into values, in place, given the row above (empty for the
/// first).
fn unfilter_row(row: &mut [u8], up: &[u8], filter: AlphaFilter) {
    if filter == AlphaFilter::None {
        return;
    }
    for x in 0..row.len() {
        row[x] = row[x].wrapping_add(filter.predict(row, up, x));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A soft disc on a transparent ground, a hard bar, and noise: every filter's case.
    fn plane(w: u32, h: u32) -> Vec<u8> {
        let mut seed = 7u32;
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let d = ((x as f32 - w as f32 / 2.0).hypot(y as f32 - h as f32 / 2.0)) / 4.0;
                let disc = (255.0 * (3.0 - d).clamp(0.0, 1.0)) as u8;
                out.push(match y % 7 {
                    0 if x % 3 == 0 => 255,
                    1 if w > 40 => (seed >> 24) as u8,
                    _ => disc,
                });
            }
        }
        out
    }

    #[test]
    fn every_filter_round_trips_on_every_shape() {
        for (w, h) in [(1, 1), (1, 9), (9, 1), (2, 2), (33, 17), (64, 48)] {
            let mut p = plane(w, h);
            p[0] = 3; // never opaque everywhere
            for f in AlphaFilter::ALL {
                let a = AlphaPlane::with_filter(&p, w, h, f).unwrap();
                assert_eq!(a.decode(w, h, 0).unwrap(), p, "{w}×{h} {f:?}");
                assert_eq!(AlphaFilter::from_byte(f.to_byte()), Some(f));
            }
            let best = AlphaPlane::encode(&p, w, h).unwrap();
            let shortest = AlphaFilter::ALL
                .iter()
                .map(|&f| AlphaPlane::with_filter(&p, w, h, f).unwrap().stream.len())
                .min();
            assert_eq!(Some(best.stream.len()), shortest);
        }
        assert_eq!(AlphaFilter::from_byte(5), None);
    }

    #[test]
    fn the_filters_predict_what_the_spec_says() {
        // 3×2: row 0 = 10 20 30, row 1 = 40 50 60.
        let p = [10, 20, 30, 40, 50, 60];
        let r = |f| residuals(&p, 3, f);
        assert_eq!(r(AlphaFilter::None), p);
        assert_eq!(r(AlphaFilter::Left), [10, 10, 10, 30, 10, 10]);
        assert_eq!(r(AlphaFilter::Up), [10, 10, 10, 30, 30, 30]);
        // Row 1: 40 − 10 (up), 50 − clamp(40 + 20 − 10), 60 − clamp(50 + 30 − 20).
        assert_eq!(r(AlphaFilter::Gradient), [10, 10, 10, 30, 0, 0]);
        // The clamp: left 250 + up 250 − upper-left 0 predicts 255.
        let q = [0, 250, 250, 1];
        assert_eq!(
            residuals(&q, 2, AlphaFilter::Gradient)[3],
            1u8.wrapping_sub(255)
        );
    }

    #[test]
    fn bad_planes_and_streams_are_refused() {
        assert!(matches!(
            AlphaPlane::encode(&[255; 6], 3, 2),
            Err(FormatError::Invalid { .. })
        ));
        assert!(matches!(
            AlphaPlane::encode(&[0; 5], 3, 2),
            Err(FormatError::Invalid { .. })
        ));
        let good = AlphaPlane::with_filter(&plane(33, 17), 33, 17, AlphaFilter::Gradient).unwrap();
        let stream_err = |a: &AlphaPlane, w, h| match a.decode(w, h, 40) {
            Err(FormatError::AlphaStream { offset: 40, reason }) => reason,
            other => panic!("{other:?}"),
        };
        // Another size than the plane's: too short, too long.
        assert!(stream_err(&good, 33, 16).contains("more than"));
        assert!(stream_err(&good, 33, 18).contains("inflates to 561 bytes"));
        // A byte after the final block; the stream cut short; garbage.
        let mut extra = good.clone();
        extra.stream.push(0);
        assert!(stream_err(&extra, 33, 17).contains("after the final block"));
        let mut cut = good.clone();
        cut.stream.truncate(cut.stream.len() / 2);
        assert!(stream_err(&cut, 33, 17).contains("ends before"));
        let junk = AlphaPlane {
            filter: AlphaFilter::None,
            stream: vec![0xff; 40],
        };
        assert!(stream_err(&junk, 33, 17).contains("invalid"));
        // A plane far larger than the stream could fill is refused before it is allocated.
        assert!(stream_err(&good, 65535, 65535).contains("cannot inflate"));
        // An opaque plane, however encoded, is not an alpha plane.
        let opaque = AlphaPlane::filtered(&[255; 6], 3, AlphaFilter::Left);
        assert!(matches!(
            opaque.decode(3, 2, 9),
            Err(FormatError::OpaqueAlpha { offset: 9 })
        ));
    }
}
