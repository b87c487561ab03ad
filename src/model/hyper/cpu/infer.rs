//! The transforms forward only, for coding: each layer computed a short run of output pixels
//! at a time (their patches, their product, then the GDN or ReLU that follows on the same
//! pixels while they are in cache), one output row per task.
//!
//! A transposed convolution of stride 2 is computed as four convolutions of the small grid,
//! one per parity of the output row and column, each reading only the taps that reach it (so
//! no product with the zeros between input pixels). Every value comes from
//! [`super::panel::product`], one multiply-add chain per output in a fixed
//! order: the results do not depend on the thread count, the instruction set or where a
//! region starts.

use std::ops::Range;

use rayon::prelude::*;

use super::gdn;
use super::grid::squares_to_grid;
use super::grown;
use super::panel::{self, Out, Packed, Runs};
use super::panel16::{self, Packed16};
use super::pool;
use super::taps::Taps;
use super::winograd::WinogradDeconv;
use crate::cpu_path::Path;
use crate::model::hyper::Layer;

/// Output pixels per product (their patches stay in the second-level cache).
pub(super) const RUN: usize = 48;

/// The shortest run of values read in place rather than gathered.
const MIN_RUN: usize = 64;

/// A layer's product: a convolution, or a transposed one (four convolutions by output parity).
#[derive(Debug, Clone)]
enum Op {
    Conv(Convolution),
    Deconv(Transposed),
    Winograd(WinogradDeconv),
}

/// A convolution as a product: the patches of its taps times its kernel matrix.
#[derive(Debug, Clone)]
pub(super) struct Gather<K = Packed> {
    taps: Taps,
    kernel: K,
    /// The taps' runs' lengths ([`Taps::run_lens`]), if they are long enough to be read in
    /// place (short runs, of a few input channels, are cheaper gathered).
    runs: Option<Vec<usize>>,
}

impl Gather<Packed> {
    /// The same convolution, its products in bfloat16 where the CPU has tiles for them.
    fn with_bf16(self) -> Self {
        Self {
            kernel: self.kernel.with_bf16(),
            ..self
        }
    }
}

impl<K> Gather<K> {
    /// The convolution of `taps` with `kernel`.
    pub(super) fn new(taps: Taps, kernel: K) -> Self {
        let lens = taps.run_lens();
        let runs = lens.iter().all(|&l| l >= MIN_RUN).then_some(lens);
        Self { taps, kernel, runs }
    }

    /// Which input pixels the convolution reads.
    pub(super) fn taps(&self) -> &Taps {
        &self.taps
    }

    /// The kernel matrix.
    pub(super) fn kernel(&self) -> &K {
        &self.kernel
    }

    /// Output pixels `xs` of row `y` over an input of `size`, in three spans `(from, to,
    /// in place)`: those before, inside and after the pixels whose patches can be read in
    /// place (all gathered unless `in_place` and the runs are long enough).
    pub(super) fn spans(
        &self,
        in_place: bool,
        size: (usize, usize),
        y: usize,
        xs: Range<usize>,
    ) -> [(usize, usize, bool); 3] {
        let inside = match &self.runs {
            Some(_) if in_place => self.taps.inside(size, y),
            _ => 0..0,
        };
        let (x0, end) = (xs.start, xs.end);
        let a = inside.start.clamp(x0, end);
        let b = inside.end.clamp(a, end);
        [(x0, a, false), (a, b, true), (b, end, false)]
    }

    /// The taps' runs' lengths, where they are read in place.
    pub(super) fn run_lens(&self) -> &[usize] {
        self.runs.as_deref().unwrap_or(&[])
    }
}

/// What follows a layer, pixel by pixel.
#[derive(Debug, Clone)]
pub(super) enum Post {
    None,
    Relu,
    /// `x / √(β + Γ·x²)`, or `x·√…` when `inverse`; `norm` packs `Γᵀ` with `β` as its bias.
    Gdn {
        norm: Packed,
        inverse: bool,
    },
    /// `x / √(β + Γ·x²)` with the products in 16 bits (the encoder's): the squares on each
    /// pixel's grid ([`super::grid`]), `Γᵀ` and `β` in `norm`.
    Gdn16 {
        norm: Packed16,
    },
}

