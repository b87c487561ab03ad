//! GDN and IGDN over the channels of `rows × c` buffers: `norm = β + x²·Γᵀ`, then
//! `x / √norm` (GDN) or `x · √norm` (IGDN), with `β = β'² + p` and `Γ = Γ'² + p` as
//! [`crate::model::hyper::net`] reparametrises them.

use rayon::prelude::*;

use super::bf16::Products;
use super::panel::{self, Out, Packed};
use super::pool::Buf;
use super::wgrad;
use crate::cpu_path::Path;
use crate::model::hyper::net::GDN_PEDESTAL;

/// β and Γ as the layer uses them, from their square roots.
pub fn effective(beta_root: &[f32], gamma_root: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let square = |v: &[f32]| v.iter().map(|x| x * x + GDN_PEDESTAL).collect();
    (square(beta_root), square(gamma_root))
}

/// A GDN layer's parameters as the trainer runs them: from β' and Γ', Γ packed for the norm
/// (`β + x²·Γᵀ`) and for its gradient (`dnorm·Γ`), once for every pass that runs them.
pub struct Params<'a> {
    /// β' and Γ' (the square roots), for the chain rule.
    roots: (&'a [f32], &'a [f32]),
    channels: usize,
    norm: Packed,
    back: Packed,
}

impl<'a> Params<'a> {
    /// The layer of `c` channels with β' `beta_root` and Γ' `gamma_root`, its two products
    /// (`x²·Γᵀ`, `dnorm·Γ`) run as `products` asks.
    pub fn new(beta_root: &'a [f32], gamma_root: &'a [f32], c: usize, products: Products) -> Self {
        let (beta, gamma) = effective(beta_root, gamma_root);
        let norm = Packed::new(c, c, |k, j| gamma[j * c + k], &beta);
        let back = Packed::new(c, c, |k, j| gamma[k * c + j], &vec![0.0; c]);
        let (norm, back) = match products {
            Products::F32 => (norm, back),
            Products::Bf16 => (norm.with_bf16(), back.with_bf16()),
        };
        Self {
            roots: (beta_root, gamma_root),
            channels: c,
            norm,
            back,
        }
    }
}

/// Rows per band: each band's squares and norms are made, used and left in the caches (whole
/// intermediate buffers had cost a write and a read of memory each).
const CHUNK_ROWS: usize = 256;

/// The forward pass: returns the output and `√norm` (kept for the backward pass). Band by band:
/// `norm = β + x²·Γᵀ`, then the output.
pub fn forward(x: &[f32], p: &Params<'_>, inverse: bool) -> [Buf; 2] {
    let mut y = Buf::scratch(x.len());
    let mut root = Buf::scratch(x.len());
    let path = Path::detect();
    let (c, norm) = (p.channels, &p.norm);
    y.par_chunks_mut(CHUNK_ROWS * c)
        .zip(root.par_chunks_mut(CHUNK_ROWS * c))
        .zip(x.par_chunks(CHUNK_ROWS * c))
        .for_each(|((y, n), x)| {
            // Written in full before they are read, as `dn`, `sq` and `share` below.
            let mut squares = Buf::scratch(x.len());
            lanes::squares(path, x, &mut squares);
            let out = Out {
                values: n,
                stride: c,
            };
            panel::product(path, &squares, x.len() / c, norm, out);
            lanes::apply(path, x, n, y, inverse);
        });
    [y, root]
}

/// Gradients of one GDN layer.
pub struct GdnGrads {
    /// Of the input.
    pub input: Buf,
    /// Of β' (the square root of β).
    pub beta_root: Vec<f32>,
    /// Of Γ' (the square root of Γ).
    pub gamma_root: Vec<f32>,
}

/// The backward pass, from the input `x`, the kept `√norm` and the output's gradient.
pub fn backward(x: &[f32], root: &[f32], dy: &[f32], p: &Params<'_>, inverse: bool) -> GdnGrads {
    let mut input = Buf::scratch(x.len());
    let path = Path::detect();
    let (c, back, roots) = (p.channels, &p.back, p.roots);
    let band = CHUNK_ROWS * c;
    // Each band's shares of Γ's and β's gradients (from its x² and the norm's gradient, used
    // while in the caches), added up in band order below.
    let parts: Vec<(Vec<f32>, Vec<f64>)> = input
        .par_chunks_mut(band)
        .zip(
            x.par_chunks(band)
                .zip(root.par_chunks(band).zip(dy.par_chunks(band))),
        )
        .map(|(dx, (x, (r, dy)))| backward_band(path, (x, r, dy), dx, (back, c), inverse))
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0.0; c * c], vec![0f64; c]);
    for (g, b) in parts {
        dgamma.iter_mut().zip(g).for_each(|(a, v)| *a += v);
        dbeta.iter_mut().zip(b).for_each(|(a, v)| *a += v);
    }
    let dbeta: Vec<f32> = dbeta.into_iter().map(|v| v as f32).collect();
    let chain = |g: Vec<f32>, root: &[f32]| g.iter().zip(root).map(|(g, r)| 2.0 * r * g).collect();
    GdnGrads {
        input,
        beta_root: chain(dbeta, roots.0),
        gamma_root: chain(dgamma, roots.1),
    }
}

