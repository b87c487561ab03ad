//! Strided convolutions and their transposes as patch matrices and `gemm` products, on
//! batch-major NHWC buffers (`rows × channels`, one row per pixel).
//!
//! A convolution maps a large grid to a small one; the transposed convolution with the same
//! stride, padding and kernel is its adjoint, small to large. burn keeps both kernels as
//! `[small channels, large channels, k, k]`, so both use the one matrix
//! `T[(ky, kx, large), small]`: a convolution is `patches(x) · T`, its transpose scatters
//! `x · Tᵀ` back onto the large grid.

use std::ops::Range;

use rayon::prelude::*;

use super::bf16::Products;
use super::infer::{Convolution, Transposed};
use super::pool::Buf;
use super::wgrad;
use crate::cpu_path::Path;
use crate::kernels::{gemm, MatRef};

/// Widest kernel a layer may have.
pub const MAX_KERNEL: usize = 8;

/// The two grids of a convolution layer, for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Images in the batch.
    pub batch: usize,
    /// Height and width of the large grid.
    pub large: (usize, usize),
    /// Height and width of the small grid (`large / stride`).
    pub small: (usize, usize),
    /// Channels on the large side.
    pub large_channels: usize,
    /// Channels on the small side.
    pub small_channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
}

impl Geometry {
    /// A layer of `kernel`×`kernel` and `stride` whose large grid is `large`; padding is
    /// `kernel / 2`, as every layer of the family has it.
    pub fn new(
        batch: usize,
        large: (usize, usize),
        channels: (usize, usize),
        kernel: usize,
        stride: usize,
    ) -> Self {
        assert!(kernel <= MAX_KERNEL, "kernels up to {MAX_KERNEL} wide");
        Self {
            batch,
            large,
            small: (large.0 / stride, large.1 / stride),
            large_channels: channels.0,
            small_channels: channels.1,
            kernel,
            stride,
        }
    }

    /// Pixels of the small grid over the batch (rows of the patch matrix).
    pub fn small_rows(&self) -> usize {
        self.batch * self.small.0 * self.small.1
    }

    /// Pixels of the large grid over the batch.
    pub fn large_rows(&self) -> usize {
        self.batch * self.large.0 * self.large.1
    }

