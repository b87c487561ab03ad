//! Exact integer 3×3 convolutions of stride 1 (padding 1) by Winograd's minimal filtering
//! F(2×2, 3×3) (Lavin and Gray 2016): 16 products for every 2×2 outputs where the direct
//! convolution takes 36. A transposed 5×5 convolution of stride 2 (padding 2, output
//! padding 1) is such a convolution of its input with the four output parities side by side
//! (`4·out` columns, zero where a parity's taps do not reach an offset), so every layer of the
//! integer hyper-synthesis runs this way.
//!
//! In integers the algorithm is exact. The kernel's transform `G g Gᵀ` has halves, so the
//! kernel is transformed by `2G` instead (integers, four times the transform); the outputs'
//! transform `Aᵀ M A` then gives four times each output, which an arithmetic shift divides
//! exactly. The inputs' transform, the products ([`super::exact`]) and the outputs' transform
//! are wrapping `i64` sums, so the result is four times the direct sum modulo 2⁶⁴; a layer
//! takes this path only where every direct sum stays below 2⁶¹ in magnitude (its columns'
//! `Σ|w|` below 2³⁰, with inputs of 32 bits), so that four times it is the exact `i64` and
//! every output is the direct convolution's integer, on every path and thread count.

use rayon::prelude::*;

use super::exact::{self, IntPacked};
use super::grown;
use crate::cpu_path::Path;

/// Inputs (and transformed values) per tile side.
const SIDE: usize = 4;
/// Points of a tile's transform.
const POINTS: usize = SIDE * SIDE;
/// Outputs per tile side.
const TILE: usize = 2;
/// Tiles per product, at most.
const GROUP: usize = 48;
/// A layer's direct sums stay below 2⁶¹ when its columns' `Σ|w|` is below this.
const COLUMN_SUM_LIMIT: u64 = 1 << 30;
/// Every integer of smaller magnitude is exact in `f64`.
const F64_EXACT: u128 = 1 << 53;

/// What the transforms compute in: wrapping `i64`, or `f64` where every value is an integer
/// below 2⁵³ (so exact).
trait Ring: Copy + Default + Send + Sync {
    fn plus(self, other: Self) -> Self;
    fn minus(self, other: Self) -> Self;
}

