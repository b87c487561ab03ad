//! The matrix product of the encoder's fixed-point analysis: 16-bit integers times 16-bit
//! integers, `out[i, j] = bias[j] + Σₛ scale[j]·unit[i, s] · Σ_{k in s} a[i, k]·q[k, j]`.
//!
//! `q` is a matrix of reals quantized per column (`scale[j]` is its column's largest magnitude
//! over [`Packed16`]'s weight limit); `a`'s values are integers in units that may change from
//! one stretch `s` of `k` to the next (block floating point: a pixel's channels share one).
//! Each stretch's sum is taken in 32-bit integers (pairs of values at a time, as the AVX2
//! instruction `vpmaddwd` takes them), then added to the output in floats,
//! `out ← fma(S, scale·unit, out)` from the bias: the weight limit keeps every stretch's sum
//! exact for inputs within the input limit. Integer sums have no order, and the float steps are
//! the same on every path, so the AVX2 kernel and the portable one give the same bits.
//!
//! A 16-bit multiply-add instruction does twice the products of a float one, and the operands
//! take half the memory; on the AVX2 machine measured (`docs/hyperprior.md`) `vpmaddwd` with its
//! 32-bit additions runs 1.4× the multiply-adds of FMA, this kernel 1.1–1.15× the float one's.

use super::aligned::Aligned;
use super::panel::{pack, Out, Runs, PANEL};
use crate::cpu_path::Path;

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod rows;

/// Rows of `a` per block of the AVX2 kernel (12 accumulators of 8 lanes).
const ROWS: usize = 6;

/// A `k × n` matrix of reals quantized to 16-bit integers per column, packed as panels of
/// [`PANEL`] columns, each `⌈k/2⌉` pairs of rows interleaved (`q[2t, j], q[2t+1, j]` side by
/// side, a zero row after an odd `k`), with each column's scale and bias.
#[derive(Debug, Clone)]
pub struct Packed16 {
    k: usize,
    n: usize,
    /// Values of `k` per stretch (an even number).
    stretch: usize,
    panels: Aligned<i16>,
    scale: Vec<f32>,
    bias: Vec<f32>,
    /// The same integers as tiles of the AMX kernel, packed on its first use.
    #[cfg(target_arch = "x86_64")]
    tiles: std::sync::OnceLock<Aligned<u8>>,
}

impl Packed16 {
    /// Packs `b(k, j)` for `k < rows`, `j < cols`, for stretches of `stretch` values (even),
    /// quantized so that inputs of magnitude up to `input_limit` give exact stretch sums: each
    /// column's integers reach `min(32767, (2³¹ − 1) / (stretch · input_limit))`.
    pub fn new(
        (rows, cols): (usize, usize),
        b: impl Fn(usize, usize) -> f32,
        bias: &[f32],
        (stretch, input_limit): (usize, i16),
    ) -> Self {
        assert_eq!(bias.len(), cols, "one bias per column");
        assert!(input_limit > 0, "a positive input limit");
        assert!(stretch > 0 && stretch % 2 == 0, "stretches of whole pairs");
        let limit = (i32::MAX as usize / (stretch * input_limit as usize)).min(i16::MAX as usize);
        assert!(limit > 0, "stretches short enough for exact 32-bit sums");
        // `b` once, column by column.
        let reals: Vec<f32> = (0..cols)
            .flat_map(|j| (0..rows).map(move |k| (k, j)))
            .map(|(k, j)| b(k, j))
            .collect();
        let scale: Vec<f32> = (reals.chunks(rows.max(1)).take(cols))
            .map(|column| column.iter().fold(0f32, |m, v| m.max(v.abs())) / limit as f32)
            .collect();
        let quantized = |k: usize, j: usize| -> i16 {
            if k >= rows || scale[j] == 0.0 {
                return 0;
            }
            let q = (reals[j * rows + k] / scale[j]).round();
            q.clamp(-(limit as f32), limit as f32) as i16
        };
        // Panels of PANEL columns over pairs of rows: as `PANEL` columns of `2·PANEL` values.
        let pairs = rows.div_ceil(2);
        let (panels, _) = pack(
            pairs,
            cols * 2,
            PANEL * 2,
            |t, jj| quantized(2 * t + jj % 2, jj / 2),
            &vec![0; cols * 2],
        );
        let padded = cols.div_ceil(PANEL) * PANEL;
        let mut scale = scale;
        scale.resize(padded, 0.0);
        let mut bias = bias.to_vec();
        bias.resize(padded, 0.0);
        Self {
            k: rows,
            n: cols,
            stretch,
            panels,
            scale,
            bias,
            #[cfg(target_arch = "x86_64")]
            tiles: std::sync::OnceLock::new(),
        }
    }