    /// Columns of the patch matrix: `(ky, kx, large channel)`.
    pub fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.large_channels
    }

    /// The large-grid pixel that kernel tap (ky, kx) of small pixel (sy, sx) reads, if inside.
    #[inline]
    fn tap(&self, sy: usize, sx: usize, ky: usize, kx: usize) -> Option<usize> {
        let pad = self.kernel / 2;
        let y = (sy * self.stride + ky).checked_sub(pad)?;
        let x = (sx * self.stride + kx).checked_sub(pad)?;
        (y < self.large.0 && x < self.large.1).then_some(y * self.large.1 + x)
    }

    /// The patch matrix (`small_rows × patch_len`) of a large-grid buffer, one small-grid row
    /// per task.
    pub fn patches(&self, large: &[f32]) -> Buf {
        let (l, p) = (self.large_channels, self.patch_len());
        let mut out = Buf::scratch(self.small_rows() * p);
        let image_len = self.large.0 * self.large.1 * l;
        out.par_chunks_mut(self.small.1 * p)
            .enumerate()
            .for_each(|(r, cols)| {
                let (b, sy) = (r / self.small.0, r % self.small.0);
                let image = &large[b * image_len..][..image_len];
                let (k, run) = (self.kernel, self.kernel * l);
                for (sx, patch) in cols.chunks_exact_mut(p).enumerate() {
                    for (ky, span) in patch.chunks_exact_mut(run).enumerate() {
                        // The k taps of a kernel row read k neighbouring pixels: one copy
                        // when they all lie inside the image.
                        if let (Some(first), Some(_)) =
                            (self.tap(sy, sx, ky, 0), self.tap(sy, sx, ky, k - 1))
                        {
                            span.copy_from_slice(&image[first * l..][..run]);
                            continue;
                        }
                        for (kx, dst) in span.chunks_exact_mut(l).enumerate() {
                            match self.tap(sy, sx, ky, kx) {
                                Some(at) => dst.copy_from_slice(&image[at * l..][..l]),
                                None => dst.fill(0.0),
                            }
                        }
                    }
                }
            });
        out
    }

    /// Values `cols` of small pixel `i`'s patch (a row of [`Self::patches`]) into `dst`.
    pub fn patch_columns(&self, large: &[f32], i: usize, cols: Range<usize>, dst: &mut [f32]) {
        let l = self.large_channels;
        let pixels = self.small.0 * self.small.1;
        debug_assert!(cols.end <= self.patch_len() && dst.len() >= cols.len());
        let (b, at) = (i / pixels, i % pixels);
        let (sy, sx) = (at / self.small.1, at % self.small.1);
        let image = &large[b * self.large.0 * self.large.1 * l..];
        let (k, run) = (self.kernel, self.kernel * l);
        let mut c = cols.start;
        while c < cols.end {
            let (ky, within) = (c / run, c % run);
            // A kernel row whose k taps all lie inside reads k neighbouring pixels: one copy.
            if let (Some(first), Some(_)) = (self.tap(sy, sx, ky, 0), self.tap(sy, sx, ky, k - 1)) {
                let len = (run - within).min(cols.end - c);
                dst[c - cols.start..][..len].copy_from_slice(&image[first * l + within..][..len]);
                c += len;
                continue;
            }
            let (kx, ch) = (within / l, within % l);
            let len = (l - ch).min(cols.end - c);
            let out = &mut dst[c - cols.start..][..len];
            match self.tap(sy, sx, ky, kx) {
                Some(at) => out.copy_from_slice(&image[at * l + ch..][..len]),
                None => out.fill(0.0),
            }
            c += len;
        }
    }

    /// Adds onto each large-grid value the patch-matrix values read from it (the adjoint of
    /// [`Self::patches`]), one large-grid row per task, each value's terms in tap order;
    /// `large` holds what to add to.
    pub fn scatter(&self, cols: &[f32], large: &mut [f32]) {
        let (l, p, k, s) = (
            self.large_channels,
            self.patch_len(),
            self.kernel,
            self.stride,
        );
        let pad = k / 2;
        // The small-grid index whose tap `t` reads large index `i`, if any.
        let source = |i: usize, t: usize, n: usize| {
            let at = (i + pad).checked_sub(t)?;
            (at % s == 0 && at / s < n).then_some(at / s)
        };
        // The taps of each large column, the same for every row (worked out once: the
        // divisions had cost as much as the additions).
        let columns: Vec<([(usize, usize); MAX_KERNEL], usize)> = (0..self.large.1)
            .map(|x| {
                let mut taps = [(0, 0); MAX_KERNEL];
                let mut n = 0;
                for t in (0..k).filter_map(|kx| Some((kx, source(x, kx, self.small.1)?))) {
                    taps[n] = t;
                    n += 1;
                }
                (taps, n)
            })
            .collect();
        large
            .par_chunks_mut(self.large.1 * l)
            .enumerate()
            .for_each(|(r, row)| {
                let (b, y) = (r / self.large.0, r % self.large.0);
                let rows: Vec<(usize, usize)> = (0..k)
                    .filter_map(|ky| Some((ky, source(y, ky, self.small.0)?)))
                    .collect();
                for (dst, (taps, n)) in row.chunks_exact_mut(l).zip(&columns) {
                    for &(ky, sy) in &rows {
                        let base = (b * self.small.0 + sy) * self.small.1;
                        for &(kx, sx) in &taps[..*n] {
                            let src = &cols[(base + sx) * p + (ky * k + kx) * l..][..l];
                            for (d, v) in dst.iter_mut().zip(src) {
                                *d += v;
                            }
                        }
                    }
                }
            });
    }

    /// burn's kernel `[small, large, k, k]` as the matrix `T[(ky, kx, large), small]`.
    pub fn kernel_matrix(&self, w: &[f32]) -> Vec<f32> {
        let (s, l, taps) = self.kernel_dims();
        let mut t = vec![0.0; w.len()];
        // For each large channel, a transpose of `small × taps` whose source lines stay in
        // the first-level cache while `T`'s rows are written in order.
        for lc in 0..l {
            for tap in 0..taps {
                let row = &mut t[(tap * l + lc) * s..][..s];
                for (so, v) in row.iter_mut().enumerate() {
                    *v = w[(so * l + lc) * taps + tap];
                }
            }
        }
        t
    }

    /// The inverse of [`Self::kernel_matrix`]: a gradient of `T` in burn's layout.
    pub fn burn_kernel(&self, t: &[f32]) -> Vec<f32> {
        let (s, l, taps) = self.kernel_dims();
        let mut w = vec![0.0; t.len()];
        for lc in 0..l {
            for so in 0..s {
                let taps_of = &mut w[(so * l + lc) * taps..][..taps];
                for (tap, v) in taps_of.iter_mut().enumerate() {
                    *v = t[(tap * l + lc) * s + so];
                }
            }
        }
        w
    }

    /// Whether the large grid is exactly the small one times the stride (even sizes), where
    /// the coder's kernels run the layer.
    pub fn exact(&self) -> bool {
        self.large == (self.small.0 * self.stride, self.small.1 * self.stride)
    }

    /// `(large, small)` channels: a convolution's `(in, out)`, as [`Convolution::new`] takes
    /// them (a transposed convolution's kernel read as the convolution of its gradient).
    pub fn channels(&self) -> (usize, usize) {
        (self.large_channels, self.small_channels)
    }

    /// Values of one image on the large grid and on the small one.
    pub fn image_lens(&self) -> (usize, usize) {
        (
            self.large.0 * self.large.1 * self.large_channels,
            self.small.0 * self.small.1 * self.small_channels,
        )
    }

    /// A gradient of `Tᵀ` (`small × (ky, kx, large)`) in burn's layout.
    pub fn burn_kernel_t(&self, t_t: &[f32]) -> Vec<f32> {
        let (s, l, taps) = self.kernel_dims();
        let p = self.patch_len();
        let mut w = vec![0.0; t_t.len()];
        for (so, row) in w.chunks_exact_mut(l * taps).enumerate() {
            for (lc, taps_of) in row.chunks_exact_mut(taps).enumerate() {
                for (tap, v) in taps_of.iter_mut().enumerate() {
                    *v = t_t[so * p + tap * l + lc];
                }
            }
        }
        debug_assert_eq!(w.len(), s * l * taps);
        w
    }

    /// Small channels, large channels and taps of the kernel.
    fn kernel_dims(&self) -> (usize, usize, usize) {
        (
            self.small_channels,
            self.large_channels,
            self.kernel * self.kernel,
        )
    }
}

