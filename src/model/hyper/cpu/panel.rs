//! The matrix product of the coding transforms: `out[i, j] = bias[j] + Σₖ a[i, k]·b[k, j]`,
//! each output one chain of fused multiply-adds in `k` order, starting from its bias.
//!
//! Products with fewer than [`LANES`] columns (the synthesis's last layer, three colours) are
//! computed along `k` instead: eight partial chains (`k` mod 8), summed in a fixed tree, then
//! the bias; the portable path does the same.
//!
//! Every output is computed on its own, in the same order, whatever the block it falls in, the
//! thread that runs it or the instruction set: the AVX2 kernel and the portable one give the
//! same bits (IEEE fused multiply-add is exactly rounded everywhere), so the transforms built on
//! it give the same numbers on every machine, for whole images and for regions of them.

use std::sync::Arc;

use super::aligned::Aligned;
use super::bf16;
use crate::cpu_path::Path;

/// Columns of `b` per packed panel.
pub const PANEL: usize = 16;
/// Rows of `a` per block of the AVX2 kernel (12 accumulators of 8 lanes).
const ROWS: usize = 6;
/// Lanes of a vector: the partial chains of a narrow product.
pub const LANES: usize = 8;

/// A `k × n` matrix packed as panels of [`PANEL`] columns (`k × PANEL` each, row-major, the
/// last padded with zeros), and a bias of `n` values padded likewise; or, when narrow (fewer
/// than [`LANES`] columns and `k` a multiple of it), as its `n` columns one after another.
#[derive(Debug, Clone)]
pub struct Packed {
    k: usize,
    n: usize,
    narrow: bool,
    panels: Aligned<f32>,
    bias: Vec<f32>,
    /// The same in bfloat16 tiles, for the trainer's products ([`Packed::with_bf16`]).
    tiles: Option<Arc<bf16::Tiles>>,
}

impl Packed {
    /// Packs `b(k, j)` for `k < rows`, `j < cols`, with `bias`.
    pub fn new(rows: usize, cols: usize, b: impl Fn(usize, usize) -> f32, bias: &[f32]) -> Self {
        assert_eq!(bias.len(), cols, "one bias per column");
        if cols < LANES && rows.is_multiple_of(LANES) {
            let columns = (0..cols).flat_map(|j| (0..rows).map(move |k| (k, j)));
            return Self {
                k: rows,
                n: cols,
                narrow: true,
                panels: Aligned::from_slice(&columns.map(|(k, j)| b(k, j)).collect::<Vec<_>>()),
                bias: bias.to_vec(),
                tiles: None,
            };
        }
        let (panels, bias) = pack(rows, cols, PANEL, b, bias);
        Self {
            k: rows,
            n: cols,
            narrow: false,
            panels,
            bias,
            tiles: None,
        }
    }

    /// The same kernel, its products run in bfloat16 where the CPU has a kernel for them
    /// ([`bf16`]; the trainer's, never the coder's), in `f32` elsewhere. Narrow kernels stay
    /// in `f32`.
    pub fn with_bf16(mut self) -> Self {
        if !self.narrow && bf16::available() {
            let tiles = bf16::Tiles::from_panels(&self.panels, (self.k, self.n), &self.bias);
            self.tiles = Some(Arc::new(tiles));
        }
        self
    }
}

/// `b(k, j)` for `k < rows`, `j < cols` as panels of `width` columns (`rows × width` each,
/// row-major, the last padded with zeros; on a 64-byte boundary), and `bias` padded to whole
/// panels likewise.
pub(crate) fn pack<T: Copy + Default>(
    rows: usize,
    cols: usize,
    width: usize,
    b: impl Fn(usize, usize) -> T,
    bias: &[T],
) -> (Aligned<T>, Vec<T>) {
    let count = cols.div_ceil(width);
    let mut panels = Aligned::filled(count * rows * width, T::default());
    for (p, panel) in panels.chunks_exact_mut(rows * width).enumerate() {
        for (k, row) in panel.chunks_exact_mut(width).enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                let j = p * width + c;
                if j < cols {
                    *v = b(k, j);
                }
            }
        }
    }
    let mut padded = bias.to_vec();
    padded.resize(count * width, T::default());
    (panels, padded)
}