    /// Whether all of `k` is one stretch (rows then need one unit each).
    fn one_stretch(&self) -> bool {
        self.k <= self.stretch
    }

    /// The quantized value at `(k, j)`.
    fn q(&self, k: usize, j: usize) -> i16 {
        let pairs = self.k.div_ceil(2);
        let (p, c) = (j / PANEL, j % PANEL);
        self.panels[((p * pairs + k / 2) * PANEL + c) * 2 + k % 2]
    }
}

/// Writes the product of the `rows × k` row-major matrix `a` and `b` to `out`, on `path`;
/// `units` holds each row's unit for each stretch (row-major), or is empty for units of 1.
/// For an odd `k`, `a` holds one value more (any: it meets the zero row).
pub fn product(path: Path, a: &[i16], units: &[f32], rows: usize, b: &Packed16, out: Out<'_>) {
    let (k, kc) = (b.k, b.stretch);
    assert!(
        rows == 0 || a.len() >= rows * k + k % 2,
        "a holds {rows} rows"
    );
    let stretches = k.div_ceil(kc);
    assert!(
        units.is_empty() || units.len() >= rows * stretches,
        "a unit for every stretch"
    );
    check_out(rows, b, &out);
    if b.one_stretch() {
        // Each row's one unit is its stretch's.
        return product_rows(path, (a, k), units, rows, b, out);
    }
    let pieces: Vec<Piece> = (0..k)
        .step_by(kc)
        .enumerate()
        .map(|(stretch, k0)| Piece {
            k0,
            len: kc.min(k - k0),
            last: true,
            stretch,
            run: 0,
            offset: k0,
        })
        .collect();
    let at = |i: usize, piece: &Piece| i * k + piece.offset;
    let unit = |i: usize, piece: &Piece| match units {
        [] => 1.0,
        _ => units[i * stretches + piece.stretch],
    };
    run(path, a, b, out, &Layout::new(rows, &pieces, at, unit));
}

/// [`product`] of the `rows` rows of `a` read in place: the same bits as those rows gathered.
/// Every run has an even length (a pair never spans two); `units[p / stretch]` is the unit
/// of source values from `p` (every run and its start then whole stretches), or `units` is
/// empty for units of 1.
pub fn product_runs(
    path: Path,
    a: &Runs<'_, i16>,
    units: &[f32],
    rows: usize,
    b: &Packed16,
    out: Out<'_>,
) {
    let (runs, kc) = (a.lens.len(), b.stretch);
    assert_eq!(
        a.lens.iter().sum::<usize>(),
        b.k,
        "the runs make rows of k values"
    );
    assert!(a.lens.iter().all(|l| l % 2 == 0), "runs of whole pairs");
    assert!(a.gathered.is_empty(), "runs of the source alone");
    assert_eq!(a.starts.len(), rows * runs, "runs for {rows} rows");
    for row in a.starts.chunks_exact(runs.max(1)) {
        for (&start, &len) in row.iter().zip(a.lens) {
            assert!(start + len <= a.src.len(), "a run inside the source");
        }
    }
    if !units.is_empty() {
        assert!(
            a.lens.iter().all(|l| l % kc == 0),
            "runs of whole stretches"
        );
        assert!(
            a.starts.iter().all(|s| s % kc == 0),
            "runs from a stretch's start"
        );
        assert!(
            units.len() >= a.src.len() / kc,
            "a unit for every stretch of the source"
        );
    }
    check_out(rows, b, &out);
    // Each run cut where a stretch ends: the stretches are those of the gathered rows.
    let mut pieces = Vec::new();
    let mut k0 = 0;
    for (t, &len) in a.lens.iter().enumerate() {
        let mut off = 0;
        while off < len {
            let take = (kc - (k0 + off) % kc).min(len - off);
            let end = k0 + off + take;
            pieces.push(Piece {
                k0: k0 + off,
                len: take,
                last: end % kc == 0 || end == b.k,
                stretch: (k0 + off) / kc,
                run: t,
                offset: off,
            });
            off += take;
        }
        k0 += len;
    }
    let at = |i: usize, piece: &Piece| a.starts[i * runs + piece.run] + piece.offset;
    // A shift where the stretch is a power of two (a division costs tens of cycles).
    let shift = kc.is_power_of_two().then(|| kc.trailing_zeros());
    let unit = |i: usize, piece: &Piece| match (units, shift) {
        ([], _) => 1.0,
        (_, Some(shift)) => units[at(i, piece) >> shift],
        (_, None) => units[at(i, piece) / kc],
    };
    run(path, a.src, b, out, &Layout::new(rows, &pieces, at, unit));
}