/// `c ← (accumulate ? c : 0) + a·b`, on all cores when the product is large enough to gain
/// from it (small ones lose more to waking threads than they win).
pub fn product(c: &mut [f32], accumulate: bool, a: MatRef<'_>, b: MatRef<'_>) {
    let ((m, k), (_, n)) = (a.shape(), b.shape());
    let parallel = m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MACS;
    gemm(c, accumulate, a, b, parallel);
}

/// Multiply-adds from which a product runs on all cores.
const PARALLEL_MACS: usize = 1 << 22;

/// `rows` rows each holding the bias.
pub fn bias_rows(rows: usize, bias: &[f32]) -> Buf {
    let mut out = Buf::scratch(rows * bias.len());
    for row in out.chunks_exact_mut(bias.len()) {
        row.copy_from_slice(bias);
    }
    out
}

/// Sums of each column of a `rows × width` matrix (a bias gradient): in f64, over fixed blocks
/// of rows in parallel, then the blocks' sums in order (the same bits on any thread count).
pub fn column_sums(m: &[f32], width: usize) -> Vec<f32> {
    let block = 1024 * width;
    let parts: Vec<Vec<f64>> = m
        .par_chunks(block)
        .map(|chunk| {
            let mut acc = vec![0f64; width];
            for row in chunk.chunks_exact(width) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += f64::from(v);
                }
            }
            acc
        })
        .collect();
    let mut acc = vec![0f64; width];
    for part in parts {
        for (a, p) in acc.iter_mut().zip(part) {
            *a += p;
        }
    }
    acc.into_iter().map(|v| v as f32).collect()
}

