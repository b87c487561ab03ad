//! The synthesis's transposed convolutions after the first by Winograd's minimal filtering,
//! F(4×4, 3×3) (Lavin and Gray 2016): 2.8× fewer multiply-adds than the four phases of
//! [`super::infer::Transposed`].
//!
//! A 5×5 transposed convolution of stride 2 reads, for the 2×2 output pixels of input position
//! `(y, x)`, only the inputs `(y + dy, x + dx)` with `dy, dx ∈ {−1, 0, 1}`: it is a 3×3
//! convolution of the input grid with `4·out` outputs (the four output parities side by side,
//! the taps that do not reach a parity zero). Winograd's algorithm computes a tile of 4×4
//! positions of such a convolution from its 6×6 inputs: `Y = Aᵀ[(G K Gᵀ) ⊙ (Bᵀ D B)]A`, where
//! the elementwise product, summed over input channels, is 36 matrix products, one per point
//! of the tile (each output one fused multiply-add chain in [`panel::product`]).
//!
//! Every value has one definition: the tiles lie on a fixed grid (multiples of 4 from the
//! map's first row and column), the transforms are written-out sums of products in a fixed
//! order (each channel's lane does the same operations on every instruction set; Rust never
//! fuses them), and the products are [`panel::product`]'s. So the bits do not depend on the
//! thread count, the instruction set or the tiles per product; they do depend on the inputs of
//! a whole tile, not only on an output's 3×3 neighbours (the decoder's regions allow for that).

use rayon::prelude::*;

use super::grown;
use super::infer::{post, Post, Scratch};
use super::panel::{self, Out, Packed, Runs};
use crate::cpu_path::Path;

/// Input positions per tile side.
pub const TILE: usize = 4;
/// Inputs per tile side: the tile and one position either side.
const SIDE: usize = TILE + 2;
/// Points of a tile's transform.
const POINTS: usize = SIDE * SIDE;
/// Tiles per product (their transformed inputs and products stay in the second-level cache).
const GROUP: usize = 16;
/// Values an output transform takes at least (all columns of as many tiles as that needs):
/// a layer of few outputs (the last, 12 columns a tile) would leave its lanes mostly empty.
const OUTPUT_LANES: usize = 256;

/// Tiles an output transform takes at once for tiles of `cols` columns.
fn output_tiles(cols: usize) -> usize {
    (OUTPUT_LANES / cols).max(1)
}

/// `G`, the kernel's transform (rows of three taps), in `f64`.
const G: [[f64; 3]; SIDE] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `Bᵀd` for six inputs `d`: the input's transform along one axis.
#[inline(always)]
fn bt(d: [f32; SIDE]) -> [f32; SIDE] {
    [
        4.0 * d[0] - 5.0 * d[2] + d[4],
        -4.0 * d[1] - 4.0 * d[2] + d[3] + d[4],
        4.0 * d[1] - 4.0 * d[2] - d[3] + d[4],
        -2.0 * d[1] - d[2] + 2.0 * d[3] + d[4],
        2.0 * d[1] - d[2] - 2.0 * d[3] + d[4],
        4.0 * d[1] - 5.0 * d[3] + d[5],
    ]
}

/// `Aᵀm` for six transformed values `m`: four outputs along one axis.
#[inline(always)]
fn at(m: [f32; SIDE]) -> [f32; TILE] {
    [
        m[0] + m[1] + m[2] + m[3] + m[4],
        m[1] - m[2] + 2.0 * (m[3] - m[4]),
        m[1] + m[2] + 4.0 * (m[3] + m[4]),
        m[1] - m[2] + 8.0 * (m[3] - m[4]) + m[5],
    ]
}

/// A 5×5 stride-2 transposed convolution as a Winograd 3×3 convolution of `4·out` outputs.
#[derive(Debug, Clone)]
pub struct WinogradDeconv {
    /// `G K Gᵀ` at each of the 36 points: `in × 4·out`, the parities `(py, px)` in the order
    /// (0, 0), (0, 1), (1, 0), (1, 1); no bias.
    points: Vec<Packed>,
    /// The bias of each parity's outputs, repeated for as many tiles as one output transform
    /// takes.
    bias: Vec<f32>,
    in_channels: usize,
    out_channels: usize,
}

