//! Strided convolutions and their transposes as patch matrices and `gemm` products, on
//! batch-major NHWC buffers (`rows × channels`, one row per pixel).
//!
//! A convolution maps a large grid to a small one; the transposed convolution with the same
//! stride, padding and kernel is its adjoint, small to large. burn keeps both kernels as
//! `[small channels, large channels, k, k]`, so both use the one matrix
//! `T[(ky, kx, large), small]`: a convolution is `patches(x) · T`, its transpose scatters
//! `x · Tᵀ` back onto the large grid.

use rayon::prelude::*;

use super::pool::Buf;
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

/// A convolution's forward pass: the small-grid output, and the patch matrix for the
/// backward pass.
pub fn conv_forward(g: &Geometry, t: &[f32], bias: &[f32], x: &[f32]) -> (Buf, Buf) {
    let patches = g.patches(x);
    let rows = g.small_rows();
    let mut y = bias_rows(rows, bias);
    product(
        &mut y,
        true,
        MatRef::new(&patches, rows, g.patch_len()),
        MatRef::new(t, g.patch_len(), g.small_channels),
    );
    (y, patches)
}

/// Which gradients a backward pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The input's.
    pub input: bool,
    /// The parameters' (training; an encoder refining its latents needs only the input's).
    pub params: bool,
}

/// A convolution's backward pass: the gradients of `T` and the bias (empty unless
/// `needs.params`), and of the input when `needs.input`.
pub fn conv_backward(
    g: &Geometry,
    t: &[f32],
    patches: &[f32],
    dy: &[f32],
    needs: Needs,
) -> (Vec<f32>, Vec<f32>, Option<Buf>) {
    let (rows, p, s) = (g.small_rows(), g.patch_len(), g.small_channels);
    let (dt, db) = param_grads(
        needs,
        MatRef::new(patches, rows, p),
        MatRef::new(dy, rows, s),
        (dy, s),
    );
    let dx = needs.input.then(|| {
        let mut dx = Buf::zeros(g.large_rows() * g.large_channels);
        spread(g, t, dy, &mut dx);
        dx
    });
    (dt, db, dx)
}

/// `T`'s gradient `colsᵀ · other` and the bias's (the column sums of the output's gradient
/// `dy`, `channels` wide), or two empty vectors unless `needs.params`.
fn param_grads(
    needs: Needs,
    cols: MatRef<'_>,
    other: MatRef<'_>,
    (dy, channels): (&[f32], usize),
) -> (Vec<f32>, Vec<f32>) {
    if !needs.params {
        return (Vec::new(), Vec::new());
    }
    (weight_gradient(cols, other), column_sums(dy, channels))
}

/// `colsᵀ·other`, computed as the transpose of `otherᵀ·cols`: each value is the same sum in the
/// same order, and `gemm` runs it faster within a training step, where the patch matrix has
/// long left the caches (one thread, G multiply-adds/s: 34 → 49 on a 1024 × 1600 patch
/// matrix, 27 → 50 on 256 × 864, 43 → 64 on 256 × 1600; about even on the first layer's
/// 16384 × 75). Cold in a benchmark the straight form had won on small ones.
fn weight_gradient(cols: MatRef<'_>, other: MatRef<'_>) -> Vec<f32> {
    let (p, s) = (cols.shape().1, other.shape().1);
    let mut dt_t = vec![0.0; s * p];
    product(&mut dt_t, false, other.t(), cols);
    let mut dt = vec![0.0; p * s];
    for (i, row) in dt.chunks_exact_mut(s).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = dt_t[j * p + i];
        }
    }
    dt
}

/// Adds `small · Tᵀ`, scattered onto the large grid, to `large`: the transposed convolution
/// without its bias, which is also the convolution's input gradient.
fn spread(g: &Geometry, t: &[f32], small: &[f32], large: &mut [f32]) {
    let (rows, p, s) = (g.small_rows(), g.patch_len(), g.small_channels);
    let mut cols = Buf::scratch(rows * p);
    product(
        &mut cols,
        false,
        MatRef::new(small, rows, s),
        MatRef::new(t, p, s).t(),
    );
    g.scatter(&cols, large);
}

/// A transposed convolution's forward pass: small grid `x` to the large grid.
pub fn deconv_forward(g: &Geometry, t: &[f32], bias: &[f32], x: &[f32]) -> Buf {
    let mut y = bias_rows(g.large_rows(), bias);
    spread(g, t, x, &mut y);
    y
}

/// A transposed convolution's backward pass: the gradients of `T` and the bias (empty unless
/// `needs.params`), and of the input when `needs.input`.
pub fn deconv_backward(
    g: &Geometry,
    t: &[f32],
    x: &[f32],
    dy: &[f32],
    needs: Needs,
) -> (Vec<f32>, Vec<f32>, Option<Buf>) {
    let (rows, p, s) = (g.small_rows(), g.patch_len(), g.small_channels);
    let dcols = g.patches(dy);
    let (dt, db) = param_grads(
        needs,
        MatRef::new(&dcols, rows, p),
        MatRef::new(x, rows, s),
        (dy, g.large_channels),
    );
    let dx = needs.input.then(|| {
        let mut dx = Buf::scratch(rows * s);
        product(
            &mut dx,
            false,
            MatRef::new(&dcols, rows, p),
            MatRef::new(t, p, s),
        );
        dx
    });
    (dt, db, dx)
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

    #[test]
    fn weight_gradients_are_the_straight_products_bits() {
        for (rows, p, s) in [(300, 75, 16), (1000, 200, 64), (37, 9, 3)] {
            let value = |i: usize| ((i * 7919 % 1013) as f32 - 506.0) / 97.0;
            let cols: Vec<f32> = (0..rows * p).map(value).collect();
            let other: Vec<f32> = (0..rows * s).map(|i| value(i + 11)).collect();
            let (c, o) = (MatRef::new(&cols, rows, p), MatRef::new(&other, rows, s));
            let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            let mut straight = vec![0.0; p * s];
            product(&mut straight, false, c.t(), o);
            assert_eq!(
                bits(weight_gradient(c, o)),
                bits(straight),
                "{rows}×{p}×{s}"
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