/// A task's buffers: patches (or squares, for GDN), GDN's norms, and the starts of runs.
#[derive(Debug, Default)]
pub(super) struct Scratch<T = f32> {
    /// Gathered patches.
    pub(super) patches: Vec<T>,
    /// Patches gathered at the far border before they join `patches`.
    edges: Vec<T>,
    squares: Vec<f32>,
    norm: Vec<f32>,
    /// Squares on their grids, and each pixel's unit.
    grid: Vec<i16>,
    units: Vec<f32>,
    /// Where runs start.
    pub(super) starts: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Stage {
    op: Op,
    post: Post,
}

/// One transform, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    stages: Vec<Stage>,
}

/// A map of `height × width` pixels of `channels` values each, pixel-major (NHWC).
#[derive(Debug, Clone, PartialEq)]
pub struct Map<T = f32> {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel.
    pub channels: usize,
    /// `height · width · channels` values.
    pub values: Vec<T>,
}

/// A borrowed `height × width` map (its channel count is the layer's).
pub(super) struct View<'a> {
    height: usize,
    width: usize,
    values: &'a [f32],
}

impl<'a> View<'a> {
    fn of(values: &'a [f32], (height, width): (usize, usize)) -> Self {
        Self {
            height,
            width,
            values,
        }
    }
}

/// A stride-2 transposed convolution on its own (the trainer's: the synthesis's layers, and
/// every strided convolution's input gradient), computed as the coder computes it: four
/// phases, patches read in place, one chain per output. Only the input's size changes the
/// result, not the thread count or the instruction set.
#[derive(Debug, Clone)]
pub struct Transposed {
    phases: Box<[Gather; 4]>,
    out_channels: usize,
}

impl Transposed {
    /// The layer of burn's kernel `w` (`[in, out, k, k]`; a convolution's own kernel
    /// `[out, in, k, k]` read this way gives its input gradient) and `bias`.
    pub fn new(w: &[f32], bias: &[f32], (i, o): (usize, usize), k: usize) -> Self {
        let phases =
            [(0, 0), (0, 1), (1, 0), (1, 1)].map(|ph| deconv_phase(w, bias, (i, o), k, ph));
        Self {
            phases: Box::new(phases),
            out_channels: o,
        }
    }

    /// The same layer, its products in bfloat16 on AMX tiles where the CPU has them (the
    /// trainer's choice: [`super::bf16`]).
    pub fn with_bf16(self) -> Self {
        let [a, b, c, d] = *self.phases;
        Self {
            phases: Box::new([a.with_bf16(), b.with_bf16(), c.with_bf16(), d.with_bf16()]),
            ..self
        }
    }

    /// Writes the layer's output for the `height × width` map `x` (NHWC, one image) to
    /// `out`, `2·height × 2·width` pixels, one pair of output rows per task.
    pub fn run_into(&self, path: Path, x: &[f32], size: (usize, usize), out: &mut [f32]) {
        self.run_rows(path, (&View::of(x, size), true), &Post::None, out);
    }

    /// [`Transposed::run_into`], each run of pixels followed by `post`, reading patches in
    /// place when asked.
    fn run_rows(&self, path: Path, (x, in_place): (&View<'_>, bool), post: &Post, out: &mut [f32]) {
        let c = self.out_channels;
        assert_eq!(out.len(), 4 * x.height * x.width * c, "the output's size");
        out.par_chunks_mut(4 * x.width * c)
            .enumerate()
            .for_each(|(y, rows)| {
                let mut scratch = Scratch::default();
                let layer = (self.phases.as_ref(), c, post);
                deconv_rows(path, layer, in_place, x, y, rows, &mut scratch);
            });
    }
}

/// A convolution on its own (the trainer's: the analysis's layers, and every transposed
/// convolution's input gradient), computed as the coder computes it: patches read in place,
/// one chain per output.
#[derive(Debug, Clone)]
pub struct Convolution {
    gather: Gather,
    out_channels: usize,
}

impl Convolution {
    /// The `k`×`k` layer of `stride` with burn's kernel `w` (`[out, in, k, k]`; a transposed
    /// convolution's own kernel `[in, out, k, k]` read this way, with `stride` 2, gives its
    /// input gradient) and `bias`.
    pub fn new(w: &[f32], bias: &[f32], (i, o): (usize, usize), k: usize, stride: usize) -> Self {
        Self {
            gather: conv(w, bias, (i, o), k, stride),
            out_channels: o,
        }
    }