/// [`product`] of `rows` rows of one stretch each (`b.k` values, at most `b`'s stretch),
/// row `i` at `a[i·stride..]` in unit `units[i]` (no units: all one): the same bits as those
/// rows gathered. For an odd `k`, the last row has one value more (any: it meets the zero
/// row).
pub fn product_rows(
    path: Path,
    (a, stride): (&[i16], usize),
    units: &[f32],
    rows: usize,
    b: &Packed16,
    out: Out<'_>,
) {
    let k = b.k;
    assert!(b.one_stretch(), "rows of one stretch");
    assert!(
        rows == 0 || a.len() >= (rows - 1) * stride + k + k % 2,
        "a holds {rows} rows"
    );
    assert!(
        units.is_empty() || units.len() >= rows,
        "a unit for every row"
    );
    check_out(rows, b, &out);
    #[cfg(target_arch = "x86_64")]
    if path.avx512() {
        // SAFETY: `Path::Avx512` (and wider) only where the CPU has AVX-512 F, BW and VNNI;
        // the rows, units and outputs are checked above. On the tiles these products (16 rows
        // at a time) ran slower: each waits on its three sums' tiles.
        return unsafe {
            let dst = (out.values.as_mut_ptr(), out.stride);
            rows::product((a.as_ptr(), stride), units, rows, b, dst)
        };
    }
    let pieces = [Piece {
        k0: 0,
        len: k,
        last: true,
        stretch: 0,
        run: 0,
        offset: 0,
    }];
    let unit = |i: usize, _: &Piece| units.get(i).copied().unwrap_or(1.0);
    let layout = Layout::new(rows, &pieces, |i, _| i * stride, unit);
    run(path, a, b, out, &layout);
}

/// Part of stretch `stretch`: `len` values of `k` from `k0`, found at `offset` in run `run`;
/// `last` ends its stretch.
#[derive(Debug, Clone, Copy)]
struct Piece {
    k0: usize,
    len: usize,
    last: bool,
    stretch: usize,
    run: usize,
    offset: usize,
}

/// Panics unless `out` holds `rows` rows of `b`'s columns.
fn check_out(rows: usize, b: &Packed16, out: &Out<'_>) {
    if rows > 0 {
        let need = (rows - 1) * out.stride + b.n;
        assert!(out.values.len() >= need, "out holds {rows} rows");
    }
}

/// Where a product's operands are: row `i`'s values of piece `e` at `src[offsets[e·rows + i]..]`;
/// one past each stretch's last piece (`ends`), and each row's unit in each stretch
/// (stretch-major). Worked out once per product, for every panel and path.
struct Layout<'a> {
    pieces: &'a [Piece],
    rows: usize,
    offsets: Vec<usize>,
    ends: Vec<usize>,
    units: Vec<f32>,
}