/// A convolution layer's parameters as the trainer runs them: burn's kernel and bias, and the
/// kernel packed for the coder's in-place kernels in both directions (the forward pass and the
/// input gradient), once for every pass that runs them.
pub struct Weights<'a> {
    /// burn's kernel.
    pub w: &'a [f32],
    /// The bias (of the forward pass's output).
    pub bias: &'a [f32],
    conv: Convolution,
    transposed: Option<Transposed>,
    /// A stride-1 convolution's input gradient: the convolution of the kernel turned half a
    /// turn, its channels swapped (read in place, where the patch matrix would be written and
    /// scattered in `f32`).
    flipped: Option<Box<Convolution>>,
    /// How the layer's products run (the weight gradient's too).
    products: Products,
}

impl<'a> Weights<'a> {
    /// A `k`×`k` convolution of `stride` from `i` to `o` channels: packed for its forward pass,
    /// and for its input gradient (a transposed convolution) where the stride is 2, or as the
    /// convolution of the kernel turned half a turn where it is 1.
    pub fn conv(
        (w, bias): (&'a [f32], &'a [f32]),
        (i, o): (usize, usize),
        (k, s): (usize, usize),
        products: Products,
    ) -> Self {
        let transposed = (s == 2).then(|| Transposed::new(w, &vec![0.0; i], (o, i), k));
        let flipped = (s == 1 && k % 2 == 1).then(|| {
            let turned = half_turn(w, (i, o), k);
            Box::new(Convolution::new(&turned, &vec![0.0; i], (o, i), k, 1))
        });
        Self {
            w,
            bias,
            conv: Convolution::new(w, bias, (i, o), k, s),
            transposed,
            flipped,
            products,
        }
        .with(products)
    }

    /// A `k`×`k` transposed convolution of `stride` from `i` to `o` channels: packed for its
    /// input gradient (a convolution), and for its forward pass where the stride is 2.
    pub fn deconv(
        (w, bias): (&'a [f32], &'a [f32]),
        (i, o): (usize, usize),
        (k, s): (usize, usize),
        products: Products,
    ) -> Self {
        Self {
            w,
            bias,
            conv: Convolution::new(w, &vec![0.0; i], (o, i), k, s),
            transposed: (s == 2).then(|| Transposed::new(w, bias, (i, o), k)),
            flipped: None,
            products,
        }
        .with(products)
    }

    /// The same layer with its products run as `products` asks.
    fn with(self, products: Products) -> Self {
        match products {
            Products::F32 => self,
            Products::Bf16 => Self {
                conv: self.conv.with_bf16(),
                transposed: self.transposed.map(Transposed::with_bf16),
                flipped: self.flipped.map(|c| Box::new(c.with_bf16())),
                ..self
            },
        }
    }
}

/// A convolution's forward pass: the small-grid output. Where the large grid is exactly the
/// small one times the stride, the coder's kernel computes it image by image, reading the
/// patches in place; otherwise a patch matrix and `gemm`.
pub fn conv_forward(g: &Geometry, p: &Weights<'_>, x: &[f32]) -> Buf {
    convolve(g, &p.conv, (p.w, p.bias), x)
}

/// `layer` (of burn's kernel `w` and `bias`, for the patch matrix's path) on the large-grid `x`.
fn convolve(g: &Geometry, layer: &Convolution, (w, bias): (&[f32], &[f32]), x: &[f32]) -> Buf {
    if !g.exact() {
        return conv_forward_by_patches(g, w, bias, x);
    }
    run_exact(g, layer, x)
}

/// `layer` image by image on the large-grid `x`, where the grids fit it exactly.
fn run_exact(g: &Geometry, layer: &Convolution, x: &[f32]) -> Buf {
    debug_assert_eq!(layer.output(g.large), g.small);
    let mut y = Buf::scratch(g.small_rows() * g.small_channels);
    let (large_len, small_len) = g.image_lens();
    for (x, y) in x.chunks_exact(large_len).zip(y.chunks_exact_mut(small_len)) {
        layer.run_into(Path::detect(), x, g.large, y);
    }
    y
}