impl Ring for i64 {
    #[inline(always)]
    fn plus(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    #[inline(always)]
    fn minus(self, other: Self) -> Self {
        self.wrapping_sub(other)
    }
}

impl Ring for f64 {
    #[inline(always)]
    fn plus(self, other: Self) -> Self {
        self + other
    }
    #[inline(always)]
    fn minus(self, other: Self) -> Self {
        self - other
    }
}

/// The inputs' transform along one axis, `Bᵀd`, channel by channel: `dst[a]` from the four
/// inputs `d` (each read through `from`).
#[inline(always)]
fn input_1d<S: Copy, T: Ring>(dst: [&mut [T]; SIDE], d: [&[S]; SIDE], from: impl Fn(S) -> T) {
    let [b0, b1, b2, b3] = dst;
    let n = b0.len();
    let d = d.map(|d| &d[..n]);
    for c in 0..n {
        let v = d.map(|d| from(d[c]));
        b0[c] = v[0].minus(v[2]);
        b1[c] = v[1].plus(v[2]);
        b2[c] = v[2].minus(v[1]);
        b3[c] = v[1].minus(v[3]);
    }
}

/// The kernel's transform along one axis, `2G·g`.
fn kernel_1d(g: [i64; 3]) -> [i64; SIDE] {
    [2 * g[0], g[0] + g[1] + g[2], g[0] - g[1] + g[2], 2 * g[2]]
}

/// The outputs' transform along one axis, `Aᵀm`, value by value: `(y₀, y₁)` from the four
/// products `m`.
#[inline(always)]
fn output_1d<T: Ring>((y0, y1): (&mut [T], &mut [T]), m: [&[T]; SIDE]) {
    let n = y0.len();
    let (y1, m) = (&mut y1[..n], m.map(|m| &m[..n]));
    for c in 0..n {
        y0[c] = m[0][c].plus(m[1][c]).plus(m[2][c]);
        y1[c] = m[1][c].minus(m[2][c]).minus(m[3][c]);
    }
}

/// A quarter of `s`, four times an integer below 2⁵³ in magnitude, as that integer: the
/// quotient is exact, and adding 1.5·2⁵² puts it in the low bits of the sum's significand
/// (exactly, for magnitudes below 2⁵¹), a conversion in lanes on every path.
#[inline(always)]
fn quarter_f64(s: f64) -> i64 {
    const SHIFT: f64 = (3u64 << 51) as f64;
    ((s * 0.25 + SHIFT).to_bits() as i64).wrapping_sub(SHIFT.to_bits() as i64)
}

/// Four disjoint `len`-long parts of `v`, at increasing `starts`.
#[inline(always)]
fn four<T>(v: &mut [T], starts: [usize; SIDE], len: usize) -> [&mut [T]; SIDE] {
    let (head, rest) = v.split_at_mut(starts[1]);
    let (second, rest) = rest.split_at_mut(starts[2] - starts[1]);
    let (third, fourth) = rest.split_at_mut(starts[3] - starts[2]);
    [
        &mut head[starts[0]..][..len],
        &mut second[..len],
        &mut third[..len],
        &mut fourth[..len],
    ]
}

/// A 3×3 convolution (or a transposed 5×5 one, by parities) in exact integers by
/// Winograd's algorithm.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactWinograd {
    in_channels: usize,
    out_channels: usize,
    /// Whether the columns are a transposed convolution's four parities (`2·py + px`, each
    /// `out_channels` wide).
    parities: bool,
    /// The transformed kernel at each of the 16 points, `in × columns`, no bias.
    points: Vec<IntPacked>,
    /// Each output channel's bias (both fixed points' fraction bits).
    bias: Vec<i64>,
    /// The largest of the points' [`IntPacked::column_sum`]s.
    column_sum: u64,
}

impl ExactWinograd {
    /// The 3×3 convolution of `w` (`w[((ic·3 + ky)·3 + kx)·o + oc]`, `(i, o)` channels) and
    /// `bias`; `None` where a column's `Σ|w|` or a transformed weight is too large for the
    /// exact path.
    pub fn conv(w: &[i32], bias: &[i64], (i, o): (usize, usize)) -> Option<Self> {
        assert_eq!(w.len(), i * 9 * o, "a 3×3 kernel");
        let tap = |ic: usize, (j, l): (usize, usize), c: usize| w[((ic * 3 + j) * 3 + l) * o + c];
        Self::new(tap, bias, (i, o), false)
    }

    /// The transposed 5×5 convolution of stride 2 of `w` (`w[((ic·5 + ky)·5 + kx)·o + oc]`)
    /// and `bias`, as a 3×3 convolution of its input: the output at `(2y + py, 2x + px)`
    /// reads input `(y + j − 1, x + l − 1)` through tap `(4 − 2j + py, 4 − 2l + px)` (none
    /// past the kernel). `None` as for [`Self::conv`].
    pub fn deconv(w: &[i32], bias: &[i64], (i, o): (usize, usize)) -> Option<Self> {
        assert_eq!(w.len(), i * 25 * o, "a 5×5 kernel");
        let tap = |ic: usize, (j, l): (usize, usize), c: usize| {
            let (p, oc) = (c / o, c % o);
            let (ky, kx) = (4 - 2 * j + p / 2, 4 - 2 * l + p % 2);
            if ky < 5 && kx < 5 {
                w[((ic * 5 + ky) * 5 + kx) * o + oc]
            } else {
                0
            }
        };
        Self::new(tap, bias, (i, o), true)
    }