impl<'a> Layout<'a> {
    /// `rows` rows over `pieces`, row `i`'s values of a piece at `at(i, piece)` in units of
    /// `unit(i, piece)` (asked at the stretch's last piece).
    fn new(
        rows: usize,
        pieces: &'a [Piece],
        at: impl Fn(usize, &Piece) -> usize,
        unit: impl Fn(usize, &Piece) -> f32,
    ) -> Self {
        let mut offsets = Vec::with_capacity(pieces.len() * rows);
        for piece in pieces {
            offsets.extend((0..rows).map(|i| at(i, piece)));
        }
        let ends: Vec<usize> = (pieces.iter().enumerate())
            .filter(|(_, p)| p.last)
            .map(|(e, _)| e + 1)
            .collect();
        let mut units = Vec::with_capacity(ends.len() * rows);
        for &e in &ends {
            units.extend((0..rows).map(|i| unit(i, &pieces[e - 1])));
        }
        Self {
            pieces,
            rows,
            offsets,
            ends,
            units,
        }
    }

    /// Each stretch's pieces (as indices) and its rows' units.
    fn stretches(&self) -> impl Iterator<Item = (std::ops::Range<usize>, &[f32])> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        (starts.zip(&self.ends))
            .zip(self.units.chunks_exact(self.rows.max(1)))
            .map(|((from, &to), units)| (from..to, units))
    }
}