/// [`conv_forward`] through the patch matrix and `gemm` (what odd sizes run, and what the
/// trainer ran before: `examples/train_layers.rs` times the two).
pub fn conv_forward_by_patches(g: &Geometry, w: &[f32], bias: &[f32], x: &[f32]) -> Buf {
    let rows = g.small_rows();
    let mut y = bias_rows(rows, bias);
    let (patches, t) = (g.patches(x), g.kernel_matrix(w));
    let (a, b) = (
        MatRef::new(&patches, rows, g.patch_len()),
        MatRef::new(&t, g.patch_len(), g.small_channels),
    );
    product(&mut y, true, a, b);
    y
}

/// The weight gradient of [`conv_backward`] through the patch matrix of `large` and `gemm`,
/// `(smallᵀ·patches)ᵀ` in burn's layout (what the trainer ran before `wgrad`).
pub fn weight_gradient_by_patches(g: &Geometry, large: &[f32], small: &[f32]) -> Vec<f32> {
    let (rows, p, s) = (g.small_rows(), g.patch_len(), g.small_channels);
    let patches = g.patches(large);
    let mut t_t = vec![0.0; s * p];
    let (a, b) = (
        MatRef::new(small, rows, s).t(),
        MatRef::new(&patches, rows, p),
    );
    product(&mut t_t, false, a, b);
    g.burn_kernel_t(&t_t)
}

/// Which gradients a backward pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The input's.
    pub input: bool,
    /// The parameters' (training; an encoder refining its latents needs only the input's).
    pub params: bool,
}

/// A convolution's backward pass, for the forward pass's input `x`: the gradients of the
/// kernel and the bias (empty unless `needs.params`), and of the input when `needs.input`.
pub fn conv_backward(
    g: &Geometry,
    p: &Weights<'_>,
    x: &[f32],
    dy: &[f32],
    needs: Needs,
) -> (Vec<f32>, Vec<f32>, Option<Buf>) {
    let (dw, db) = param_grads(g, (needs, p.products), (x, dy), (dy, g.small_channels));
    let dx = needs.input.then(|| match &p.flipped {
        // With stride 1 the grids are the same: dy's side becomes the large one.
        Some(flipped) if g.stride == 1 => {
            let swapped = Geometry {
                large_channels: g.small_channels,
                small_channels: g.large_channels,
                ..*g
            };
            run_exact(&swapped, flipped, dy)
        }
        _ => {
            let zero = vec![0.0; g.large_channels];
            transposed(g, p.transposed.as_ref(), (p.w, &zero), dy)
        }
    });
    (dw, db, dx)
}

/// burn's kernel `w` (`[o, i, k, k]`) turned half a turn with its channels swapped
/// (`[i, o, k, k]`): with stride 1 and odd `k`, the convolution of that kernel is the
/// transpose of the convolution of `w`.
fn half_turn(w: &[f32], (i, o): (usize, usize), k: usize) -> Vec<f32> {
    let taps = k * k;
    let mut out = vec![0.0; w.len()];
    for (ci, of_in) in out.chunks_exact_mut(o * taps).enumerate() {
        for (co, dst) in of_in.chunks_exact_mut(taps).enumerate() {
            let src = &w[(co * i + ci) * taps..][..taps];
            for (d, &v) in dst.iter_mut().zip(src.iter().rev()) {
                *d = v;
            }
        }
    }
    out
}

/// The gradients of burn's kernel (from the patches of the large-grid buffer `large` and the
/// small-grid `small`) and of the bias (the column sums of `dy`, `channels` wide), or two
/// empty vectors unless `needs.params`; the kernel's products run as `products` asks.
fn param_grads(
    g: &Geometry,
    (needs, products): (Needs, Products),
    (large, small): (&[f32], &[f32]),
    (dy, channels): (&[f32], usize),
) -> (Vec<f32>, Vec<f32>) {
    if !needs.params {
        return (Vec::new(), Vec::new());
    }
    let dt_t = wgrad::weight_gradient_t(g, large, (small, g.small_channels), products);
    (g.burn_kernel_t(&dt_t), column_sums(dy, channels))
}

