//! The alpha plane of a version 2 file: the source's transparency, kept losslessly beside the
//! lossy colour. One byte a pixel, predicted from its neighbours by one of four filters, the
//! residuals DEFLATE-compressed (RFC 1951, raw, with `miniz_oxide`). SPEC.md §13.4.

use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

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
}

impl AlphaFilter {
    /// All filters, by byte value.
    pub const ALL: [AlphaFilter; 4] = [
        AlphaFilter::None,
        AlphaFilter::Left,
        AlphaFilter::Up,
        AlphaFilter::Gradient,
    ];

    /// The filter of byte `b`, `None` for a reserved value (4–255).
    pub fn from_byte(b: u8) -> Option<AlphaFilter> {
        Self::ALL.get(usize::from(b)).copied()
    }

    /// The filter's byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The prediction of the value at column `x` of a row, from the row so far (`row`, its
    /// values before `x`) and the row above (`up`, empty in the first row).
    fn predict(self, row: &[u8], up: &[u8], x: usize) -> u8 {
        let left = x.checked_sub(1).map(|i| row[i]);
        let above = up.get(x).copied();
        match (self, left, above) {
            (AlphaFilter::None, _, _) | (_, None, None) => 0,
            (AlphaFilter::Left, Some(l), _) | (_, Some(l), None) => l,
            (AlphaFilter::Up, _, Some(u)) | (_, None, Some(u)) => u,
            (AlphaFilter::Gradient, Some(l), Some(u)) => {
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
    /// The raw DEFLATE stream of the residuals, row by row: at least one byte.
    pub stream: Vec<u8>,
}

impl AlphaPlane {
    /// Compresses a `width × height` plane (row-major, one byte a pixel, 255 opaque) with
    /// whichever filter gives the shortest stream (the lowest-numbered of equals). A plane
    /// that is opaque everywhere is refused: such an image is written without an alpha plane.
    ///
    /// The four filters are tried on threads of their own (each holding a copy of the plane).
    pub fn encode(plane: &[u8], width: u32, height: u32) -> Result<AlphaPlane, FormatError> {
        check_plane(plane, width, height)?;
        let tried: Vec<AlphaPlane> = std::thread::scope(|s| {
            let runs: Vec<_> = AlphaFilter::ALL
                .iter()
                .map(|&f| s.spawn(move || Self::filtered(plane, width, f)))
                .collect();
            runs.into_iter()
                .map(|r| r.join().expect("DEFLATE does not panic"))
                .collect()
        });
        // `min_by_key` keeps the first of equals: the lowest filter number.
        Ok(tried
            .into_iter()
            .min_by_key(|p| p.stream.len())
            .expect("four filters"))
    }

    /// Compresses a `width × height` plane with `filter`. A plane that is opaque everywhere is
    /// refused.
    pub fn with_filter(
        plane: &[u8],
        width: u32,
        height: u32,
        filter: AlphaFilter,
    ) -> Result<AlphaPlane, FormatError> {
        check_plane(plane, width, height)?;
        Ok(Self::filtered(plane, width, filter))
    }

    /// Compresses a checked plane with `filter`.
    fn filtered(plane: &[u8], width: u32, filter: AlphaFilter) -> AlphaPlane {
        let stream = miniz_oxide::deflate::compress_to_vec(&residuals(plane, width, filter), LEVEL);
        AlphaPlane { filter, stream }
    }

    /// Length of the alpha section in a file: the filter byte, the stream's length and the
    /// stream.
    pub fn encoded_len(&self) -> usize {
        ALPHA_HEAD_LEN + self.stream.len()
    }

    /// Decompresses the plane of a `width × height` image. `offset` is where the stream
    /// starts in its file (for the errors). Checks, in order: that the stream is long enough
    /// to fill the plane at DEFLATE's largest ratio; that it is valid DEFLATE data ending in
    /// its last byte and inflating to exactly `width × height` bytes; that some value is not
    /// 255.
    pub fn decode(&self, width: u32, height: u32, offset: usize) -> Result<Vec<u8>, FormatError> {
        check_ratio(self.stream.len(), width, height, offset)?;
        let n = usize::try_from(u64::from(width) * u64::from(height)).map_err(|_| {
            FormatError::Invalid {
                field: "alpha plane",
                reason: "larger than this machine's memory can address".into(),
            }
        })?;
        let mut plane = inflate_exact(&self.stream, n, offset)?;
        unfilter(&mut plane, width, self.filter);
        if plane.iter().all(|&a| a == u8::MAX) {
            return Err(FormatError::OpaqueAlpha { offset });
        }
        Ok(plane)
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

/// Refuses a stream too short to inflate to a `width × height` plane.
pub(crate) fn check_ratio(
    len: usize,
    width: u32,
    height: u32,
    offset: usize,
) -> Result<(), FormatError> {
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

/// Turns residuals back into values, in place, row by row.
fn unfilter(plane: &mut [u8], width: u32, filter: AlphaFilter) {
    let w = width as usize;
    if filter == AlphaFilter::None || w == 0 {
        return;
    }
    let rows = plane.len() / w;
    for y in 0..rows {
        let (done, rest) = plane.split_at_mut(y * w);
        let up = if y == 0 {
            &[][..]
        } else {
            &done[(y - 1) * w..]
        };
        let row = &mut rest[..w];
        for x in 0..w {
            row[x] = row[x].wrapping_add(filter.predict(row, up, x));
        }
    }
}

/// Inflates `stream` into exactly `n` bytes, the stream ending in its last byte.
fn inflate_exact(stream: &[u8], n: usize, offset: usize) -> Result<Vec<u8>, FormatError> {
    let bad = |reason: String| FormatError::AlphaStream { offset, reason };
    let mut out = vec![0u8; n];
    let mut state = Box::<DecompressorOxide>::default();
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, read, written) = decompress(&mut state, stream, &mut out, 0, flags);
    match status {
        TINFLStatus::Done if written < n => {
            Err(bad(format!("inflates to {written} bytes, {n} expected")))
        }
        TINFLStatus::Done if read < stream.len() => Err(bad(format!(
            "{} byte(s) after the final block",
            stream.len() - read
        ))),
        TINFLStatus::Done => Ok(out),
        TINFLStatus::HasMoreOutput => Err(bad(format!("inflates to more than {n} bytes"))),
        TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
            Err(bad("ends before its final block".into()))
        }
        _ => Err(bad(format!("invalid DEFLATE data ({status:?})"))),
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
        assert_eq!(AlphaFilter::from_byte(4), None);
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
        let good = AlphaPlane::encode(&plane(33, 17), 33, 17).unwrap();
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