/// The product of the rows `layout` finds in `src` and `b`, on `path`.
fn run(path: Path, src: &[i16], b: &Packed16, out: Out<'_>, layout: &Layout<'_>) {
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2 and
        // FMA; every row's pieces lie inside `src` (checked by the callers: a pair's second
        // value past an odd `k` is the extra value `product` requires) and `out` holds the rows.
        Path::Avx2 => unsafe { avx2::blocked(src, b, out, layout) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Amx` only where the CPU has AVX-512 F, BW, VL and VNNI, AMX TILE and
        // INT8, and the process may use the tiles; the rows as above.
        Path::Amx if layout.rows >= amx::ROWS => unsafe { amx::blocked(src, b, out, layout) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, `Path::Avx512` (and wider) only where the CPU has AVX-512 F, BW and
        // VNNI; fewer rows than a tile holds run faster here than on the tiles.
        Path::Avx512 | Path::Amx => unsafe { avx512::blocked(src, b, out, layout) },
        _ => portable(src, b, out, layout),
    }
}

/// One 32-bit stretch sum's step: as `vpmaddwd` then `vpaddd` compute it (wrapping, which
/// never happens within the input limit).
#[inline(always)]
fn pair(sum: i32, a: [i16; 2], q: [i16; 2]) -> i32 {
    let p = (i32::from(a[0]) * i32::from(q[0])).wrapping_add(i32::from(a[1]) * i32::from(q[1]));
    sum.wrapping_add(p)
}

/// The reference: each output's stretch sums in integers, each added in one fused step.
fn portable(src: &[i16], b: &Packed16, out: Out<'_>, layout: &Layout<'_>) {
    let rows = layout.rows;
    for i in 0..rows {
        for j in 0..b.n {
            let mut v = b.bias[j];
            for (group, units) in layout.stretches() {
                let mut sum = 0i32;
                for e in group {
                    let piece = &layout.pieces[e];
                    let row = &src[layout.offsets[e * rows + i]..];
                    for t in (0..piece.len).step_by(2) {
                        let kk = piece.k0 + t;
                        // Past an odd `k` the zero row meets whatever value follows.
                        let second = if t + 1 < piece.len { row[t + 1] } else { 0 };
                        let q = [b.q(kk, j), if kk + 1 < b.k { b.q(kk + 1, j) } else { 0 }];
                        sum = pair(sum, [row[t], second], q);
                    }
                }
                v = (sum as f32).mul_add(b.scale[j] * units[i], v);
            }
            out.values[i * out.stride + j] = v;
        }
    }
}

/// A block's rows over one stretch: pieces `group` of `layout`, from row `first_row`, in the
/// source at `base`.
#[cfg(target_arch = "x86_64")]
struct Rows<'a> {
    layout: &'a Layout<'a>,
    group: std::ops::Range<usize>,
    base: *const i16,
    first_row: usize,
}

/// The wide kernels' walk over the product: stretch by stretch (2 KB of each panel, in the
/// first-level cache across the rows; between stretches each output's running sum waits in
/// `out`), panel by panel, in blocks of at most `max_rows` rows, each computed by
/// `block(rows, panel, the rows' units, (from the bias, out from the first row, stride))`.
#[cfg(target_arch = "x86_64")]
fn walk(
    src: &[i16],
    b: &Packed16,
    out: Out<'_>,
    layout: &Layout<'_>,
    max_rows: usize,
    mut block: impl FnMut(&Rows<'_>, usize, &[f32], (bool, &mut [f32], usize)),
) {
    let (stride, rows) = (out.stride, layout.rows);
    for (stretch, (group, units)) in layout.stretches().enumerate() {
        for p in 0..b.n.div_ceil(PANEL) {
            let mut i = 0;
            while i < rows {
                let r = (rows - i).min(max_rows);
                let at = Rows {
                    layout,
                    group: group.clone(),
                    base: src.as_ptr(),
                    first_row: i,
                };
                let o = (stretch == 0, &mut out.values[i * stride..], stride);
                block(&at, p, &units[i..i + r], o);
                i += r;
            }
        }
    }
    if layout.pieces.is_empty() {
        for i in 0..rows {
            out.values[i * stride..][..b.n].copy_from_slice(&b.bias[..b.n]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Layout, Out, Packed16, Rows, PANEL, ROWS};

    /// # Safety
    /// The CPU has AVX2 and FMA; `layout`'s rows lie inside `src`, with one more readable value
    /// where a piece has an odd length; `out` holds its rows.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn blocked(src: &[i16], b: &Packed16, out: Out<'_>, layout: &Layout<'_>) {
        super::walk(src, b, out, layout, ROWS, |at, p, u, o| match u.len() {
            6 => block::<6>(at, b, p, u, o),
            5 => block::<5>(at, b, p, u, o),
            4 => block::<4>(at, b, p, u, o),
            3 => block::<3>(at, b, p, u, o),
            2 => block::<2>(at, b, p, u, o),
            _ => block::<1>(at, b, p, u, o),
        });
    }

    /// `acc` plus the products of `pairs` pairs of values from each of `ap` with a panel's
    /// pairs of rows from `bp`.
    #[inline(always)]
    unsafe fn sums<const R: usize>(
        ap: [*const i16; R],
        bp: *const i16,
        pairs: usize,
        mut acc: [[__m256i; 2]; R],
    ) -> [[__m256i; 2]; R] {
        for t in 0..pairs {
            let b0 = _mm256_loadu_si256(bp.add(t * 2 * PANEL).cast());
            let b1 = _mm256_loadu_si256(bp.add(t * 2 * PANEL + PANEL).cast());
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = _mm256_set1_epi32(ap[r].add(2 * t).cast::<i32>().read_unaligned());
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(v, b0));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(v, b1));
            }
        }
        acc
    }

    /// `R` rows of panel `p` over one stretch's pieces in their `units`, added to the bias
    /// (`from_bias`) or to the running sums in `out`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const R: usize>(
        rows: &Rows<'_>,
        b: &Packed16,
        p: usize,
        units: &[f32],
        (from_bias, out, stride): (bool, &mut [f32], usize),
    ) {
        let pairs = b.k.div_ceil(2);
        let mut acc = [[_mm256_setzero_si256(); 2]; R];
        for e in rows.group.clone() {
            let (layout, first) = (rows.layout, e * rows.layout.rows + rows.first_row);
            let piece = &layout.pieces[e];
            let ap: [*const i16; R] =
                std::array::from_fn(|r| rows.base.add(layout.offsets[first + r]));
            let bp = b
                .panels
                .as_ptr()
                .add((p * pairs + piece.k0 / 2) * PANEL * 2);
            acc = sums(ap, bp, piece.len.div_ceil(2), acc);
        }
        let first = p * PANEL;
        let width = (b.n - first).min(PANEL);
        let scale = [
            _mm256_loadu_ps(b.scale.as_ptr().add(first)),
            _mm256_loadu_ps(b.scale.as_ptr().add(first + 8)),
        ];
        for (r, acc) in acc.iter().enumerate() {
            let dst = &mut out[r * stride + first..][..width];
            let u = _mm256_set1_ps(units[r]);
            let scale = [_mm256_mul_ps(scale[0], u), _mm256_mul_ps(scale[1], u)];
            if width == PANEL {
                // Straight from and to `out` (or the bias), the common case.
                let from = if from_bias {
                    b.bias[first..].as_ptr()
                } else {
                    dst.as_ptr()
                };
                let v = [0, 1].map(|h| {
                    let s = _mm256_loadu_ps(from.add(8 * h));
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[h]), scale[h], s)
                });
                _mm256_storeu_ps(dst.as_mut_ptr(), v[0]);
                _mm256_storeu_ps(dst.as_mut_ptr().add(8), v[1]);
                continue;
            }
            let mut start = [0f32; PANEL];
            if from_bias {
                start.copy_from_slice(&b.bias[first..first + PANEL]);
            } else {
                start[..width].copy_from_slice(dst);
            }
            let mut sums = [0f32; PANEL];
            for h in 0..2 {
                let s = _mm256_loadu_ps(start.as_ptr().add(8 * h));
                let v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[h]), scale[h], s);
                _mm256_storeu_ps(sums.as_mut_ptr().add(8 * h), v);
            }
            dst.copy_from_slice(&sums[..width]);
        }
    }
}