/// Where a block's outputs go: row `i` of the product is written to
/// `out[i·stride .. i·stride + n]`.
pub struct Out<'a> {
    /// The destination.
    pub values: &'a mut [f32],
    /// Distance between consecutive rows' first values.
    pub stride: usize,
}

/// Writes the product of the `rows × k` row-major matrix `a` and `b`, plus `b`'s bias, to
/// `out`, on `path`.
pub fn product(path: Path, a: &[f32], rows: usize, b: &Packed, out: Out<'_>) {
    assert!(a.len() >= rows * b.k, "a holds {rows} rows");
    check_out(rows, b, &out);
    if b.tiles.is_some() && bf16::kernel(path).is_some() {
        let starts: Vec<usize> = (0..rows).map(|i| i * b.k).collect();
        let runs = Runs {
            src: a,
            gathered: &[],
            lens: &[b.k],
            starts: &starts,
        };
        return product_runs(path, &runs, rows, b, out);
    }
    match (path, b.narrow) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2 and
        // FMA, `Path::Avx512` where it has AVX-512 F; the lengths are checked above.
        (p, false) if p.avx2() => unsafe { wide(p, rows, b, out, stretched(a, b.k, kc(p, b))) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above (eight partial chains are the AVX2 kernel's on both paths).
        (p, true) if p.avx2() => unsafe { avx2::narrow(a, rows, b, out) },
        (_, false) => portable(a, rows, b, out),
        (_, true) => portable_narrow(a, rows, b, out),
    }
}

/// A matrix read in place: row `i` is, run after run, the `lens[t]` values of `src` followed
/// by `gathered` from `starts[i · lens.len() + t]` (a convolution's patches, read from its
/// input, and those of its border pixels gathered beside it).
pub struct Runs<'a, T = f32> {
    /// Where the values are.
    pub src: &'a [T],
    /// Values gathered elsewhere: a start of `src.len() + o` reads them from `o`.
    pub gathered: &'a [T],
    /// The length of each run; they add up to the product's `k`.
    pub lens: &'a [usize],
    /// Where each row's runs start, row by row.
    pub starts: &'a [usize],
}

impl<T> Runs<'_, T> {
    /// The run of `len` values at `start` (in `src`, or in `gathered` past it), if it lies
    /// wholly in one of them.
    pub fn run(&self, start: usize, len: usize) -> Option<&[T]> {
        match start.checked_sub(self.src.len()) {
            None => self.src.get(start..start.checked_add(len)?),
            Some(o) => self.gathered.get(o..o.checked_add(len)?),
        }
    }

    /// Where `start` points (a run checked by [`Runs::run`]).
    fn ptr(&self, start: usize) -> *const T {
        match start.checked_sub(self.src.len()) {
            None => self.src.as_ptr().wrapping_add(start),
            Some(o) => self.gathered.as_ptr().wrapping_add(o),
        }
    }
}