    fn new(
        tap: impl Fn(usize, (usize, usize), usize) -> i32,
        bias: &[i64],
        (i, o): (usize, usize),
        parities: bool,
    ) -> Option<Self> {
        assert_eq!(bias.len(), o, "one bias per output channel");
        let cols = if parities { 4 * o } else { o };
        let offsets = || (0..3).flat_map(|j| (0..3).map(move |l| (j, l)));
        for c in 0..cols {
            let sum: u64 = (0..i)
                .flat_map(|ic| offsets().map(move |jl| (ic, jl)))
                .map(|(ic, jl)| u64::from(tap(ic, jl, c).unsigned_abs()))
                .sum();
            if sum >= COLUMN_SUM_LIMIT {
                return None;
            }
        }
        let mut points = vec![vec![0i32; i * cols]; POINTS];
        for (ic, c) in (0..i).flat_map(|ic| (0..cols).map(move |c| (ic, c))) {
            let g = |j: usize, l: usize| i64::from(tap(ic, (j, l), c));
            let rows = [0, 1, 2].map(|j| kernel_1d([g(j, 0), g(j, 1), g(j, 2)]));
            for b in 0..SIDE {
                let column = kernel_1d([rows[0][b], rows[1][b], rows[2][b]]);
                for (a, &u) in column.iter().enumerate() {
                    points[a * SIDE + b][ic * cols + c] = i32::try_from(u).ok()?;
                }
            }
        }
        let zeros = vec![0i64; cols];
        let points: Vec<IntPacked> = points
            .into_iter()
            .map(|values| IntPacked::from_rows(i, cols, values, &zeros))
            .collect();
        Some(Self {
            in_channels: i,
            out_channels: o,
            parities,
            column_sum: points.iter().map(IntPacked::column_sum).max().unwrap_or(0),
            points,
            bias: bias.to_vec(),
        })
    }

    /// The layer over `x` (`height × width` pixels of `in` values, pixel-major), each sum
    /// (bias included, with `bits` fraction bits more than the output's) rounded to the
    /// output's fixed point (halves up) and saturated to `i32` ([`narrow`]): pixel-major,
    /// the top-left `rows × cols` of a convolution's output (at most the input's size), or a
    /// transposed convolution's whole `2·height × 2·width` output (`rows`, `cols` the input's
    /// size then).
    pub fn run(
        &self,
        path: Path,
        (x, height, width): (&[i32], usize, usize),
        (rows, cols): (usize, usize),
        bits: u32,
    ) -> Vec<i32> {
        assert_eq!(x.len(), height * width * self.in_channels, "the input map");
        assert!(
            rows <= height && cols <= width,
            "an output within the input"
        );
        assert!((1..63).contains(&bits), "a shift of 1 to 62 bits");
        // A row of tiles is two rows of the small map (four of a transposed convolution's
        // output, twice as wide).
        let scale = 1 + usize::from(self.parities);
        let row_len = scale * cols * self.out_channels;
        let mut out = vec![0i32; scale * rows * row_len];
        if out.is_empty() {
            return out;
        }
        // In `f64` where the bound allows (four times an input's magnitude is a transformed
        // input's, nine products' sums an output's): the same integers, without conversions.
        // On this thread below a photo's hundred thousand values: it takes microseconds,
        // less than waking the others.
        let magnitude = |v: &i32| v.unsigned_abs();
        let largest = match x.len() < 1 << 18 {
            true => x.iter().map(magnitude).max(),
            false => x.par_iter().map(magnitude).max(),
        };
        let largest = largest.unwrap_or(0);
        let bound = 36 * u128::from(largest) * u128::from(self.column_sum);
        let in_f64 = path.avx2() && bound < F64_EXACT;
        // A task's tiles: whole rows of them, up to a product's rows, at least two tasks a
        // thread. Each point's kernel is read once per product, so the more rows the better
        // while the products' operands stay in the second-level cache.
        let tiles = cols.div_ceil(TILE);
        let tile_rows = rows.div_ceil(TILE);
        let tasks = 2 * rayon::current_num_threads();
        let band = (GROUP / tiles).clamp(1, tile_rows.div_ceil(tasks).max(1));
        let job = Job {
            x: (x, height, width),
            tiles,
            layout: (cols, row_len),
            in_f64,
            bits,
        };
        out.par_chunks_mut(band * TILE * scale * row_len)
            .enumerate()
            .for_each(|(b, dst)| {
                let ty0 = b * band;
                let count = tiles * band.min(tile_rows - ty0);
                WORK.with_borrow_mut(|work| self.band_on(path, &job, (ty0, count), dst, work));
            });
        out
    }

