//! GDN and IGDN over the channels of `rows × c` buffers: `norm = β + x²·Γᵀ`, then
//! `x / √norm` (GDN) or `x · √norm` (IGDN), with `β = β'² + p` and `Γ = Γ'² + p` as
//! [`crate::model::hyper::net`] reparametrises them.

use rayon::prelude::*;

use super::conv::product;
use super::pool::Buf;
use crate::kernels::MatRef;
use crate::model::hyper::net::GDN_PEDESTAL;

/// β and Γ as the layer uses them, from their square roots.
pub fn effective(beta_root: &[f32], gamma_root: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let square = |v: &[f32]| v.iter().map(|x| x * x + GDN_PEDESTAL).collect();
    (square(beta_root), square(gamma_root))
}

/// Rows per band: each band's squares and norms are made, used and left in the caches (whole
/// intermediate buffers had cost a write and a read of memory each).
const CHUNK_ROWS: usize = 256;

/// The forward pass: returns the output and `√norm` (kept for the backward pass). Band by band:
/// `norm = β + x²·Γᵀ`, then the output.
pub fn forward(x: &[f32], c: usize, beta: &[f32], gamma: &[f32], inverse: bool) -> [Buf; 2] {
    let mut y = Buf::scratch(x.len());
    let mut root = Buf::scratch(x.len());
    y.par_chunks_mut(CHUNK_ROWS * c)
        .zip(root.par_chunks_mut(CHUNK_ROWS * c))
        .zip(x.par_chunks(CHUNK_ROWS * c))
        .for_each(|((y, n), x)| {
            let rows = x.len() / c;
            let squares: Vec<f32> = x.iter().map(|v| v * v).collect();
            n.chunks_exact_mut(c)
                .for_each(|row| row.copy_from_slice(beta));
            product(
                n,
                true,
                MatRef::new(&squares, rows, c),
                MatRef::new(gamma, c, c).t(),
            );
            for ((y, &x), n) in y.iter_mut().zip(x).zip(n) {
                *n = n.sqrt();
                *y = if inverse { x * *n } else { x / *n };
            }
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
pub fn backward(
    x: &[f32],
    root: &[f32],
    dy: &[f32],
    c: usize,
    roots: (&[f32], &[f32]),
    gamma: &[f32],
    inverse: bool,
) -> GdnGrads {
    let rows = x.len() / c;
    let mut input = Buf::scratch(x.len());
    let mut dnorm = Buf::scratch(x.len());
    let mut squares = Buf::scratch(x.len());
    let band = CHUNK_ROWS * c;
    input
        .par_chunks_mut(band)
        .zip(dnorm.par_chunks_mut(band))
        .zip(squares.par_chunks_mut(band))
        .zip(
            x.par_chunks(band)
                .zip(root.par_chunks(band).zip(dy.par_chunks(band))),
        )
        .for_each(|(((dx, dn), sq), (x, (r, dy)))| {
            for i in 0..x.len() {
                sq[i] = x[i] * x[i];
                if inverse {
                    dx[i] = dy[i] * r[i];
                    dn[i] = 0.5 * dy[i] * x[i] / r[i];
                } else {
                    dx[i] = dy[i] / r[i];
                    dn[i] = -0.5 * dy[i] * x[i] / (r[i] * r[i] * r[i]);
                }
            }
            // The norm's share of the input's gradient, 2x·(dnorm·Γ), while the band is hot.
            let mut back = Buf::scratch(dn.len());
            product(
                &mut back,
                false,
                MatRef::new(dn, dn.len() / c, c),
                MatRef::new(gamma, c, c),
            );
            for ((d, b), x) in dx.iter_mut().zip(back.iter()).zip(x) {
                *d += 2.0 * x * b;
            }
        });
    let mut dgamma = vec![0.0; c * c];
    product(
        &mut dgamma,
        false,
        MatRef::new(&dnorm, rows, c).t(),
        MatRef::new(&squares, rows, c),
    );
    let dbeta = super::conv::column_sums(&dnorm, c);
    let chain = |g: Vec<f32>, root: &[f32]| g.iter().zip(root).map(|(g, r)| 2.0 * r * g).collect();
    GdnGrads {
        input,
        beta_root: chain(dbeta, roots.0),
        gamma_root: chain(dgamma, roots.1),
    }
}