    /// The same layer, its products in bfloat16 on AMX tiles where the CPU has them (the
    /// trainer's choice: [`super::bf16`]).
    pub fn with_bf16(self) -> Self {
        Self {
            gather: self.gather.with_bf16(),
            ..self
        }
    }

    /// The output's height and width for an input of `size`.
    pub fn output(&self, (height, width): (usize, usize)) -> (usize, usize) {
        let taps = self.gather.taps();
        (taps.output(height), taps.output(width))
    }

    /// Writes the layer's output for the `height × width` map `x` (NHWC, one image) to
    /// `out`, one output row per task.
    pub fn run_into(&self, path: Path, x: &[f32], size: (usize, usize), out: &mut [f32]) {
        self.run_rows(path, (&View::of(x, size), true), &Post::None, out);
    }

    /// [`Convolution::run_into`], each run of pixels followed by `post`, reading patches in
    /// place when asked.
    fn run_rows(&self, path: Path, (x, in_place): (&View<'_>, bool), post: &Post, out: &mut [f32]) {
        let c = self.out_channels;
        let (height, width) = self.output((x.height, x.width));
        assert_eq!(out.len(), height * width * c, "the output's size");
        out.par_chunks_mut(width * c)
            .enumerate()
            .for_each(|(y, row)| {
                let mut scratch = Scratch::default();
                let layer = (&self.gather, c, post);
                conv_row(path, layer, in_place, x, y, row, &mut scratch);
            });
    }
}

impl Plan {
    /// The transform of `layers` with its parameter tensors in burn's layouts (weight and bias,
    /// or β' and Γ', per layer that has them).
    pub fn new(layers: &[Layer], params: &[Vec<f32>]) -> Self {
        Self::build(layers, params, false)
    }

    /// The synthesis of `layers` as the decoder runs it: [`Plan::new`], with the transposed
    /// convolutions after the first by Winograd's algorithm ([`super::winograd`]). The first
    /// keeps its four phases: its tiles would span 64 pixels, and the decoder's regions would
    /// need twice the halo.
    pub fn synthesis(layers: &[Layer], params: &[Vec<f32>]) -> Self {
        Self::build(layers, params, true)
    }

    fn build(layers: &[Layer], params: &[Vec<f32>], winograd: bool) -> Self {
        let mut seen = 0;
        let mut stages: Vec<Stage> = Vec::new();
        let mut p = 0;
        for layer in layers {
            match *layer {
                Layer::Conv(i, o, k, s) => {
                    let op = Convolution::new(&params[p], &params[p + 1], (i, o), k, s);
                    stages.push(Stage {
                        op: Op::Conv(op),
                        post: Post::None,
                    });
                    p += 2;
                }
                Layer::Deconv(i, o, k, s) => {
                    assert_eq!(s, 2, "transposed convolutions of stride 2");
                    seen += 1;
                    let (w, b) = (&params[p], &params[p + 1]);
                    let op = if winograd && k == 5 && seen > 1 {
                        Op::Winograd(WinogradDeconv::new(w, b, (i, o)))
                    } else {
                        Op::Deconv(Transposed::new(w, b, (i, o), k))
                    };
                    stages.push(Stage {
                        op,
                        post: Post::None,
                    });
                    p += 2;
                }
                Layer::Gdn(c, inverse) => {
                    let (beta, gamma) = gdn::effective(&params[p], &params[p + 1]);
                    let norm = Packed::new(c, c, |k, j| gamma[j * c + k], &beta);
                    let last = stages.last_mut().expect("GDN follows a convolution");
                    last.post = Post::Gdn { norm, inverse };
                    p += 2;
                }
                Layer::Relu => {
                    stages.last_mut().expect("ReLU follows a convolution").post = Post::Relu;
                }
            }
        }
        Self { stages }
    }