    /// [`Self::band`] compiled for `path`'s instructions (the transforms in its lanes).
    fn band_on(
        &self,
        path: Path,
        job: &Job<'_>,
        at: (usize, usize),
        dst: &mut [i32],
        work: &mut Work,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if path.avx512() {
                // SAFETY: `Path::Avx512` (and wider) is chosen only where the CPU has AVX-512 F.
                return unsafe { self.band_avx512(path, job, at, dst, work) };
            }
            if path.avx2() {
                // SAFETY: `Path::Avx2` (and wider) only where the CPU has AVX2 and FMA.
                return unsafe { self.band_avx2(path, job, at, dst, work) };
            }
        }
        self.band(path, job, at, dst, work)
    }

    /// # Safety
    /// The CPU has AVX-512 F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn band_avx512(
        &self,
        path: Path,
        job: &Job<'_>,
        at: (usize, usize),
        dst: &mut [i32],
        work: &mut Work,
    ) {
        self.band(path, job, at, dst, work)
    }

    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn band_avx2(
        &self,
        path: Path,
        job: &Job<'_>,
        at: (usize, usize),
        dst: &mut [i32],
        work: &mut Work,
    ) {
        self.band(path, job, at, dst, work)
    }

    /// The `count` tiles from the start of tile row `ty0` (whole rows), into `dst` (their
    /// rows of the output), [`GROUP`] at a time.
    #[inline(always)]
    fn band(
        &self,
        path: Path,
        job: &Job<'_>,
        (ty0, count): (usize, usize),
        dst: &mut [i32],
        work: &mut Work,
    ) {
        let narrow = |acc: i64| narrow(acc, job.bits);
        for first in (0..count).step_by(GROUP) {
            let group = GROUP.min(count - first);
            let at = ((ty0, first, job.tiles), group);
            let dst = (&mut dst[..], job.layout);
            if job.in_f64 {
                let b = &mut work.wide;
                self.inputs(job.x, at, (b, &mut work.zeros), f64::from);
                self.products_f64(path, group, b);
                let m = (&b.m[..], self.points[0].f64_width());
                self.write(at, m, &mut b.rows, dst, (quarter_f64, &narrow));
            } else {
                let b = &mut work.int;
                self.inputs(job.x, at, (b, &mut work.zeros), i64::from);
                self.products_int(path, group, b, &mut work.narrow);
                let m = (&b.m[..], self.points[0].n());
                // Four times the sum, exactly: the shift divides it.
                self.write(at, m, &mut b.rows, dst, (|s| s >> 2, &narrow));
            }
        }
    }

    /// The transformed inputs of `group` tiles, the band's `first` on (`tiles` a row, the
    /// band's first in row `ty0`): `b.v`, point-major (point `p` of tile `t` at row
    /// `p·group + t`).
    #[inline(always)]
    fn inputs<T: Ring>(
        &self,
        (x, height, width): (&[i32], usize, usize),
        ((ty0, first, tiles), group): ((usize, usize, usize), usize),
        (b, zeros): (&mut Buffers<T>, &mut Vec<i32>),
        from: impl Fn(i32) -> T,
    ) {
        let ci = self.in_channels;
        let zeros = &*grown(zeros, ci, 0);
        let rows = grown(&mut b.rows, POINTS * ci, T::default());
        let v = grown(&mut b.v, POINTS * group * ci, T::default());
        for t in 0..group {
            // Input (2ty − 1 + r, 2tx − 1 + q), zeros outside the map.
            let (ty, tx) = (ty0 + (first + t) / tiles, (first + t) % tiles);
            let pixel = |r: usize, q: usize| -> &[i32] {
                let y = (TILE * ty + r).wrapping_sub(1);
                let xx = (TILE * tx + q).wrapping_sub(1);
                match y < height && xx < width {
                    true => &x[(y * width + xx) * ci..][..ci],
                    false => zeros,
                }
            };
            // Along each row, then along each column, channel by channel.
            for (r, dst) in rows.chunks_exact_mut(SIDE * ci).enumerate() {
                let d: [&[i32]; SIDE] = std::array::from_fn(|q| pixel(r, q));
                input_1d(four(dst, [0, ci, 2 * ci, 3 * ci], ci), d, &from);
            }
            for b in 0..SIDE {
                let d: [&[T]; SIDE] = std::array::from_fn(|r| &rows[(r * SIDE + b) * ci..][..ci]);
                let starts = std::array::from_fn(|a| ((a * SIDE + b) * group + t) * ci);
                input_1d(four(v, starts, ci), d, |v| v);
            }
        }
    }

    /// The 16 points' products of `group` tiles' inputs `b.v` in `f64`: `b.m`, point-major,
    /// rows [`IntPacked::f64_width`] apart.
    #[inline(always)]
    fn products_f64(&self, path: Path, group: usize, b: &mut Buffers<f64>) {
        let (ci, width) = (self.in_channels, self.points[0].f64_width());
        let m = grown(&mut b.m, POINTS * group * width, 0.0);
        for (p, kernel) in self.points.iter().enumerate() {
            let x = &b.v[p * group * ci..][..group * ci];
            let done = exact::sums_in_f64(path, x, group, kernel, &mut m[p * group * width..]);
            debug_assert!(done, "an f64 kernel on {path:?}");
        }
    }

    /// The 16 points' products of `group` tiles' inputs `b.v` in integers: `b.m`, point-major
    /// (`narrow`, the inputs in 32 bits).
    #[inline(always)]
    fn products_int(&self, path: Path, group: usize, b: &mut Buffers<i64>, narrow: &mut Vec<i32>) {
        let (ci, cols) = (self.in_channels, self.points[0].n());
        let v = &b.v[..POINTS * group * ci];
        let m = grown(&mut b.m, POINTS * group * cols, 0);
        let fits = v.iter().all(|&v| i32::try_from(v).is_ok());
        let a = grown(narrow, v.len(), 0);
        if fits {
            a.iter_mut().zip(v).for_each(|(a, &v)| *a = v as i32);
        }
        for (p, kernel) in self.points.iter().enumerate() {
            let m = &mut m[p * group * cols..][..group * cols];
            if fits {
                exact::product(path, &a[p * group * ci..], group, kernel, m);
            } else {
                // Inputs past 32 bits (beyond any the networks produce): the same integers.
                exact::product_wide(&v[p * group * ci..], group, kernel, m);
            }
        }
    }

    /// The outputs of the `group` tiles from the band's `first` (their products `m`, rows
    /// `stride` apart; `y` for the transform's first pass): each four times a sum, which `quarter`
    /// divides; plus the bias, through `narrow`, into `band` (rows `row_len` apart; `cols`
    /// columns of the small map).
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    fn write<T: Ring>(
        &self,
        ((_, first, tiles), group): ((usize, usize, usize), usize),
        (m, stride): (&[T], usize),
        y: &mut Vec<T>,
        (band, (cols, row_len)): (&mut [i32], (usize, usize)),
        (quarter, narrow): (impl Fn(T) -> i64, &impl Fn(i64) -> i32),
    ) {
        let (o, n) = (self.out_channels, self.points[0].n());
        let band_rows = band.len() / row_len;
        let scale = 1 + usize::from(self.parities);
        let y = grown(y, (SIDE + TILE) * TILE * n, T::default());
        let (y, z) = y.split_at_mut(SIDE * TILE * n);
        for t in 0..group {
            // Along each row of points (`y`: row `r`'s two columns), then along each column
            // (`z`: column `b`'s two rows).
            for (r, dst) in y.chunks_exact_mut(TILE * n).enumerate() {
                let m = std::array::from_fn(|q| &m[((r * SIDE + q) * group + t) * stride..][..n]);
                output_1d(dst.split_at_mut(n), m);
            }
            for (b, dst) in z.chunks_exact_mut(TILE * n).enumerate() {
                let d = std::array::from_fn(|r| &y[(r * TILE + b) * n..][..n]);
                output_1d(dst.split_at_mut(n), d);
            }
            let (ty, tx) = ((first + t) / tiles, (first + t) % tiles);
            for (a, b) in (0..TILE).flat_map(|a| (0..TILE).map(move |b| (a, b))) {
                let q = TILE * tx + b;
                if q >= cols {
                    continue;
                }
                let sums = &z[(b * TILE + a) * n..][..n];
                for (p, sums) in sums.chunks_exact(o).enumerate() {
                    let (row, col) = (scale * (TILE * ty + a) + p / 2, scale * q + p % 2);
                    if row >= band_rows {
                        continue;
                    }
                    let dst = &mut band[row * row_len + col * o..][..o];
                    for ((out, &s), &bias) in dst.iter_mut().zip(sums).zip(&self.bias) {
                        *out = narrow(quarter(s).wrapping_add(bias));
                    }
                }
            }
        }
    }
}