/// [`product`] of the `rows` rows of `a` read in place: the same bits as the product of those
/// rows gathered one after another.
pub fn product_runs(path: Path, a: &Runs<'_>, rows: usize, b: &Packed, out: Out<'_>) {
    let runs = a.lens.len();
    assert_eq!(
        a.lens.iter().sum::<usize>(),
        b.k,
        "the runs make rows of k values"
    );
    assert_eq!(a.starts.len(), rows * runs, "runs for {rows} rows");
    for row in a.starts.chunks_exact(runs.max(1)) {
        for (&start, &len) in row.iter().zip(a.lens) {
            assert!(a.run(start, len).is_some(), "a run inside the source");
        }
    }
    check_out(rows, b, &out);
    #[cfg(target_arch = "x86_64")]
    if let (Some(tiles), Some(kernel)) = (&b.tiles, bf16::kernel(path)) {
        // SAFETY: the kernel is `bf16::kernel`'s; the runs and `out` are checked above.
        return unsafe { bf16::product(kernel, a, rows, (b.k, b.n), tiles, out) };
    }
    match (path, b.narrow) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2 and
        // FMA, `Path::Avx512` where it has AVX-512 F; the runs and `out` are checked above.
        (p, false) if p.avx2() => unsafe { wide(p, rows, b, out, stretched_runs(a, kc(p, b))) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        (p, true) if p.avx2() && a.lens.iter().all(|l| l.is_multiple_of(LANES)) => unsafe {
            avx2::narrow_runs(a, rows, b, out)
        },
        _ => {
            let mut gathered = Vec::with_capacity(rows * b.k);
            for row in a.starts.chunks_exact(runs.max(1)).take(rows) {
                for (&start, &len) in row.iter().zip(a.lens) {
                    gathered.extend_from_slice(a.run(start, len).expect("checked above"));
                }
            }
            product(path, &gathered, rows, b, out);
        }
    }
}

/// Panics unless `out` holds `rows` rows of `b`'s columns.
fn check_out(rows: usize, b: &Packed, out: &Out<'_>) {
    if rows > 0 {
        let need = (rows - 1) * out.stride + b.n;
        assert!(out.values.len() >= need, "out holds {rows} rows");
    }
}

/// Values of `k` per stretch of the wide kernels: one panel's slice of `b` (16 KB) stays in the
/// first-level cache across all the rows.
#[cfg(target_arch = "x86_64")]
const KC: usize = 256;

/// The stretch of `k` for `b` on `path`: half of [`KC`] where the AVX-512 kernel takes four
/// panels at a time (so that their slices, 32 KB, still fit the first-level cache).
fn kc(path: Path, b: &Packed) -> usize {
    if path.avx512() && b.n.div_ceil(PANEL) >= 4 {
        KC / 2
    } else {
        KC
    }
}

/// The product of the rows `stretched` finds with a wide `b`, on `path` (AVX2 or AVX-512).
///
/// # Safety
/// The CPU runs `path`; every row's values of every stretch lie inside the source, and `out`
/// holds `rows` rows.
#[cfg(target_arch = "x86_64")]
unsafe fn wide(
    path: Path,
    rows: usize,
    b: &Packed,
    out: Out<'_>,
    (spans, at): Stretched<impl Fn(usize, usize) -> *const f32>,
) {
    match path.avx512() {
        true => avx512::blocked(rows, b, out, &spans, at),
        false => avx2::blocked(rows, b, out, &spans, at),
    }
}

/// Where the wide kernels find rows: the stretches of `k` they take in turn (`(k0, length)`,
/// at most `kc` values each, in order) and where row `i`'s values of stretch `s` start.
#[cfg(target_arch = "x86_64")]
type Stretched<F> = (Vec<(usize, usize)>, F);

/// [`Stretched`] for `a`'s rows of `k` values one after another.
#[cfg(target_arch = "x86_64")]
fn stretched(a: &[f32], k: usize, kc: usize) -> Stretched<impl Fn(usize, usize) -> *const f32> {
    let spans = (0..k).step_by(kc).map(|k0| (k0, kc.min(k - k0))).collect();
    let ap = a.as_ptr();
    (spans, move |i: usize, s: usize| {
        ap.wrapping_add(i * k + s * kc)
    })
}