/// The 512-bit kernel: a panel's pair of rows is one vector, and `vpdpwssd` takes the
/// products and their 32-bit sum in one instruction (the sums `vpmaddwd` then `vpaddd` give).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Layout, Out, Packed16, Rows, PANEL};

    /// Rows of `a` per block (12 accumulators of 16 lanes).
    const ROWS: usize = 12;

    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI; as [`super::avx2::blocked`] otherwise.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn blocked(src: &[i16], b: &Packed16, out: Out<'_>, layout: &Layout<'_>) {
        super::walk(src, b, out, layout, ROWS, |at, p, u, o| match u.len() {
            12 => block::<12>(at, b, p, u, o),
            11 => block::<11>(at, b, p, u, o),
            10 => block::<10>(at, b, p, u, o),
            9 => block::<9>(at, b, p, u, o),
            8 => block::<8>(at, b, p, u, o),
            7 => block::<7>(at, b, p, u, o),
            6 => block::<6>(at, b, p, u, o),
            5 => block::<5>(at, b, p, u, o),
            4 => block::<4>(at, b, p, u, o),
            3 => block::<3>(at, b, p, u, o),
            2 => block::<2>(at, b, p, u, o),
            _ => block::<1>(at, b, p, u, o),
        });
    }

    /// `R` rows of panel `p` over one stretch (`rows`) in their `units`, added to the bias
    /// (`from_bias`) or to the running sums in `out`: the operations of the AVX2 kernel, 16
    /// columns a vector.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn block<const R: usize>(
        rows: &Rows<'_>,
        b: &Packed16,
        p: usize,
        units: &[f32],
        (from_bias, out, stride): (bool, &mut [f32], usize),
    ) {
        let pairs = b.k.div_ceil(2);
        let mut acc = [_mm512_setzero_si512(); R];
        for e in rows.group.clone() {
            let (layout, first) = (rows.layout, e * rows.layout.rows + rows.first_row);
            let piece = &layout.pieces[e];
            let ap: [*const i16; R] =
                std::array::from_fn(|r| rows.base.add(layout.offsets[first + r]));
            let bp = (b.panels.as_ptr()).add((p * pairs + piece.k0 / 2) * PANEL * 2);
            for t in 0..piece.len.div_ceil(2) {
                let bv = _mm512_loadu_si512(bp.add(t * 2 * PANEL).cast());
                for (r, acc) in acc.iter_mut().enumerate() {
                    let v = _mm512_set1_epi32(ap[r].add(2 * t).cast::<i32>().read_unaligned());
                    *acc = _mm512_dpwssd_epi32(*acc, v, bv);
                }
            }
        }
        let first = p * PANEL;
        let width = (b.n - first).min(PANEL);
        // Lanes past `n` are neither read from `out` nor written.
        let mask: __mmask16 = if width == PANEL { !0 } else { (1 << width) - 1 };
        let scale = _mm512_loadu_ps(b.scale.as_ptr().add(first));
        for (r, acc) in acc.iter().enumerate() {
            let dst = out[r * stride + first..][..width].as_mut_ptr();
            let start = match from_bias {
                true => _mm512_loadu_ps(b.bias.as_ptr().add(first)),
                false => _mm512_maskz_loadu_ps(mask, dst),
            };
            let scale = _mm512_mul_ps(scale, _mm512_set1_ps(units[r]));
            let v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(*acc), scale, start);
            _mm512_mask_storeu_ps(dst, mask, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(i: usize) -> f32 {
        ((i * 7919 % 1013) as f32 - 506.0) / 97.0
    }

    fn input(i: usize, limit: i16) -> i16 {
        let l = i32::from(limit);
        ((i * 104_729 % 65_521) as i32 % (2 * l + 1) - l) as i16
    }

    fn unit(i: usize) -> f32 {
        f32::powi(2.0, (i % 9) as i32 - 4)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn out(values: &mut [f32], stride: usize) -> Out<'_> {
        Out { values, stride }
    }

    /// The product of gathered rows on the portable path, `n` values a row.
    fn portable_product(a: &[i16], units: &[f32], rows: usize, b: &Packed16) -> Vec<f32> {
        let mut values = vec![0f32; rows * b.n];
        product(Path::Portable, a, units, rows, b, out(&mut values, b.n));
        values
    }

    /// The value every path must give: integer stretch sums, one fused step each.
    fn reference(a: &[i16], units: &[f32], b: &Packed16, i: usize, j: usize) -> f32 {
        let (k, kc) = (b.k, b.stretch);
        let mut v = b.bias[j];
        for (s, k0) in (0..k).step_by(kc).enumerate() {
            let sum: i64 = (k0..k.min(k0 + kc))
                .map(|kk| i64::from(a[i * k + kk]) * i64::from(b.q(kk, j)))
                .sum();
            let u = if units.is_empty() {
                1.0
            } else {
                units[i * k.div_ceil(kc) + s]
            };
            v = (sum as f32).mul_add(b.scale[j] * u, v);
        }
        v
    }

    /// Every path gives the exact stretch sums in their units, for odd and even `k`, one and
    /// several stretches, panel remainders and inputs at the limit; the quantized matrix is
    /// within half a step (and the division's rounding).
    #[test]
    fn paths_give_the_exact_stretch_sums() {
        for (rows, k, n, (kc, limit), with_units) in [
            (1, 1, 1, (64, 255), false),
            (7, 75, 64, (64, 255), false),
            (13, 320, 16, (64, i16::MAX), true),
            (20, 1600, 37, (64, i16::MAX), true),
            (6, 9, 3, (4, 1000), true),
            (17, 300, 20, (76, 255), false),
            (18, 300, 40, (76, i16::MAX), true),
        ] {
            let mut a: Vec<i16> = (0..rows * k).map(|i| input(i, limit)).collect();
            a[0] = -limit;
            a.push(12_345);
            let units: Vec<f32> = match with_units {
                true => (0..rows * k.div_ceil(kc)).map(unit).collect(),
                false => Vec::new(),
            };
            let bias: Vec<f32> = (0..n).map(|j| value(j + 5)).collect();
            let w = |kk: usize, j: usize| value(kk * n + j + 11);
            let b = Packed16::new((k, n), w, &bias, (kc, limit));
            for j in 0..n {
                for kk in 0..k {
                    let q = f64::from(b.q(kk, j)) * f64::from(b.scale[j]);
                    let error = (q - f64::from(w(kk, j))).abs();
                    assert!(error <= 0.51 * f64::from(b.scale[j]), "{kk} {j}");
                }
            }
            let stride = n + 2;
            for path in Path::available() {
                let mut got = vec![f32::NAN; rows * stride];
                product(path, &a, &units, rows, &b, out(&mut got, stride));
                for i in 0..rows {
                    let want: Vec<f32> = (0..n).map(|j| reference(&a, &units, &b, i, j)).collect();
                    let row = &got[i * stride..][..n];
                    assert_eq!(bits(row), bits(&want), "{path:?} {rows}×{k}×{n} row {i}");
                    assert!(got[i * stride + n..][..2].iter().all(|v| v.is_nan()));
                }
            }
        }
    }

    /// Rows of one stretch at a stride give the bits of the same rows gathered, on every path:
    /// whole blocks and remainders of rows and panels, odd `k`, inputs at the limit.
    #[test]
    fn strided_rows_give_the_gathered_bits() {
        let limit = i16::MAX;
        for (rows, k, n, gap) in [
            (16, 64, 64, 49 * 64 - 64),
            (7, 64, 96, 3),
            (5, 10, 37, 0),
            (1, 2, 1, 5),
            (9, 9, 70, 1),
            (37, 75, 70, 11),
        ] {
            let stride = k + gap;
            let mut src: Vec<i16> = (0..rows * stride + 1).map(|i| input(i, limit)).collect();
            src[0] = -limit;
            let units: Vec<f32> = (0..rows).map(|i| unit(i + 2)).collect();
            let bias: Vec<f32> = (0..n).map(|j| value(j + 1)).collect();
            let b = Packed16::new((k, n), |kk, j| value(kk * n + j), &bias, (k + k % 2, limit));
            let mut gathered: Vec<i16> = (0..rows)
                .flat_map(|i| src[i * stride..][..k].to_vec())
                .collect();
            gathered.push(0);
            let want = portable_product(&gathered, &units, rows, &b);
            for path in Path::available() {
                let mut got = vec![f32::NAN; rows * (n + 3)];
                let dst = out(&mut got, n + 3);
                product_rows(path, (&src, stride), &units, rows, &b, dst);
                for i in 0..rows {
                    let row = &got[i * (n + 3)..][..n + 3];
                    assert_eq!(
                        bits(&row[..n]),
                        bits(&want[i * n..][..n]),
                        "{path:?} {k}×{n} row {i}"
                    );
                    assert!(
                        row[n..].iter().all(|v| v.is_nan()),
                        "{path:?}: past the row"
                    );
                }
            }
        }
    }

    /// Rows read in place give the bits of the same rows gathered, on every path, with runs
    /// that cross stretches and runs that overlap, with and without units.
    #[test]
    fn runs_read_in_place_give_the_gathered_bits() {
        let limit = i16::MAX;
        let src: Vec<i16> = (0..5120).map(|i| input(i, limit)).collect();
        let cases = [
            (vec![320, 320, 320], 64, true),
            (vec![6, 130, 40], 20, false),
            (vec![2], 3, false),
            (vec![128, 64], 5, true),
        ];
        for (lens, n, with_units) in cases {
            let kc = 64;
            let k: usize = lens.iter().sum();
            let rows = 19;
            let starts: Vec<usize> = (0..rows * lens.len())
                .map(|i| (i * 977) % (src.len() - 400) / kc * kc)
                .collect();
            let per_source: Vec<f32> = (0..src.len() / kc).map(unit).collect();
            let bias: Vec<f32> = (0..n).map(|j| value(j + 3)).collect();
            let b = Packed16::new((k, n), |kk, j| value(kk * n + j + 7), &bias, (kc, limit));
            let mut gathered = Vec::new();
            let mut units = Vec::new();
            for row in starts.chunks_exact(lens.len()) {
                for (&s, &l) in row.iter().zip(&lens) {
                    gathered.extend_from_slice(&src[s..s + l]);
                    units.extend((s..s + l).step_by(kc).map(|p| per_source[p / kc]));
                }
            }
            let (units, per_source) = match with_units {
                true => (units, per_source),
                false => (Vec::new(), Vec::new()),
            };
            let want = portable_product(&gathered, &units, rows, &b);
            for path in Path::available() {
                let mut got = vec![f32::NAN; rows * n];
                let runs = Runs {
                    src: &src,
                    gathered: &[],
                    lens: &lens,
                    starts: &starts,
                };
                product_runs(path, &runs, &per_source, rows, &b, out(&mut got, n));
                assert_eq!(bits(&got), bits(&want), "{path:?} {lens:?}×{n}");
            }
        }
    }
}
