//! The family's transforms on aec's own CPU kernels: convolutions as patch matrices and `gemm`
//! products on NHWC buffers (`rows × channels`, one row per pixel), GDN in place, buffers reused
//! between calls. The trainer ([`crate::train::hyper::fused`]) runs them with a tape for its
//! backward pass; a test there holds them to burn.

pub mod conv;
pub mod exact;
pub mod gdn;
pub mod infer;
pub mod network;
pub mod panel;
pub mod pool;
pub mod rate;
pub mod taps;

use pool::Buf;

/// `[batch, c, plane]` to `[batch, plane, c]`.
pub fn to_nhwc(v: &[f32], batch: usize, c: usize, plane: usize) -> Buf {
    let mut out = Buf::scratch(v.len());
    for b in 0..batch {
        for ch in 0..c {
            for p in 0..plane {
                out[(b * plane + p) * c + ch] = v[(b * c + ch) * plane + p];
            }
        }
    }
    out
}