/// [`Stretched`] for rows read in place: each run cut into stretches of at most `kc` values.
#[cfg(target_arch = "x86_64")]
fn stretched_runs<'a>(
    a: &'a Runs<'a>,
    kc: usize,
) -> Stretched<impl Fn(usize, usize) -> *const f32 + 'a> {
    let (mut spans, mut places) = (Vec::new(), Vec::new());
    let mut k0 = 0;
    for (t, &len) in a.lens.iter().enumerate() {
        // Even stretches: a short last one would cost a load and store of every sum for
        // few multiply-adds.
        let parts = len.div_ceil(kc).max(1);
        let mut off = 0;
        for q in 0..parts {
            let end = len * (q + 1) / parts;
            spans.push((k0 + off, end - off));
            places.push((t, off));
            off = end;
        }
        k0 += len;
    }
    let runs = a.lens.len();
    let at = move |i: usize, s: usize| {
        let (t, off) = places[s];
        a.ptr(a.starts[i * runs + t]).wrapping_add(off)
    };
    (spans, at)
}

/// The fixed order in which a narrow product's eight partial sums are added.
#[inline(always)]
fn tree(v: [f32; LANES]) -> f32 {
    ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
}

/// The narrow reference: chain `l` sums the terms `k ≡ l (mod 8)`.
fn portable_narrow(a: &[f32], rows: usize, b: &Packed, out: Out<'_>) {
    let k = b.k;
    for i in 0..rows {
        let row = &a[i * k..][..k];
        let dst = &mut out.values[i * out.stride..][..b.n];
        for (j, d) in dst.iter_mut().enumerate() {
            let column = &b.panels[j * k..][..k];
            let mut acc = [0f32; LANES];
            for (x, w) in row.chunks_exact(LANES).zip(column.chunks_exact(LANES)) {
                for l in 0..LANES {
                    acc[l] = x[l].mul_add(w[l], acc[l]);
                }
            }
            *d = b.bias[j] + tree(acc);
        }
    }
}