/// `bias` plus `small · Tᵀ` scattered onto the large grid: the transposed convolution of burn's
/// kernel `w` (`T` its matrix). Where the large grid is exactly twice the small one, the
/// coder's four-phase kernel `layer` (`w` and `bias` packed) computes it image by image,
/// reading the input in place (no product matrix to write and scatter); otherwise the product
/// and the scatter.
fn transposed(
    g: &Geometry,
    layer: Option<&Transposed>,
    (w, bias): (&[f32], &[f32]),
    small: &[f32],
) -> Buf {
    let layer = match layer {
        Some(layer) if g.stride == 2 && g.exact() => layer,
        _ => {
            let mut y = bias_rows(g.large_rows(), bias);
            let (rows, p, s) = (g.small_rows(), g.patch_len(), g.small_channels);
            let t = g.kernel_matrix(w);
            let mut cols = Buf::scratch(rows * p);
            let (a, b) = (MatRef::new(small, rows, s), MatRef::new(&t, p, s).t());
            product(&mut cols, false, a, b);
            g.scatter(&cols, &mut y);
            return y;
        }
    };
    let mut out = Buf::scratch(g.large_rows() * g.large_channels);
    let (large_len, small_len) = g.image_lens();
    for (x, y) in small
        .chunks_exact(small_len)
        .zip(out.chunks_exact_mut(large_len))
    {
        layer.run_into(Path::detect(), x, g.small, y);
    }
    out
}

/// A transposed convolution's forward pass: small grid `x` to the large grid.
pub fn deconv_forward(g: &Geometry, p: &Weights<'_>, x: &[f32]) -> Buf {
    transposed(g, p.transposed.as_ref(), (p.w, p.bias), x)
}

