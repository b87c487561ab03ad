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

/// Rows per parallel chunk of the element-wise loops.
const CHUNK_ROWS: usize = 256;

/// The forward pass: returns the output and `√norm` (kept for the backward pass).
pub fn forward(x: &[f32], c: usize, beta: &[f32], gamma: &[f32], inverse: bool) -> [Buf; 2] {
    let rows = x.len() / c;
    let squares = Buf::map(x, |v| v * v);
    let mut norm = super::conv::bias_rows(rows, beta);
    product(
        &mut norm,
        true,
        MatRef::new(&squares, rows, c),
        MatRef::new(gamma, c, c).t(),
    );
    let mut y = Buf::scratch(x.len());
    y.par_chunks_mut(CHUNK_ROWS * c)
        .zip(x.par_chunks(CHUNK_ROWS * c))
        .zip(norm.par_chunks_mut(CHUNK_ROWS * c))
        .for_each(|((y, x), n)| {
            for ((y, &x), n) in y.iter_mut().zip(x).zip(n) {
                *n = n.sqrt();
                *y = if inverse { x * *n } else { x / *n };
            }
        });
    [y, norm]
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
    input
        .par_chunks_mut(CHUNK_ROWS * c)
        .zip(dnorm.par_chunks_mut(CHUNK_ROWS * c))
        .zip(x.par_chunks(CHUNK_ROWS * c))
        .zip(
            root.par_chunks(CHUNK_ROWS * c)
                .zip(dy.par_chunks(CHUNK_ROWS * c)),
        )
        .for_each(|(((dx, dn), x), (r, dy))| {
            for i in 0..x.len() {
                if inverse {
                    dx[i] = dy[i] * r[i];
                    dn[i] = 0.5 * dy[i] * x[i] / r[i];
                } else {
                    dx[i] = dy[i] / r[i];
                    dn[i] = -0.5 * dy[i] * x[i] / (r[i] * r[i] * r[i]);
                }
            }
        });
    let squares = Buf::map(x, |v| v * v);
    let mut dgamma = vec![0.0; c * c];
    product(
        &mut dgamma,
        false,
        MatRef::new(&dnorm, rows, c).t(),
        MatRef::new(&squares, rows, c),
    );
    let dbeta = super::conv::column_sums(&dnorm, c);
    let mut back = Buf::scratch(x.len());
    product(
        &mut back,
        false,
        MatRef::new(&dnorm, rows, c),
        MatRef::new(gamma, c, c),
    );
    input
        .par_chunks_mut(CHUNK_ROWS * c)
        .zip(
            back.par_chunks(CHUNK_ROWS * c)
                .zip(x.par_chunks(CHUNK_ROWS * c)),
        )
        .for_each(|(dx, (b, x))| {
            for ((d, b), x) in dx.iter_mut().zip(b).zip(x) {
                *d += 2.0 * x * b;
            }
        });
    let chain = |g: Vec<f32>, root: &[f32]| g.iter().zip(root).map(|(g, r)| 2.0 * r * g).collect();
    GdnGrads {
        input,
        beta_root: chain(dbeta, roots.0),
        gamma_root: chain(dgamma, roots.1),
    }
}