/// The reference: one fused multiply-add chain per output.
fn portable(a: &[f32], rows: usize, b: &Packed, out: Out<'_>) {
    let k = b.k;
    for i in 0..rows {
        let row = &a[i * k..][..k];
        let dst = &mut out.values[i * out.stride..][..b.n];
        for (j, d) in dst.iter_mut().enumerate() {
            let (p, c) = (j / PANEL, j % PANEL);
            let panel = &b.panels[p * k * PANEL..][..k * PANEL];
            let mut acc = b.bias[j];
            for (kk, &v) in row.iter().enumerate() {
                acc = v.mul_add(panel[kk * PANEL + c], acc);
            }
            *d = acc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{tree, Out, Packed, Runs, LANES, PANEL, ROWS};

    /// # Safety
    /// As [`product`], for a narrow `b`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn narrow(a: &[f32], rows: usize, b: &Packed, out: Out<'_>) {
        let (k, ap) = (b.k, a.as_ptr());
        narrow_spans(rows, b, out, &[(0, k)], |i, _| ap.add(i * k));
    }

    /// [`narrow`] of rows read in place, every run's length a multiple of [`LANES`] (so that
    /// each vector of a run holds one value of each chain, in the chains' order).
    ///
    /// # Safety
    /// As [`product_runs`], for a narrow `b`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn narrow_runs(a: &Runs<'_>, rows: usize, b: &Packed, out: Out<'_>) {
        let runs = a.lens.len();
        let mut k0 = 0;
        let spans: Vec<(usize, usize)> = (a.lens.iter())
            .map(|&len| {
                k0 += len;
                (k0 - len, len)
            })
            .collect();
        narrow_spans(rows, b, out, &spans, |i, t| a.ptr(a.starts[i * runs + t]));
    }

    /// The narrow product over `spans` of `k` (`(k0, length)`, lengths multiples of
    /// [`LANES`]), where `row_at(i, t)` points at row `i`'s values of span `t`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow_spans(
        rows: usize,
        b: &Packed,
        out: Out<'_>,
        spans: &[(usize, usize)],
        row_at: impl Fn(usize, usize) -> *const f32,
    ) {
        let at = (spans, &row_at as &dyn Fn(usize, usize) -> *const f32);
        match b.n {
            1 => narrow_n::<1>(at, rows, b, out),
            2 => narrow_n::<2>(at, rows, b, out),
            3 => narrow_n::<3>(at, rows, b, out),
            4 => narrow_n::<4>(at, rows, b, out),
            5 => narrow_n::<5>(at, rows, b, out),
            6 => narrow_n::<6>(at, rows, b, out),
            _ => narrow_n::<7>(at, rows, b, out),
        }
    }

    /// Spans of `k` and where each row's values of each span are.
    type Spans<'a> = (&'a [(usize, usize)], &'a dyn Fn(usize, usize) -> *const f32);

    /// Rows of `a` per block of the narrow kernel.
    const NARROW_ROWS: usize = 4;

    /// [`NARROW_ROWS`] rows at a time (their `N` outputs' chains interleaved, to hide the
    /// latency of each), then the rest one by one.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow_n<const N: usize>(at: Spans<'_>, rows: usize, b: &Packed, mut out: Out<'_>) {
        let mut i = 0;
        while i + NARROW_ROWS <= rows {
            narrow_block::<N, NARROW_ROWS>(at, i, b, &mut out);
            i += NARROW_ROWS;
        }
        while i < rows {
            narrow_block::<N, 1>(at, i, b, &mut out);
            i += 1;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn narrow_block<const N: usize, const R: usize>(
        (spans, row_at): Spans<'_>,
        first: usize,
        b: &Packed,
        out: &mut Out<'_>,
    ) {
        let k = b.k;
        let bp = b.panels.as_ptr();
        let mut acc = [[_mm256_setzero_ps(); N]; R];
        for (t, &(k0, len)) in spans.iter().enumerate() {
            let ap: [*const f32; R] = std::array::from_fn(|r| row_at(first + r, t));
            for q in (0..len).step_by(LANES) {
                let mut w = [_mm256_setzero_ps(); N];
                for (j, w) in w.iter_mut().enumerate() {
                    *w = _mm256_loadu_ps(bp.add(j * k + k0 + q));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_loadu_ps(ap[r].add(q));
                    for (acc, &w) in acc.iter_mut().zip(&w) {
                        *acc = _mm256_fmadd_ps(x, w, *acc);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (j, acc) in acc.iter().enumerate() {
                let mut v = [0f32; LANES];
                _mm256_storeu_ps(v.as_mut_ptr(), *acc);
                out.values[(first + r) * out.stride + j] = b.bias[j] + tree(v);
            }
        }
    }

    /// The product over `stretches` of `k` (`(k0, length)`, in order), where `row_at(i, s)`
    /// points at row `i`'s values for stretch `s`.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; every row's values of every stretch are readable and `out`
    /// holds `rows` rows.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn blocked(
        rows: usize,
        b: &Packed,
        out: Out<'_>,
        stretches: &[(usize, usize)],
        row_at: impl Fn(usize, usize) -> *const f32,
    ) {
        let stride = out.stride;
        // Stretches of `k` with one panel's slice of `b` (16 KB) held in the first-level
        // cache across all the rows; between stretches each output's running sum waits in
        // `out`, which keeps it exactly, so the chain is the one the portable path computes.
        for (s, &span) in stretches.iter().enumerate() {
            for p in 0..b.n.div_ceil(PANEL) {
                let mut i = 0;
                while i < rows {
                    let r = (rows - i).min(ROWS);
                    let mut ap = [std::ptr::null(); ROWS];
                    for (j, ap) in ap.iter_mut().take(r).enumerate() {
                        *ap = row_at(i + j, s);
                    }
                    let out = &mut out.values[i * stride..];
                    match r {
                        6 => block::<6>(&ap, b, p, span, out, stride),
                        5 => block::<5>(&ap, b, p, span, out, stride),
                        4 => block::<4>(&ap, b, p, span, out, stride),
                        3 => block::<3>(&ap, b, p, span, out, stride),
                        2 => block::<2>(&ap, b, p, span, out, stride),
                        _ => block::<1>(&ap, b, p, span, out, stride),
                    }
                    i += r;
                }
            }
        }
    }

    /// `R` rows (row `r`'s values of the stretch from `ap[r]`) of panel `p` over `k0..k0 +
    /// len`: from the bias when `k0` is 0, else from the sums in `out`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const R: usize>(
        ap: &[*const f32; ROWS],
        b: &Packed,
        p: usize,
        (k0, len): (usize, usize),
        out: &mut [f32],
        stride: usize,
    ) {
        let k = b.k;
        let first = p * PANEL;
        let width = (b.n - first).min(PANEL);
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for (r, acc) in acc.iter_mut().enumerate() {
            let mut start = [0f32; PANEL];
            if k0 == 0 {
                start.copy_from_slice(&b.bias[first..first + PANEL]);
            } else {
                start[..width].copy_from_slice(&out[r * stride + first..][..width]);
            }
            *acc = [
                _mm256_loadu_ps(start.as_ptr()),
                _mm256_loadu_ps(start.as_ptr().add(8)),
            ];
        }
        let bp = b.panels.as_ptr().add((p * k + k0) * PANEL);
        let ap: [*const f32; R] = std::array::from_fn(|r| ap[r]);
        for kk in 0..len {
            let b0 = _mm256_loadu_ps(bp.add(kk * PANEL));
            let b1 = _mm256_loadu_ps(bp.add(kk * PANEL + 8));
            for (r, acc) in acc.iter_mut().enumerate() {
                let v = _mm256_broadcast_ss(&*ap[r].add(kk));
                acc[0] = _mm256_fmadd_ps(v, b0, acc[0]);
                acc[1] = _mm256_fmadd_ps(v, b1, acc[1]);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let dst = &mut out[r * stride + first..][..width];
            if width == PANEL {
                _mm256_storeu_ps(dst.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(dst.as_mut_ptr().add(8), acc[1]);
            } else {
                let mut tmp = [0f32; PANEL];
                _mm256_storeu_ps(tmp.as_mut_ptr(), acc[0]);
                _mm256_storeu_ps(tmp.as_mut_ptr().add(8), acc[1]);
                dst.copy_from_slice(&tmp[..width]);
            }
        }
    }
}

/// The 512-bit kernel: a panel's row of `b` is one vector; each output the same chain.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Out, Packed, PANEL};

    /// Rows of `a` per block (12 accumulators of 16 lanes).
    const ROWS: usize = 12;

    /// The product over `stretches` of `k`, as the AVX2 kernel's `blocked`, two panels at a
    /// time (two vectors of `b` a step against each broadcast value: fewer loads per
    /// multiply-add than one).
    ///
    /// # Safety
    /// The CPU has AVX-512 F; as the AVX2 kernel's otherwise.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn blocked(
        rows: usize,
        b: &Packed,
        out: Out<'_>,
        stretches: &[(usize, usize)],
        row_at: impl Fn(usize, usize) -> *const f32,
    ) {
        let (stride, panels) = (out.stride, b.n.div_ceil(PANEL));
        for (s, &span) in stretches.iter().enumerate() {
            let mut p = 0;
            while p < panels {
                // Four panels against six rows where they remain (six row pointers leave the
                // loop its general registers; twelve spilled), else two against twelve.
                let (group, most) = match panels - p {
                    left if left >= 4 => (4, ROWS / 2),
                    left => (left.min(2), ROWS),
                };
                let mut i = 0;
                while i < rows {
                    let r = (rows - i).min(most);
                    let mut ap = [std::ptr::null(); ROWS];
                    for (j, ap) in ap.iter_mut().take(r).enumerate() {
                        *ap = row_at(i + j, s);
                    }
                    let o = (&mut out.values[i * stride..], stride);
                    match group {
                        4 => rows_of4(r, &ap, b, p, span, o),
                        1 => rows_of::<1>(r, &ap, b, p, span, o),
                        _ => rows_of::<2>(r, &ap, b, p, span, o),
                    }
                    i += r;
                }
                p += group;
            }
        }
    }

    /// [`block`] of four panels with `R` (at most six) a constant.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_of4(
        r: usize,
        ap: &[*const f32; ROWS],
        b: &Packed,
        p: usize,
        span: (usize, usize),
        o: (&mut [f32], usize),
    ) {
        match r {
            6 => block::<6, 4>(ap, b, p, span, o),
            5 => block::<5, 4>(ap, b, p, span, o),
            4 => block::<4, 4>(ap, b, p, span, o),
            3 => block::<3, 4>(ap, b, p, span, o),
            2 => block::<2, 4>(ap, b, p, span, o),
            _ => block::<1, 4>(ap, b, p, span, o),
        }
    }

    /// [`block`] with `R` a constant.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_of<const P: usize>(
        r: usize,
        ap: &[*const f32; ROWS],
        b: &Packed,
        p: usize,
        span: (usize, usize),
        o: (&mut [f32], usize),
    ) {
        match r {
            12 => block::<12, P>(ap, b, p, span, o),
            11 => block::<11, P>(ap, b, p, span, o),
            10 => block::<10, P>(ap, b, p, span, o),
            9 => block::<9, P>(ap, b, p, span, o),
            8 => block::<8, P>(ap, b, p, span, o),
            7 => block::<7, P>(ap, b, p, span, o),
            6 => block::<6, P>(ap, b, p, span, o),
            5 => block::<5, P>(ap, b, p, span, o),
            4 => block::<4, P>(ap, b, p, span, o),
            3 => block::<3, P>(ap, b, p, span, o),
            2 => block::<2, P>(ap, b, p, span, o),
            _ => block::<1, P>(ap, b, p, span, o),
        }
    }

    /// `R` rows (row `r`'s values of the stretch from `ap[r]`) of panels `p..p + P` over
    /// `k0..k0 + len`: from the bias when `k0` is 0, else from the sums in `out`.
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const R: usize, const P: usize>(
        ap: &[*const f32; ROWS],
        b: &Packed,
        p: usize,
        (k0, len): (usize, usize),
        (out, stride): (&mut [f32], usize),
    ) {
        let first = p * PANEL;
        let width = (b.n - first).min(P * PANEL);
        // Lanes past `n` are neither read from `out` nor written.
        let mask: [__mmask16; P] = std::array::from_fn(|q| match width.saturating_sub(q * PANEL) {
            w if w >= PANEL => !0,
            w => (1 << w) - 1,
        });
        let dst: [*mut f32; R] =
            std::array::from_fn(|r| out[r * stride + first..][..width].as_mut_ptr());
        let mut acc: [[__m512; P]; R] = std::array::from_fn(|r| {
            std::array::from_fn(|q| match k0 {
                0 => _mm512_loadu_ps(b.bias.as_ptr().add(first + q * PANEL)),
                _ => _mm512_maskz_loadu_ps(mask[q], dst[r].add(q * PANEL)),
            })
        });
        let bp: [*const f32; P] =
            std::array::from_fn(|q| b.panels.as_ptr().add(((p + q) * b.k + k0) * PANEL));
        for kk in 0..len {
            let bv: [__m512; P] = std::array::from_fn(|q| _mm512_loadu_ps(bp[q].add(kk * PANEL)));
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm512_set1_ps(*ap[r].add(kk));
                for (acc, &bv) in acc.iter_mut().zip(&bv) {
                    *acc = _mm512_fmadd_ps(x, bv, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (q, &acc) in acc.iter().enumerate() {
                _mm512_mask_storeu_ps(dst[r].add(q * PANEL), mask[q], acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(i: usize) -> f32 {
        ((i * 7919 % 1013) as f32 - 506.0) / 97.0
    }

    /// Rows read in place give the bits of the same rows gathered, on every path, wide and
    /// narrow (runs of whole vectors, read in place, and others, gathered), with runs longer
    /// than a stretch and runs that overlap.
    #[test]
    fn runs_read_in_place_give_the_gathered_bits() {
        let src: Vec<f32> = (0..4000).map(value).collect();
        let cases = [
            (vec![5, 300, 17], 37),
            (vec![600, 8], 20),
            (vec![8, 16], 3),
            (vec![64, 192, 64], 3),
            (vec![4, 12, 8], 2),
        ];
        for (lens, n) in cases {
            let k: usize = lens.iter().sum();
            let rows = 13;
            let starts: Vec<usize> = (0..rows * lens.len())
                .map(|i| (i * 977) % (src.len() - 600))
                .collect();
            let bias: Vec<f32> = (0..n).map(|j| value(j + 3)).collect();
            let b = Packed::new(k, n, |kk, j| value(kk * n + j + 7), &bias);
            let gathered: Vec<f32> = (starts.chunks_exact(lens.len()))
                .flat_map(|row| row.iter().zip(&lens).flat_map(|(&s, &l)| &src[s..s + l]))
                .copied()
                .collect();
            let mut reference = vec![0f32; rows * n];
            fn out(values: &mut [f32], stride: usize) -> Out<'_> {
                Out { values, stride }
            }
            product(Path::Portable, &gathered, rows, &b, out(&mut reference, n));
            for path in Path::available() {
                let mut got = vec![f32::NAN; rows * n];
                let runs = Runs {
                    src: &src,
                    gathered: &[],
                    lens: &lens,
                    starts: &starts,
                };
                product_runs(path, &runs, rows, &b, out(&mut got, n));
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&reference), "{path:?} {lens:?}×{n}");
            }
        }
    }

    /// Every path gives the portable path's bits, for any block shape and panel remainder,
    /// and the sums are those of the formula (to rounding).
    #[test]
    fn paths_agree_and_sum_the_formula() {
        let shapes = [
            (1, 1, 1),
            (7, 13, 3),
            (13, 64, 16),
            (20, 75, 37),
            (6, 9, 64),
            (9, 40, 3),
            (19, 48, 2),
            (21, 64, 7),
            // Four panels at a time, over several stretches, with one or two panels after.
            (13, 300, 64),
            (7, 260, 75),
            (25, 129, 100),
        ];
        for (rows, k, n) in shapes {
            let a: Vec<f32> = (0..rows * k).map(value).collect();
            let bias: Vec<f32> = (0..n).map(|j| value(j + 5)).collect();
            let b = Packed::new(k, n, |kk, j| value(kk * n + j + 11), &bias);
            let stride = n + 2;
            let mut reference = vec![f32::NAN; rows * stride];
            product(
                Path::Portable,
                &a,
                rows,
                &b,
                Out {
                    values: &mut reference,
                    stride,
                },
            );
            for i in 0..rows {
                for j in 0..n {
                    let exact: f64 = f64::from(bias[j])
                        + (0..k)
                            .map(|kk| f64::from(a[i * k + kk]) * f64::from(value(kk * n + j + 11)))
                            .sum::<f64>();
                    let got = f64::from(reference[i * stride + j]);
                    assert!(
                        (got - exact).abs() < 1e-3 * (1.0 + exact.abs()),
                        "{got} {exact}"
                    );
                }
                // The gap between rows is left alone.
                assert!(reference[i * stride + n..(i + 1) * stride]
                    .iter()
                    .all(|v| v.is_nan()));
            }
            for path in Path::available() {
                let mut got = vec![f32::NAN; rows * stride];
                product(
                    path,
                    &a,
                    rows,
                    &b,
                    Out {
                        values: &mut got,
                        stride,
                    },
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&reference), "{path:?} {rows}×{k}×{n}");
            }
        }
    }
}