impl WinogradDeconv {
    /// The layer of burn's kernel `w` (`[in, out, 5, 5]`, padding 2, output padding 1) and
    /// `bias`.
    pub fn new(w: &[f32], bias: &[f32], (i, o): (usize, usize)) -> Self {
        assert_eq!(w.len(), i * o * 25, "a 5×5 kernel");
        let cols = 4 * o;
        let k = three_by_three(w, (i, o));
        let zeros = vec![0.0; cols];
        // Column b's six points at a time, each packed as soon as it is transformed: all 36
        // in f64 first, with their first axis's transform, took three times the packed
        // kernel's memory again.
        let columns = crate::parallel::map((0..SIDE).collect(), |b| {
            let half = half_transformed(&k, i * cols, b);
            (0..SIDE)
                .map(|a| {
                    let u = transformed(&half, a);
                    Packed::new(i, cols, |r, c| u[r * cols + c] as f32, &zeros)
                })
                .collect::<Vec<_>>()
        });
        let mut columns: Vec<_> = columns.into_iter().map(Vec::into_iter).collect();
        // Point a·SIDE + b.
        let points = (0..POINTS)
            .map(|p| columns[p % SIDE].next().expect("six points a column"))
            .collect();
        Self {
            points,
            bias: bias.repeat(4 * output_tiles(4 * o)),
            in_channels: i,
            out_channels: o,
        }
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Writes the layer's output for the `height × width` map `x` (NHWC) to `out`
    /// (`2·height × 2·width` pixels), each run of output pixels followed by `post`; one row of
    /// tiles (eight output rows) per task.
    pub(super) fn run_rows(
        &self,
        path: Path,
        x: &[f32],
        (height, width): (usize, usize),
        post_op: &Post,
        out: &mut [f32],
    ) {
        let c = self.out_channels;
        assert_eq!(
            x.len(),
            height * width * self.in_channels,
            "the input's size"
        );
        assert_eq!(out.len(), 4 * height * width * c, "the output's size");
        if out.is_empty() {
            return;
        }
        out.par_chunks_mut(2 * TILE * 2 * width * c)
            .enumerate()
            // One set of buffers for the tasks a thread takes in turn: fresh ones, filled
            // with zeros, took about 8% of a layer's time.
            .for_each_init(Work::default, |work, (ty, rows)| {
                for tx in (0..width.div_ceil(TILE)).step_by(GROUP) {
                    let tiles = GROUP.min(width.div_ceil(TILE) - tx);
                    let at = (ty * TILE, tx * TILE);
                    self.group(path, (x, height, width), at, tiles, rows, work);
                    let cols = (2 * at.1)..(2 * (at.1 + tiles * TILE)).min(2 * width);
                    for row in rows.chunks_exact_mut(2 * width * c) {
                        let run = &mut row[cols.start * c..cols.end * c];
                        post(path, post_op, c, run, &mut work.scratch);
                    }
                }
            });
    }

    /// The outputs of `tiles` tiles from input position `(y0, x0)` along the row, into `rows`
    /// (the output rows from `2·y0`).
    fn group(
        &self,
        path: Path,
        input: (&[f32], usize, usize),
        (y0, x0): (usize, usize),
        tiles: usize,
        rows: &mut [f32],
        work: &mut Work,
    ) {
        self.transform_inputs(path, input, (y0, x0), tiles, work);
        self.products(path, tiles, work);
        self.write_outputs(path, (x0, input.2), tiles, rows, work);
    }

    /// `work.v`: each tile's transformed inputs, tile-major, point by point.
    fn transform_inputs(
        &self,
        path: Path,
        (x, height, width): (&[f32], usize, usize),
        (y0, x0): (usize, usize),
        tiles: usize,
        work: &mut Work,
    ) {
        let ci = self.in_channels;
        grown(&mut work.v, tiles * POINTS * ci, 0.0);
        work.zeros.resize(ci, 0.0);
        for (t, v) in work.v.chunks_exact_mut(POINTS * ci).take(tiles).enumerate() {
            let pixel = |r: usize, q: usize| -> &[f32] {
                // Input (y0 + r − 1, x0 + 4t + q − 1), zeros outside the map.
                let y = (y0 + r).wrapping_sub(1);
                let xx = (x0 + TILE * t + q).wrapping_sub(1);
                if y < height && xx < width {
                    &x[(y * width + xx) * ci..][..ci]
                } else {
                    &work.zeros
                }
            };
            let d: [&[f32]; POINTS] = std::array::from_fn(|p| pixel(p / SIDE, p % SIDE));
            lanes::input(path, &d, &mut work.t, v);
        }
    }

    /// `work.m`: each point's product, point-major (point `p` of tile `t` is row `t` of point
    /// `p`'s product).
    fn products(&self, path: Path, tiles: usize, work: &mut Work) {
        let (ci, cols) = (self.in_channels, 4 * self.out_channels);
        grown(&mut work.m, tiles * POINTS * cols, 0.0);
        for (p, kernel) in self.points.iter().enumerate() {
            work.starts.clear();
            work.starts
                .extend((0..tiles).map(|t| (t * POINTS + p) * ci));
            let runs = Runs {
                src: &work.v,
                gathered: &[],
                lens: &[ci],
                starts: &work.starts,
            };
            let dst = Out {
                values: &mut work.m[p * tiles * cols..],
                stride: cols,
            };
            panel::product_runs(path, &runs, tiles, kernel, dst);
        }
    }

    /// The outputs of the `tiles` tiles in `work.m` into `rows`, the first tile at input
    /// column `x0` of a map `width` positions wide.
    fn write_outputs(
        &self,
        path: Path,
        (x0, width): (usize, usize),
        tiles: usize,
        rows: &mut [f32],
        work: &mut Work,
    ) {
        let o = self.out_channels;
        let cols = 4 * o;
        // The input rows of this row of tiles (fewer than four in the last).
        let h = rows.len() / (4 * width * o);
        // Tiles transformed at once: every column of each (the same transform for each).
        let chunk = output_tiles(cols);
        for t0 in (0..tiles).step_by(chunk) {
            let n = chunk.min(tiles - t0) * cols;
            let mp: [&[f32]; POINTS] =
                std::array::from_fn(|p| &work.m[(p * tiles + t0) * cols..][..n]);
            lanes::output(path, &mp, &self.bias[..n], &mut work.s);
            let y = &work.s[SIDE * TILE * n..][..TILE * TILE * n];
            for t in t0..t0 + n / cols {
                let x1 = x0 + TILE * t;
                let w = (width - x1).min(TILE);
                self.write_tile(y, (t - t0) * cols, (x1, w, h), (rows, 2 * width * o));
            }
        }
    }

    /// One tile's outputs, from column `first` of each transformed output position in `y`
    /// (16 rows of `n` values), into `rows` (output rows of `row_len` values): the tile from
    /// input column `x1`, `w` positions wide and `h` high.
    fn write_tile(
        &self,
        y: &[f32],
        first: usize,
        (x1, w, h): (usize, usize, usize),
        (rows, row_len): (&mut [f32], usize),
    ) {
        let o = self.out_channels;
        let n = y.len() / (TILE * TILE);
        for (i, py) in (0..h).flat_map(|i| (0..2).map(move |py| (i, py))) {
            let row = &mut rows[(2 * i + py) * row_len..][..row_len];
            // Output pixels 2·(x1 + j) and the next for j < w: parities (py, 0) and (py, 1),
            // side by side in both.
            let pairs = row[2 * x1 * o..].chunks_exact_mut(2 * o).take(w);
            for (j, dst) in pairs.enumerate() {
                let at = (i * TILE + j) * n + first + 2 * py * o;
                let src = &y[at..at + 2 * o];
                if o < 8 {
                    // An element loop: a call to copy three values costs more than they.
                    dst.iter_mut().zip(src).for_each(|(d, v)| *d = *v);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }
}

/// Burn's `[in, out, 5, 5]` kernel as the 3×3 kernel `K[j][l]` of input offset
/// `(j − 1, l − 1)`, `in × 4·out` values each (the parities side by side), in `f64`.
fn three_by_three(w: &[f32], (i, o): (usize, usize)) -> Vec<f64> {
    let cols = 4 * o;
    let mut k = vec![0f64; 9 * i * cols];
    for (ph, (py, px)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
        for (j, l) in (0..3).flat_map(|j| (0..3).map(move |l| (j, l))) {
            // Input row y + j − 1 meets output row 2y + py through kernel row py + 4 − 2j
            // (burn's padding 2).
            let (ky, kx) = (py + 4 - 2 * j, px + 4 - 2 * l);
            if ky >= 5 || kx >= 5 {
                continue;
            }
            for (ci, co) in (0..i).flat_map(|ci| (0..o).map(move |co| (ci, co))) {
                let v = w[((ci * o + co) * 5 + ky) * 5 + kx];
                k[((j * 3 + l) * i + ci) * cols + ph * o + co] = f64::from(v);
            }
        }
    }
    k
}

/// `G K Gᵀ` of the 3×3 kernel `k` (`n` values a tap) is taken one axis at a time; this is the
/// first, along l, for column `b`: `half[j] = Σ_l G[b][l]·K[j][l]`, three rows of `n`.
fn half_transformed(k: &[f64], n: usize, b: usize) -> Vec<f64> {
    let mut half = vec![0f64; 3 * n];
    for (j, dst) in half.chunks_exact_mut(n).enumerate() {
        for l in 0..3 {
            let (g, src) = (G[b][l], &k[(j * 3 + l) * n..][..n]);
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += g * s);
        }
    }
    half
}

/// The second axis, along j, of [`half_transformed`]'s column: point `(a, b)`'s `n` values,
/// `u = Σ_j G[a][j]·half[j]`.
fn transformed(half: &[f64], a: usize) -> Vec<f64> {
    let n = half.len() / 3;
    let mut u = vec![0f64; n];
    for (j, src) in half.chunks_exact(n).enumerate() {
        let g = G[a][j];
        u.iter_mut().zip(src).for_each(|(d, s)| *d += g * s);
    }
    u
}

/// The transforms, channel by channel: every lane does the same operations on every path.
mod lanes {
    use super::{at, bt, POINTS, SIDE, TILE};

    /// Channels a step of [`each`] takes: fixed-size arrays, which the compiler keeps in
    /// vector registers without checking whether outputs overlap inputs (it did so per call
    /// for slices, and most of the work ran in its scalar fallback).
    const STEP: usize = 16;

    /// `outs[k][c] = f(ins[0][c], …, ins[5][c])[k]` for every channel `c < n`.
    #[inline(always)]
    fn each<const N: usize>(
        ins: [&[f32]; SIDE],
        outs: &mut [f32],
        n: usize,
        f: impl Fn([f32; SIDE]) -> [f32; N],
    ) {
        let ins = ins.map(|s| &s[..n]);
        let mut chunks = outs[..N * n].chunks_exact_mut(n);
        let mut outs: [&mut [f32]; N] = std::array::from_fn(|_| chunks.next().expect("N chunks"));
        let whole = n - n % STEP;
        for c in (0..whole).step_by(STEP) {
            let x: [[f32; STEP]; SIDE] =
                std::array::from_fn(|r| ins[r][c..c + STEP].try_into().expect("a step"));
            let mut y = [[0f32; STEP]; N];
            for l in 0..STEP {
                let v = f(std::array::from_fn(|r| x[r][l]));
                for k in 0..N {
                    y[k][l] = v[k];
                }
            }
            for (out, y) in outs.iter_mut().zip(&y) {
                out[c..c + STEP].copy_from_slice(y);
            }
        }
        for c in whole..n {
            let v = f(std::array::from_fn(|r| ins[r][c]));
            for k in 0..N {
                outs[k][c] = v[k];
            }
        }
    }

    /// `v = Bᵀ D B` of a tile's 36 input pixels `d` (row-major), point-major into `v`; `t`
    /// holds the first pass.
    #[inline(always)]
    fn input_lanes(d: &[&[f32]; POINTS], t: &mut Vec<f32>, v: &mut [f32]) {
        let n = d[0].len();
        t.resize(POINTS * n, 0.0);
        // Down each column q: t[q][a] = Σᵣ Bᵀ[a][r]·d[r][q].
        for q in 0..SIDE {
            let col = std::array::from_fn(|r| d[r * SIDE + q]);
            each(col, &mut t[q * SIDE * n..], n, bt);
        }
        // Along each row a: v[a][b] = Σ_q t[q][a]·B[q][b].
        for a in 0..SIDE {
            let row = std::array::from_fn(|q| &t[(q * SIDE + a) * n..][..n]);
            each(row, &mut v[a * SIDE * n..], n, bt);
        }
    }

    /// `y = Aᵀ M A + bias` of the 36 products `m` (point-major): the first pass in `s`, then
    /// the 4×4 outputs, row-major.
    #[inline(always)]
    fn output_lanes(m: &[&[f32]; POINTS], bias: &[f32], s: &mut Vec<f32>) {
        let n = bias.len();
        s.resize((SIDE + TILE) * TILE * n, 0.0);
        let (s, y) = s.split_at_mut(SIDE * TILE * n);
        // Down each column b: s[b][i] = Σₐ Aᵀ[i][a]·m[a][b].
        for b in 0..SIDE {
            let col = std::array::from_fn(|a| m[a * SIDE + b]);
            each(col, &mut s[b * TILE * n..], n, at);
        }
        // Along each row i, plus the bias.
        for i in 0..TILE {
            let row = std::array::from_fn(|b| &s[(b * TILE + i) * n..][..n]);
            each(row, &mut y[i * TILE * n..], n, at);
            for out in y[i * TILE * n..(i + 1) * TILE * n].chunks_exact_mut(n) {
                for (v, b) in out.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        }
    }

    dispatched! {
        fn input(d: &[&[f32]; POINTS], t: &mut Vec<f32>, v: &mut [f32]) = input_lanes;
        fn output(m: &[&[f32]; POINTS], bias: &[f32], s: &mut Vec<f32>) = output_lanes;
    }
}

/// A task's buffers.
#[derive(Debug, Default)]
struct Work {
    /// Transformed inputs, point-major.
    v: Vec<f32>,
    /// The products, point-major.
    m: Vec<f32>,
    /// The first pass of an input transform.
    t: Vec<f32>,
    /// The first pass of an output transform.
    s: Vec<f32>,
    /// Where the rows of a product start.
    starts: Vec<usize>,
    /// One pixel of zeros.
    zeros: Vec<f32>,
    scratch: Scratch,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyper::cpu::infer::Transposed;
    use crate::testing::{on_threads, values};

    fn layer(i: usize, o: usize) -> (Vec<f32>, Vec<f32>) {
        (values(i * o * 25, 1, 0.4), values(o, 2, 0.2))
    }

    fn winograd(l: &WinogradDeconv, path: Path, x: &[f32], size: (usize, usize)) -> Vec<f32> {
        let mut out = vec![0.0; 4 * size.0 * size.1 * l.out_channels];
        l.run_rows(path, x, size, &Post::None, &mut out);
        out
    }

    /// The layer computes what its four phases compute, to rounding, on sizes that fill
    /// tiles, leave them partial, and span several products per row of tiles.
    #[test]
    fn winograd_follows_the_phases() {
        for (i, o) in [(8, 12), (16, 3)] {
            let (w, b) = layer(i, o);
            let wino = WinogradDeconv::new(&w, &b, (i, o));
            let direct = Transposed::new(&w, &b, (i, o), 5);
            for size in [(1, 1), (3, 5), (4, 4), (9, 7), (5, 4 * GROUP + 3)] {
                let x = values(size.0 * size.1 * i, 3, 2.0);
                let got = winograd(&wino, Path::widest(), &x, size);
                let mut want = vec![0.0; got.len()];
                direct.run_into(Path::widest(), &x, size, &mut want);
                let worst = (got.iter().zip(&want))
                    .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                    .fold(0f32, f32::max);
                assert!(worst < 1e-5, "{i}→{o} at {size:?}: {worst}");
            }
        }
    }

    /// The same bits on every instruction set this CPU has and on 1 to 16 threads, and a
    /// transform by the formula: `Bᵀ` and `Aᵀ` as matrices give the written-out sums.
    #[test]
    fn paths_and_threads_agree() {
        let (i, o) = (24, 16);
        let (w, b) = layer(i, o);
        let wino = WinogradDeconv::new(&w, &b, (i, o));
        let size = (11, 4 * GROUP + 5);
        let x = values(size.0 * size.1 * i, 4, 3.0);
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let reference = bits(&winograd(&wino, Path::Portable, &x, size));
        for path in Path::available() {
            for threads in [1, 3, 16] {
                let got = on_threads(threads, || winograd(&wino, path, &x, size));
                assert_eq!(bits(&got), reference, "{path:?} on {threads} threads");
            }
        }
    }

    /// `bt` and `at` are Lavin's `Bᵀ` and `Aᵀ` for F(4, 3): together with `G` they compute a
    /// three-tap correlation exactly (on small integers, in exact arithmetic).
    #[test]
    fn the_transforms_compute_a_correlation() {
        let d = [3.0, -1.0, 4.0, 1.0, -5.0, 9.0];
        let g = [2.0, -6.0, 12.0];
        let u: Vec<f64> = (0..SIDE)
            .map(|a| (0..3).map(|j| G[a][j] * g[j]).sum())
            .collect();
        let v = bt(d.map(|x: f64| x as f32));
        let m: [f32; SIDE] = std::array::from_fn(|a| (u[a] * f64::from(v[a])) as f32);
        let y = at(m);
        for (i, &got) in y.iter().enumerate() {
            let want: f64 = (0..3).map(|j| g[j] * d[i + j]).sum();
            assert!(
                (f64::from(got) - want).abs() < 1e-4,
                "{i}: {got} against {want}"
            );
        }
    }
}