/// A transposed convolution's backward pass, for the forward pass's input `x`: the gradients
/// of the kernel and the bias (empty unless `needs.params`), and of the input when
/// `needs.input` (the convolution of `dy` with the same kernel).
pub fn deconv_backward(
    g: &Geometry,
    p: &Weights<'_>,
    x: &[f32],
    dy: &[f32],
    needs: Needs,
) -> (Vec<f32>, Vec<f32>, Option<Buf>) {
    let (dw, db) = param_grads(g, (needs, p.products), (dy, x), (dy, g.large_channels));
    let zero = vec![0.0; g.small_channels];
    let dx = needs.input.then(|| convolve(g, &p.conv, (p.w, &zero), dy));
    (dw, db, dx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<patches(x), c> = <x, scatter(c)>` for any x, c: the scatter is the adjoint.
    #[test]
    fn scatter_is_the_adjoint_of_patches() {
        for (kernel, stride) in [(5, 2), (3, 1)] {
            let g = Geometry::new(2, (8, 6), (3, 4), kernel, stride);
            let x: Vec<f32> = (0..g.large_rows() * 3)
                .map(|i| ((i * 37 % 11) as f32) - 5.0)
                .collect();
            let c: Vec<f32> = (0..g.small_rows() * g.patch_len())
                .map(|i| ((i * 13 % 7) as f32) - 3.0)
                .collect();
            let p = g.patches(&x);
            let mut s = vec![0.0; x.len()];
            g.scatter(&c, &mut s);
            let lhs: f64 = p.iter().zip(&c).map(|(a, b)| f64::from(a * b)).sum();
            let rhs: f64 = x.iter().zip(&s).map(|(a, b)| f64::from(a * b)).sum();
            assert_eq!(lhs, rhs, "kernel {kernel} stride {stride}");
        }
    }

    /// `a · b` (`rows × k` by `k × n`) and `aᵀ · b`, plainly, in `f64`.
    fn naive(a: &[f32], b: &[f32], (rows, k, n): (usize, usize, usize), at: bool) -> Vec<f32> {
        let mut c = vec![0f64; if at { k * n } else { rows * n }];
        for i in 0..rows {
            for kk in 0..k {
                for j in 0..n {
                    let x = f64::from(a[i * k + kk]);
                    if at {
                        c[kk * n + j] += x * f64::from(b[i * n + j]);
                    } else {
                        c[i * n + j] += x * f64::from(b[kk * n + j]);
                    }
                }
            }
        }
        c.into_iter().map(|v| v as f32).collect()
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (k, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 2e-5 * scale,
                "{what}[{k}]: {a} against {b}"
            );
        }
    }

    /// The trainer's layers (read in place, four phases, weight gradients by chunks) against
    /// the patch matrix and its plain products, forward and backward, on even sizes (the fast
    /// paths) and odd ones (the patch matrix itself).
    #[test]
    fn layers_match_the_patch_matrix() {
        let value = |i: usize, seed: usize| (((i + seed) * 7919 % 1013) as f32 - 506.0) / 506.0;
        for (large, (l, s), k, stride) in [
            ((12, 10), (3, 16), 5, 2),
            ((8, 6), (20, 12), 5, 2),
            ((9, 7), (5, 6), 5, 2),
            ((6, 5), (12, 10), 3, 1),
            ((7, 6), (16, 24), 5, 1),
            ((4, 5), (6, 4), 1, 1),
        ] {
            let g = Geometry::new(2, large, (l, s), k, stride);
            let (rows, p) = (g.small_rows(), g.patch_len());
            let what = format!("{large:?} {l}→{s} k{k} s{stride}");
            let w: Vec<f32> = (0..s * l * k * k).map(|i| value(i, 1)).collect();
            let bias: Vec<f32> = (0..s.max(l)).map(|i| value(i, 2)).collect();
            let x: Vec<f32> = (0..g.large_rows() * l).map(|i| value(i, 3)).collect();
            let dy: Vec<f32> = (0..rows * s).map(|i| value(i, 4)).collect();
            let t = g.kernel_matrix(&w);
            let cols = g.patches(&x);
            // Forward: patches · T + bias.
            let mut want_y = naive(&cols, &t, (rows, p, s), false);
            want_y
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v += bias[i % s]);
            let (forward, backward) = (
                Weights::conv((&w, &bias[..s]), (l, s), (k, stride), Products::F32),
                Weights::deconv((&w, &bias[..l]), (s, l), (k, stride), Products::F32),
            );
            assert_close(&conv_forward(&g, &forward, &x), &want_y, &what);
            // The convolution's gradients: Tᵀ's is dyᵀ·patches, the input's the scatter of
            // dy · Tᵀ.
            let needs = Needs {
                input: true,
                params: true,
            };
            let (dw, _, dx) = conv_backward(&g, &forward, &x, &dy, needs);
            let dt = naive(&cols, &dy, (rows, p, s), true);
            assert_close(&dw, &g.burn_kernel(&dt), &what);
            assert_close(&weight_gradient_by_patches(&g, &x, &dy), &dw, &what);
            assert_close(
                &conv_forward_by_patches(&g, &w, &bias[..s], &x),
                &want_y,
                &what,
            );
            let mut t_t = vec![0.0; p * s];
            for (r, row) in t.chunks_exact(s).enumerate() {
                row.iter()
                    .enumerate()
                    .for_each(|(j, &v)| t_t[j * p + r] = v);
            }
            let mut spread = vec![0.0; x.len()];
            g.scatter(&naive(&dy, &t_t, (rows, s, p), false), &mut spread);
            assert_close(&dx.expect("asked for"), &spread, &what);
            // The transposed convolution of dy: forward the scatter plus the bias; its input
            // gradient is the convolution of its output's gradient `x`.
            let mut want = spread.clone();
            want.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v += bias[i % l]);
            assert_close(&deconv_forward(&g, &backward, &dy), &want, &what);
            let (dw, _, dx) = deconv_backward(&g, &backward, &dy, &x, needs);
            assert_close(
                &dw,
                &g.burn_kernel(&naive(&cols, &dy, (rows, p, s), true)),
                &what,
            );
            assert_close(
                &dx.expect("asked for"),
                &naive(&cols, &t, (rows, p, s), false),
                &what,
            );
        }
    }

    #[test]
    fn kernel_matrix_round_trips() {
        let g = Geometry::new(1, (4, 4), (3, 5), 3, 1);
        let w: Vec<f32> = (0..5 * 3 * 9).map(|i| i as f32).collect();
        let t = g.kernel_matrix(&w);
        // burn's [small 5, large 3, 3, 3] against T[(ky, kx, large), small].
        for (so, lc, tap) in
            (0..5).flat_map(|so| (0..3).flat_map(move |lc| (0..9).map(move |t| (so, lc, t))))
        {
            assert_eq!(t[(tap * 3 + lc) * 5 + so], w[(so * 3 + lc) * 9 + tap]);
        }
        assert_eq!(g.burn_kernel(&t), w);
    }
}