    /// How many stages the plan runs (a convolution with what follows it).
    pub fn stages(&self) -> usize {
        self.stages.len()
    }

    /// Stage `k` on its own.
    pub fn stage(&self, k: usize) -> Plan {
        Plan {
            stages: vec![self.stages[k].clone()],
        }
    }

    /// Runs the transform on `x` on `path`.
    pub fn run(&self, path: Path, x: Map) -> Map {
        self.run_reading(path, x, true)
    }

    /// [`Plan::run`], reading convolutions' patches in place where they lie inside the input
    /// (`in_place`) or always gathering them: the same bits either way.
    fn run_reading(&self, path: Path, mut x: Map, in_place: bool) -> Map {
        for stage in &self.stages {
            let next = stage.run(path, &x, in_place);
            pool::give(std::mem::replace(&mut x, next).values);
        }
        x
    }
}

/// A convolution with padding `k / 2`: burn's kernel `[out, in, k, k]`.
fn conv(w: &[f32], bias: &[f32], (i, o): (usize, usize), k: usize, stride: usize) -> Gather {
    let taps = Taps::conv(k, stride, i);
    // Where each row's weight for output channel 0 is (the trainer packs these every step).
    let firsts: Vec<usize> = (0..taps.patch_len())
        .map(|r| {
            let (ic, (ky, kx)) = taps.row(r);
            (ic * k + ky) * k + kx
        })
        .collect();
    let kernel = Packed::new(
        taps.patch_len(),
        o,
        |r, oc| w[firsts[r] + oc * i * k * k],
        bias,
    );
    Gather::new(taps, kernel)
}

/// Parity `(py, px)` of a stride-2 transposed convolution: burn's kernel `[in, out, k, k]`.
fn deconv_phase(
    w: &[f32],
    bias: &[f32],
    (i, o): (usize, usize),
    k: usize,
    parity: (usize, usize),
) -> Gather {
    let taps = Taps::deconv_phase(k, parity, i);
    // Where each row's first weight is (the trainer packs these every step).
    let firsts: Vec<usize> = (0..taps.patch_len())
        .map(|r| {
            let (ic, (ky, kx)) = taps.row(r);
            (ic * o * k + ky) * k + kx
        })
        .collect();
    let kernel = Packed::new(taps.patch_len(), o, |r, oc| w[firsts[r] + oc * k * k], bias);
    Gather::new(taps, kernel)
}

impl Stage {
    fn run(&self, path: Path, x: &Map, in_place: bool) -> Map {
        let (c, (height, width)) = match &self.op {
            Op::Conv(l) => (l.out_channels, l.output((x.height, x.width))),
            Op::Deconv(l) => (l.out_channels, (2 * x.height, 2 * x.width)),
            Op::Winograd(l) => (l.out_channels(), (2 * x.height, 2 * x.width)),
        };
        // Every value is written below: a kept buffer saves filling a fresh one with zeros
        // (6–8% of a decode's time, on both threads).
        let mut values = pool::vec(height * width * c);
        let at = (&View::of(&x.values, (x.height, x.width)), in_place);
        match &self.op {
            Op::Conv(l) => l.run_rows(path, at, &self.post, &mut values),
            Op::Deconv(l) => l.run_rows(path, at, &self.post, &mut values),
            Op::Winograd(l) => {
                let size = (x.height, x.width);
                l.run_rows(path, &x.values, size, &self.post, &mut values)
            }
        }
        Map {
            height,
            width,
            channels: c,
            values,
        }
    }
}

/// Output row `y` of a convolution of `c` output channels, each run of pixels followed by
/// `post` while in cache.
fn conv_row(
    path: Path,
    (g, c, post_op): (&Gather, usize, &Post),
    in_place: bool,
    x: &View<'_>,
    y: usize,
    row: &mut [f32],
    scratch: &mut Scratch,
) {
    let width = row.len() / c;
    for x0 in (0..width).step_by(RUN) {
        let end = x0 + RUN.min(width - x0);
        let dst = Out {
            values: &mut row[x0 * c..],
            stride: c,
        };
        gather_product(path, (g, in_place), x, (y, x0..end), dst, scratch);
        post(path, post_op, c, &mut row[x0 * c..end * c], scratch);
    }
}

/// Output rows `2y` and `2y + 1` of a transposed convolution of `c` output channels given as
/// its four phases, each run of pixels followed by `post` while in cache.
fn deconv_rows(
    path: Path,
    (phases, c, post_op): (&[Gather; 4], usize, &Post),
    in_place: bool,
    x: &View<'_>,
    y: usize,
    rows: &mut [f32],
    scratch: &mut Scratch,
) {
    let row_len = rows.len() / 2;
    for x0 in (0..x.width).step_by(RUN) {
        let end = x0 + RUN.min(x.width - x0);
        for (k, g) in phases.iter().enumerate() {
            let (py, px) = (k / 2, k % 2);
            let dst = Out {
                values: &mut rows[py * row_len + (2 * x0 + px) * c..],
                stride: 2 * c,
            };
            gather_product(path, (g, in_place), x, (y, x0..end), dst, scratch);
        }
        for py in 0..2 {
            let start = py * row_len + 2 * x0 * c;
            post(
                path,
                post_op,
                c,
                &mut rows[start..start + 2 * (end - x0) * c],
                scratch,
            );
        }
    }
}

/// `post` on `out`, whole pixels of `c` values.
pub(super) fn post<T>(
    path: Path,
    post: &Post,
    c: usize,
    out: &mut [f32],
    scratch: &mut Scratch<T>,
) {
    let Scratch {
        squares,
        norm,
        grid,
        units,
        ..
    } = scratch;
    let pixels = out.len() / c.max(1);
    match post {
        Post::None => {}
        Post::Relu => out.iter_mut().for_each(|v| *v = v.max(0.0)),
        Post::Gdn {
            norm: packed,
            inverse,
        } => {
            // Both written in full below.
            let squares = grown(squares, out.len(), 0.0);
            let norm = grown(norm, out.len(), 0.0);
            gdn_squares(path, out, squares);
            let dst = Out {
                values: norm,
                stride: c,
            };
            panel::product(path, squares, pixels, packed, dst);
            gdn_apply(path, out, norm, *inverse);
        }
        Post::Gdn16 { norm: packed } => {
            // One value more, which a product of pairs may read after the last row (times
            // a zero weight).
            let grid = grown(grid, out.len() + 1, 0);
            let units = grown(units, pixels, 0.0);
            let norm = grown(norm, out.len(), 0.0);
            squares_to_grid(path, out, c, &mut grid[..out.len()], units);
            let dst = Out {
                values: norm,
                stride: c,
            };
            panel16::product(path, grid, units, pixels, packed, dst);
            gdn_divide(path, out, norm);
        }
    }
}

/// `len` zeros: written by every thread when there are many (a layer's output reaches tens
/// of megabytes), by this one when few (where starting tasks costs more).
pub(super) fn zeros<T: Copy + Default + Send + Sync>(len: usize) -> Vec<T> {
    if len < 1 << 20 {
        return vec![T::default(); len];
    }
    let mut values = Vec::with_capacity(len);
    values.par_extend(rayon::iter::repeat_n(T::default(), len));
    values
}

/// `g`'s outputs for pixels `xs` of row `y` into `dst` (pixel `xs.start + i` at row `i`): the
/// pixels whose patches lie inside `x` read in place when `in_place`, the others (at the
/// borders, or of short runs) from gathered patches. The same bits either way.
fn gather_product(
    path: Path,
    (g, in_place): (&Gather, bool),
    x: &View<'_>,
    (y, xs): (usize, Range<usize>),
    dst: Out<'_>,
    scratch: &mut Scratch,
) {
    let size = (x.height, x.width);
    let [before, inside, after] = g.spans(in_place, size, y, xs.clone());
    if inside.0 == inside.1 {
        g.taps
            .patches(x.values, size, y, xs.start, xs.len(), &mut scratch.patches);
        return panel::product(path, &scratch.patches, xs.len(), &g.kernel, dst);
    }
    // One product for the whole run, the border pixels' patches gathered beside the input:
    // a product of the one or two border pixels alone would leave the kernel's rows idle.
    let (k, lens) = (g.taps.patch_len(), g.run_lens());
    let Scratch {
        patches,
        edges,
        starts,
        ..
    } = scratch;
    g.taps
        .patches(x.values, size, y, before.0, before.1 - before.0, patches);
    g.taps
        .patches(x.values, size, y, after.0, after.1 - after.0, edges);
    patches.extend_from_slice(edges);
    starts.clear();
    let gathered_starts = |starts: &mut Vec<usize>, rows: Range<usize>| {
        for row in rows {
            let mut at = x.values.len() + row * k;
            for len in lens {
                starts.push(at);
                at += len;
            }
        }
    };
    let border = before.1 - before.0;
    gathered_starts(starts, 0..border);
    g.taps.run_starts(x.width, y, inside.0..inside.1, starts);
    gathered_starts(starts, border..border + after.1 - after.0);
    let runs = Runs {
        src: x.values,
        gathered: patches,
        lens,
        starts,
    };
    panel::product_runs(path, &runs, xs.len(), &g.kernel, dst);
}

/// `squares[i] = x[i]²`, on `path` (the same bits on every path: one rounding each).
fn gdn_squares(path: Path, x: &[f32], squares: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if path.avx2() {
        // SAFETY: `Path::Avx2` (and wider) is chosen (or offered to tests) only where the CPU has AVX2.
        return unsafe { avx2::squares(x, squares) };
    }
    let _ = path;
    squares_loop(x, squares);
}

/// `x ← x / √norm`, or `x·√norm` when `inverse`, on `path` (square roots, products and
/// quotients are exactly rounded on every path, so the bits are the same).
fn gdn_apply(path: Path, x: &mut [f32], norm: &[f32], inverse: bool) {
    #[cfg(target_arch = "x86_64")]
    if path.avx2() {
        // SAFETY: as in `gdn_squares`.
        return unsafe { avx2::apply(x, norm, inverse) };
    }
    let _ = path;
    apply_loop(x, norm, inverse);
}

/// `x ← x · rsqrt(norm)` ([`rsqrt`]), on `path`: the encoder's GDN, whose norms come from
/// products in 16 bits, so that a few units in the last place of the divisor change nothing
/// that matters, and whose exact `x / √norm` waited on the divider (twice per value: about
/// 6% of an encode). The same operations in every lane, so the same bits on every path.
fn gdn_divide(path: Path, x: &mut [f32], norm: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if path.avx512() {
            // SAFETY: `Path::Avx512` (and wider) is chosen only where the CPU has AVX-512 F.
            return unsafe { avx512::divide(x, norm) };
        }
        if path.avx2() {
            // SAFETY: as in `gdn_squares`.
            return unsafe { avx2::divide(x, norm) };
        }
    }
    let _ = path;
    divide_loop(x, norm);
}

/// `1/√n` within a few units in the last place for every positive normal `n` (larger ones
/// are taken as the largest float, smaller as the smallest normal; NaN stays NaN): an
/// estimate from the bits of `n` (Lomont's constant, 3.5% at most), then three Newton steps
/// (0.18%, 5·10⁻⁶, then the rounding's few units) in plain products and differences, each
/// rounded once, in a fixed order.
#[inline(always)]
pub(super) fn rsqrt(n: f32) -> f32 {
    let n = n.clamp(f32::MIN_POSITIVE, f32::MAX);
    let h = 0.5 * n;
    let mut y = f32::from_bits(0x5f37_5a86 - (n.to_bits() >> 1));
    for _ in 0..3 {
        y *= 1.5 - h * y * y;
    }
    y
}

#[inline(always)]
fn divide_loop(x: &mut [f32], norm: &[f32]) {
    x.iter_mut().zip(norm).for_each(|(v, &n)| *v *= rsqrt(n));
}

#[inline(always)]
fn squares_loop(x: &[f32], squares: &mut [f32]) {
    for (s, v) in squares.iter_mut().zip(x) {
        *s = v * v;
    }
}

#[inline(always)]
fn apply_loop(x: &mut [f32], norm: &[f32], inverse: bool) {
    if inverse {
        x.iter_mut().zip(norm).for_each(|(v, n)| *v *= n.sqrt());
    } else {
        x.iter_mut().zip(norm).for_each(|(v, n)| *v /= n.sqrt());
    }
}

/// The element-wise loops above compiled for AVX2 (eight lanes instead of four).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn squares(x: &[f32], squares: &mut [f32]) {
        super::squares_loop(x, squares);
    }

    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn apply(x: &mut [f32], norm: &[f32], inverse: bool) {
        super::apply_loop(x, norm, inverse);
    }

    /// # Safety
    /// The CPU has AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn divide(x: &mut [f32], norm: &[f32]) {
        super::divide_loop(x, norm);
    }
}