/// What every task of a layer reads.
struct Job<'a> {
    /// The input map, its rows and columns.
    x: (&'a [i32], usize, usize),
    /// Tiles a row.
    tiles: usize,
    /// Columns of the small map, and values a row of the output.
    layout: (usize, usize),
    /// Whether the products run in `f64`.
    in_f64: bool,
    /// The sums' fraction bits past the output's.
    bits: u32,
}

/// `acc` without its last `bits` fraction bits, rounded (halves up) and saturated to `i32`.
#[inline(always)]
pub fn narrow(acc: i64, bits: u32) -> i32 {
    let v = acc.wrapping_add(1 << (bits - 1)) >> bits;
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// A path's buffers: transformed inputs, products, a tile's first pass.
#[derive(Debug, Default)]
struct Buffers<T> {
    v: Vec<T>,
    m: Vec<T>,
    rows: Vec<T>,
}

thread_local! {
    /// Each thread's buffers, kept between tasks and calls: fresh ones were zeroed each time
    /// (a tenth of the hyper-synthesis). At most a few megabytes (they grow with the
    /// channels, not with the image).
    static WORK: std::cell::RefCell<Work> = std::cell::RefCell::default();
}

/// A task's buffers.
#[derive(Debug, Default)]
struct Work {
    wide: Buffers<f64>,
    int: Buffers<i64>,
    /// The integer path's transformed inputs in 32 bits, where they fit.
    narrow: Vec<i32>,
    /// One pixel of zeros.
    zeros: Vec<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_threads;

    /// `n` scattered integers in `[−span, span)`.
    fn scattered(n: usize, seed: i64, span: i64) -> Vec<i32> {
        (0..n as i64)
            .map(|k| ((k + seed) * 7919 % (2 * span) - span) as i32)
            .collect()
    }

    /// The layer's definition, summed in `i128` (wrapped to `i64` as the sums are): a
    /// convolution's output `(oy, ox)` reads input `(oy + ky − 1, ox + kx − 1)`; a transposed
    /// one's `(oy, ox)` the inputs `(iy, ix)` with `2·iy − 2 + ky = oy` (likewise `x`).
    fn reference(
        (x, h, w): (&[i32], usize, usize),
        (weights, bias, i, o): (&[i32], &[i64], usize, usize),
        parities: bool,
        (rows, cols): (usize, usize),
    ) -> Vec<i32> {
        let (k, s) = if parities { (5, 2) } else { (3, 1) };
        let (oh, ow) = (s * rows, s * cols);
        let mut out = vec![0; oh * ow * o];
        for (oy, ox, oc) in
            (0..oh).flat_map(|y| (0..ow).flat_map(move |x| (0..o).map(move |c| (y, x, c))))
        {
            let mut acc = i128::from(bias[oc]);
            for (ic, ky, kx) in
                (0..i).flat_map(|c| (0..k).flat_map(move |y| (0..k).map(move |x| (c, y, x))))
            {
                let (ty, tx) = if parities {
                    let (ty, tx) = (oy as i64 + 2 - ky as i64, ox as i64 + 2 - kx as i64);
                    if ty % 2 != 0 || tx % 2 != 0 {
                        continue;
                    }
                    (ty / 2, tx / 2)
                } else {
                    (oy as i64 + ky as i64 - 1, ox as i64 + kx as i64 - 1)
                };
                if ty < 0 || tx < 0 || ty >= h as i64 || tx >= w as i64 {
                    continue;
                }
                let v = x[(ty as usize * w + tx as usize) * i + ic];
                acc += i128::from(v) * i128::from(weights[((ic * k + ky) * k + kx) * o + oc]);
            }
            out[(oy * ow + ox) * o + oc] = narrow(acc as i64, 16);
        }
        out
    }

    /// Both kinds of layer give their definition's integers for maps all border and larger
    /// (odd sizes, crops of a convolution), on every path and 1, 3 and 16 threads, with
    /// inputs that take the `f64` products, the 32-bit integer ones and the 64-bit ones.
    #[test]
    fn layers_give_the_direct_integers() {
        let (i, o) = (6, 5);
        for parities in [false, true] {
            let k = if parities { 5 } else { 3 };
            let weights = scattered(i * k * k * o, 3, 70_000);
            let bias: Vec<i64> = scattered(o, 5, 1 << 20)
                .into_iter()
                .map(i64::from)
                .collect();
            let layer = match parities {
                true => ExactWinograd::deconv(&weights, &bias, (i, o)),
                false => ExactWinograd::conv(&weights, &bias, (i, o)),
            };
            let layer = layer.expect("weights within the bounds");
            let sizes = [(1, 1), (2, 3), (5, 7), (9, 70), (26, 3)];
            // Inputs of 20 bits (products in f64 where the path has them; the transformed
            // weights reach 2²⁴), of 28 bits (too large for f64: 32-bit integer products),
            // and of 31 bits (transformed, past 32 bits: 64-bit products).
            let spans = [1 << 20, 1 << 28, 1 << 31];
            for ((h, w), span) in sizes.into_iter().flat_map(|s| spans.map(|span| (s, span))) {
                let x = scattered(h * w * i, 7, span);
                let crops = match parities {
                    true => vec![(h, w)],
                    false => vec![(h, w), (h.div_ceil(2), w), (1, w.min(2))],
                };
                for crop in crops {
                    let want = reference((&x, h, w), (&weights, &bias, i, o), parities, crop);
                    for path in Path::available() {
                        for threads in [1, 3, 16] {
                            let got = on_threads(threads, || layer.run(path, (&x, h, w), crop, 16));
                            assert!(
                                got == want,
                                "{parities} {h}×{w} {crop:?} {span} {path:?} {threads}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Columns whose `Σ|w|` reaches 2³⁰, or transformed weights past 32 bits, keep a layer
    /// off this path; just below, it takes it.
    #[test]
    fn large_weights_keep_the_direct_path() {
        let (i, o) = (2, 1);
        let mut w = vec![0i32; i * 9 * o];
        w[0] = (1 << 29) - 1;
        w[9] = 1 << 29;
        assert!(
            ExactWinograd::conv(&w, &[0], (i, o)).is_none(),
            "Σ|w| = 2³⁰"
        );
        w[9] -= 1;
        assert!(
            ExactWinograd::conv(&w, &[0], (i, o)).is_some(),
            "Σ|w| = 2³⁰ − 2"
        );
        // A corner tap alone: four times it at the corner point, past 32 bits from 2²⁹.
        let mut w = vec![0i32; 9];
        w[0] = (1 << 29) - 1;
        assert!(
            ExactWinograd::conv(&w, &[0], (1, 1)).is_some(),
            "4·(2²⁹ − 1) fits"
        );
        w[0] = 1 << 29;
        assert!(
            ExactWinograd::conv(&w, &[0], (1, 1)).is_none(),
            "4·2²⁹ does not fit"
        );
    }
}