/// One band of [`backward`]: writes the input's gradient `dx` and returns the band's shares
/// of Γ's gradient (`dnormᵀ·x²`) and β's (the column sums of `dnorm`, in `f64`); `back`
/// packs Γ for `dnorm·Γ`.
fn backward_band(
    path: Path,
    (x, r, dy): (&[f32], &[f32], &[f32]),
    dx: &mut [f32],
    (back, c): (&Packed, usize),
    inverse: bool,
) -> (Vec<f32>, Vec<f64>) {
    let (mut dn, mut sq) = (Buf::scratch(x.len()), Buf::scratch(x.len()));
    lanes::backward(path, (x, r, dy), (dx, &mut dn, &mut sq), inverse);
    // The norm's share of the input's gradient, 2x·(dnorm·Γ).
    let mut share = Buf::scratch(dn.len());
    let out = Out {
        values: &mut share,
        stride: c,
    };
    let rows = dn.len() / c;
    panel::product(path, &dn, rows, back, out);
    lanes::add_twice_product(path, dx, &share, x);
    let mut dbeta = vec![0f64; c];
    for row in dn.chunks_exact(c) {
        dbeta
            .iter_mut()
            .zip(row)
            .for_each(|(a, &v)| *a += f64::from(v));
    }
    (wgrad::outer_sums((&dn, c), (&sq, c), rows), dbeta)
}

/// The element-wise loops of a band, compiled for the widest instruction set the CPU has: the
/// same IEEE operations (no fused ones) in every build, so the same bits.
mod lanes {
    dispatched! {
        fn squares(x: &[f32], squares: &mut [f32]) = body::squares;
        fn apply(x: &[f32], n: &mut [f32], y: &mut [f32], inverse: bool) = body::apply;
        fn backward(xs: (&[f32], &[f32], &[f32]), grads: (&mut [f32], &mut [f32], &mut [f32]), inverse: bool) = body::backward;
        fn add_twice_product(dx: &mut [f32], share: &[f32], x: &[f32]) = body::add_twice_product;
    }

    mod body {
        #[inline(always)]
        pub fn squares(x: &[f32], squares: &mut [f32]) {
            for (s, v) in squares.iter_mut().zip(x) {
                *s = v * v;
            }
        }

        /// `n ← √n`, then `y ← x·n` (IGDN) or `x / n` (GDN).
        #[inline(always)]
        pub fn apply(x: &[f32], n: &mut [f32], y: &mut [f32], inverse: bool) {
            for ((y, &x), n) in y.iter_mut().zip(x).zip(n) {
                *n = n.sqrt();
                *y = if inverse { x * *n } else { x / *n };
            }
        }

        /// The gradients through `x / r` (or `x·r`) with `r = √norm`: the input's direct
        /// share `dx`, the norm's `dn`, and `x²` for Γ's.
        #[inline(always)]
        pub fn backward(
            (x, r, dy): (&[f32], &[f32], &[f32]),
            (dx, dn, sq): (&mut [f32], &mut [f32], &mut [f32]),
            inverse: bool,
        ) {
            let n = x.len();
            let (r, dy) = (&r[..n], &dy[..n]);
            let (dx, dn, sq) = (&mut dx[..n], &mut dn[..n], &mut sq[..n]);
            for i in 0..n {
                sq[i] = x[i] * x[i];
                if inverse {
                    dx[i] = dy[i] * r[i];
                    dn[i] = 0.5 * dy[i] * x[i] / r[i];
                } else {
                    dx[i] = dy[i] / r[i];
                    dn[i] = -0.5 * dy[i] * x[i] / (r[i] * r[i] * r[i]);
                }
            }
        }

        /// `dx ← dx + 2·x·share`.
        #[inline(always)]
        pub fn add_twice_product(dx: &mut [f32], share: &[f32], x: &[f32]) {
            for ((d, b), x) in dx.iter_mut().zip(share).zip(x) {
                *d += 2.0 * x * b;
            }
        }
    }
}