/// [`divide_loop`] in 16 lanes.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    /// # Safety
    /// The CPU has AVX-512 F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn divide(x: &mut [f32], norm: &[f32]) {
        super::divide_loop(x, norm);
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::model::hyper::net::{host, HyperNet, Transform};
    use crate::model::hyper::{HyperConfig, HyperWeights};
    use crate::testing::on_threads;

    fn weights() -> HyperWeights {
        let mut w = HyperWeights::init(HyperConfig::new(8, 12).with_means(true), 3);
        // Fresh GDN layers are near the identity; spread their parameters so that the test
        // sees them.
        for (t, spec) in w.tensors.iter_mut().zip(w.config.param_specs()) {
            if spec.name.contains(".1.") || spec.name.contains(".3.") || spec.name.contains(".5.") {
                for (k, v) in t.iter_mut().enumerate() {
                    *v += ((k * 37 % 17) as f32) / 40.0;
                }
            }
        }
        w
    }

    fn input(h: usize, w: usize, c: usize) -> Vec<f32> {
        (0..h * w * c)
            .map(|i| ((i * 7919 % 251) as f32) / 125.0 - 1.0)
            .collect()
    }

    /// `[1, c, h, w]` from NHWC.
    fn nchw(v: &[f32], h: usize, w: usize, c: usize) -> Vec<f32> {
        let mut out = vec![0.0; v.len()];
        for p in 0..h * w {
            for ch in 0..c {
                out[ch * h * w + p] = v[p * c + ch];
            }
        }
        out
    }

    fn plan(w: &HyperWeights, k: usize) -> Plan {
        let starts = w.config.network_starts();
        Plan::new(
            &w.config.networks()[k].1,
            &w.tensors[starts[k]..starts[k + 1]],
        )
    }

    /// The synthesis as the decoder builds it.
    fn decoder_synthesis(w: &HyperWeights) -> Plan {
        crate::model::hyper::cpu::coding::CodingPlans::new(w.clone())
            .synthesis()
            .clone()
    }

    /// Each transform computes what burn's does (to rounding), on odd sizes too.
    #[test]
    fn transforms_match_burn() {
        let w = weights();
        let device = Device::flex();
        let net = HyperNet::from_weights(&w, &device, false);
        let (n, m) = (w.config.n, w.config.m);
        // The synthesis twice: as the trainer's kernels run it and as the decoder does.
        let cases = [
            (Transform::Analysis, 3, (20, 37), false),
            (Transform::Synthesis, m, (3, 5), false),
            (Transform::Synthesis, m, (3, 5), true),
            (Transform::Synthesis, m, (6, 9), true),
            (Transform::HyperAnalysis, m, (5, 7), false),
            (Transform::HyperSynthesis, n, (2, 3), false),
        ];
        for (t, c, (h, wd), decoder) in cases {
            let x = input(h, wd, c);
            let transform = match decoder {
                true => decoder_synthesis(&w),
                false => plan(&w, t as usize),
            };
            let got = transform.run(
                Path::widest(),
                Map {
                    height: h,
                    width: wd,
                    channels: c,
                    values: x.clone(),
                },
            );
            let tensor =
                Tensor::<4>::from_data(TensorData::new(nchw(&x, h, wd, c), [1, c, h, wd]), &device);
            let want = net.run(t, tensor);
            let [_, oc, oh, ow] = want.dims();
            assert_eq!((got.channels, got.height, got.width), (oc, oh, ow), "{t:?}");
            let want = host(want);
            let got = nchw(&got.values, oh, ow, oc);
            let worst = (got.iter().zip(&want))
                .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "{t:?} (decoder's: {decoder}): {worst}");
        }
    }

    /// Patches read in place give the bits of gathered ones, on every path, for sizes whose
    /// outputs are all border, all inside, or both, in convolutions and transposed ones.
    #[test]
    fn reading_in_place_changes_no_bits() {
        // 32 channels: runs of 2·32 values and more, long enough to be read in place.
        let w = HyperWeights::init(HyperConfig::new(32, 12).with_means(true), 5);
        let cases = [
            (Transform::Analysis, 3, [(1, 1), (7, 5), (48, 40), (37, 70)]),
            (Transform::Synthesis, 12, [(1, 1), (2, 3), (6, 5), (4, 9)]),
        ];
        for (t, c, sizes) in cases {
            let transform = plan(&w, t as usize);
            for (h, wd) in sizes {
                let x = Map {
                    height: h,
                    width: wd,
                    channels: c,
                    values: input(h, wd, c),
                };
                let reference = transform.run_reading(Path::Portable, x.clone(), false);
                for path in Path::available() {
                    let got = transform.run_reading(path, x.clone(), true);
                    let bits = |m: &Map| m.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&reference), "{t:?} {path:?} {h}×{wd}");
                }
            }
        }
    }

    /// The reciprocal square root of the encoder's GDN is within 3 units in the last place of
    /// `1/√n` from the smallest normal float to the largest (every 997th bit pattern, and
    /// the ends), clamps what lies beyond, and divides the same bits on every path.
    #[test]
    fn reciprocal_square_roots_are_close_and_the_same_everywhere() {
        let mut n: Vec<f32> = (f32::MIN_POSITIVE.to_bits()..=f32::MAX.to_bits())
            .step_by(997)
            .map(f32::from_bits)
            .collect();
        n.extend([f32::MIN_POSITIVE, f32::MAX, 1.0, 4.0, 0.25]);
        for &v in &n {
            let want = 1.0 / f64::from(v).sqrt();
            let got = f64::from(rsqrt(v));
            let ulp = f64::from(f32::EPSILON) * want;
            assert!((got - want).abs() <= 3.0 * ulp, "{v}: {got} against {want}");
        }
        assert_eq!(rsqrt(0.0), rsqrt(f32::MIN_POSITIVE));
        assert_eq!(rsqrt(f32::INFINITY), rsqrt(f32::MAX));
        assert!(rsqrt(f32::NAN).is_nan());
        let x: Vec<f32> = (0..n.len())
            .map(|i| (i as f32 * 0.37).sin() * 5.0)
            .collect();
        let mut reference = x.clone();
        gdn_divide(Path::Portable, &mut reference, &n);
        for path in Path::available() {
            let mut got = x.clone();
            gdn_divide(path, &mut got, &n);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&reference), "{path:?}");
        }
    }

    /// The same bits on every instruction set this CPU has and on 1 to 16 threads.
    #[test]
    fn paths_and_threads_agree() {
        let w = weights();
        let x = Map {
            height: 4,
            width: 6,
            channels: w.config.m,
            values: input(4, 6, w.config.m),
        };
        for synthesis in [
            plan(&w, Transform::Synthesis as usize),
            decoder_synthesis(&w),
        ] {
            let reference = synthesis.run(Path::Portable, x.clone());
            for path in Path::available() {
                for threads in [1, 3, 16] {
                    let got = on_threads(threads, || synthesis.run(path, x.clone()));
                    let bits = |m: &Map| m.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&reference),
                        "{path:?} on {threads} threads"
                    );
                }
            }
        }
    }
}
