//! Coding tiles with a trained model: through burn on any device, or through a specialised CPU
//! path built on the same `gemm` kernels that burn's flex backend uses.
//!
//! The CPU path computes exactly the layers of [`crate::model::Autoencoder`] (tests hold it to
//! burn's results) but fuses bias, activation and layout work into the passes that produce the
//! data, runs the per-tile convolutions in parallel, and uses a rational tanh (the one Eigen,
//! and so TensorFlow's CPU kernels, use) that vectorises.

use burn::tensor::{Device, Tensor, TensorData};
use multiversion::multiversion;
use rayon::prelude::*;

use crate::model::{
    images_to_tensor, tensor_to_vec, Autoencoder, ModelConfig, Weights, CHANNELS, INNER, KERNEL,
    TILE, TILE_VALUES,
};

/// Tiles per batch: bounds the memory of intermediate features (≈ 115 kB per tile).
const BATCH: usize = 256;

/// Something that turns tiles into codes and codes into tiles.
pub trait TileCoder: Send + Sync {
    /// Tiles (3,072 bytes each, channel-major) to codes (`code_length` values each).
    fn encode(&self, tiles: &[u8]) -> Vec<f32>;
    /// Codes to tiles with values in [0, 1].
    fn decode(&self, codes: &[f32]) -> Vec<f32>;
}

/// Codes tiles with burn on a device.
pub struct BurnCoder {
    model: Autoencoder,
    device: Device,
    code_length: usize,
}

impl BurnCoder {
    /// The model on `device` (without autodiff).
    pub fn new(weights: &Weights, device: &Device) -> Self {
        let device = device.clone().without_autodiff();
        Self {
            model: Autoencoder::from_weights(weights, &device, false),
            device,
            code_length: weights.config.code_length,
        }
    }
}

impl TileCoder for BurnCoder {
    fn encode(&self, tiles: &[u8]) -> Vec<f32> {
        let mut out = Vec::with_capacity(tiles.len() / TILE_VALUES * self.code_length);
        for chunk in tiles.chunks(BATCH * TILE_VALUES) {
            out.extend(tensor_to_vec(
                self.model.encode(images_to_tensor(chunk, &self.device)),
            ));
        }
        out
    }

    fn decode(&self, codes: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(codes.len() / self.code_length * TILE_VALUES);
        for chunk in codes.chunks(BATCH * self.code_length) {
            let batch = chunk.len() / self.code_length;
            let z = Tensor::<2>::from_data(
                TensorData::new(chunk.to_vec(), [batch, self.code_length]),
                &self.device,
            );
            out.extend(tensor_to_vec(self.model.decode(z)));
        }
        out
    }
}

/// Codes tiles on the CPU with fused, parallel kernels.
pub struct CpuCoder {
    config: ModelConfig,
    /// Encoder kernel as a `[filters, 27]` matrix (burn's `[F, 3, 3, 3]`, flattened).
    conv_w: Vec<f32>,
    conv_b: Vec<f32>,
    enc_w: Vec<f32>,
    enc_b: Vec<f32>,
    dec_w: Vec<f32>,
    dec_b: Vec<f32>,
    /// Transposed-convolution kernel, burn's `[in, out, 3, 3]`.
    deconv_w: Vec<f32>,
    deconv_b: Vec<f32>,
}

impl CpuCoder {
    /// Copies the weights into the layouts the kernels read.
    pub fn new(weights: &Weights) -> Self {
        let t = &weights.tensors;
        Self {
            config: weights.config,
            conv_w: t[0].clone(),
            conv_b: t[1].clone(),
            enc_w: t[2].clone(),
            enc_b: t[3].clone(),
            dec_w: t[4].clone(),
            dec_b: t[5].clone(),
            deconv_w: t[6].clone(),
            deconv_b: t[7].clone(),
        }
    }

    /// The encoder's features (after conv + tanh) of a batch of tiles, flattened as burn does.
    fn features(&self, tiles: &[u8], feats: &mut [f32]) {
        let flat = self.config.flat_features();
        let f = self.config.filters;
        const K: usize = CHANNELS * KERNEL * KERNEL;
        const N: usize = INNER * INNER;
        feats
            .par_chunks_mut(flat)
            .zip(tiles.par_chunks(TILE_VALUES))
            .for_each_init(
                || vec![0f32; K * N],
                |cols, (out, tile)| {
                    im2col(tile, cols);
                    for (o, &b) in out.chunks_exact_mut(N).zip(&self.conv_b) {
                        o.fill(b);
                    }
                    matmul(f, N, K, &self.conv_w, cols, out, true, false);
                    tanh_in_place(out);
                },
            );
    }
}

impl TileCoder for CpuCoder {
    fn encode(&self, tiles: &[u8]) -> Vec<f32> {
        let (flat, l) = (self.config.flat_features(), self.config.code_length);
        let n = tiles.len() / TILE_VALUES;
        let mut out = vec![0f32; n * l];
        let mut feats = vec![0f32; BATCH.min(n) * flat];
        for (chunk, codes) in tiles
            .chunks(BATCH * TILE_VALUES)
            .zip(out.chunks_mut(BATCH * l))
        {
            let b = chunk.len() / TILE_VALUES;
            let feats = &mut feats[..b * flat];
            self.features(chunk, feats);
            for row in codes.chunks_exact_mut(l) {
                row.copy_from_slice(&self.enc_b);
            }
            matmul(b, l, flat, feats, &self.enc_w, codes, true, true);
            tanh_parallel(codes);
        }
        out
    }

    fn decode(&self, codes: &[f32]) -> Vec<f32> {
        let l = self.config.code_length;
        let hidden_len = CHANNELS * INNER * INNER;
        let n = codes.len() / l;
        let mut out = vec![0f32; n * TILE_VALUES];
        let mut hidden = vec![0f32; BATCH.min(n) * hidden_len];
        for (chunk, tiles) in codes
            .chunks(BATCH * l)
            .zip(out.chunks_mut(BATCH * TILE_VALUES))
        {
            let b = chunk.len() / l;
            let hidden = &mut hidden[..b * hidden_len];
            for row in hidden.chunks_exact_mut(hidden_len) {
                row.copy_from_slice(&self.dec_b);
            }
            matmul(b, hidden_len, l, chunk, &self.dec_w, hidden, true, b >= 32);
            tanh_parallel(hidden);
            tiles
                .par_chunks_mut(TILE_VALUES)
                .zip(hidden.par_chunks(hidden_len))
                .for_each(|(tile, h)| deconv_tile(&self.deconv_w, &self.deconv_b, h, tile));
        }
        out
    }
}

/// The 3×3 patches of a tile as the rows (c, ky, kx) × columns (y, x) of a matrix, pixels
/// scaled to [0, 1].
#[multiversion(targets("x86_64+avx2+fma"))]
fn im2col(tile: &[u8], cols: &mut [f32]) {
    const N: usize = INNER * INNER;
    for c in 0..CHANNELS {
        for ky in 0..KERNEL {
            for kx in 0..KERNEL {
                let row = &mut cols[((c * KERNEL + ky) * KERNEL + kx) * N..][..N];
                for y in 0..INNER {
                    let src = &tile[c * TILE * TILE + (y + ky) * TILE + kx..][..INNER];
                    for (d, &s) in row[y * INNER..(y + 1) * INNER].iter_mut().zip(src) {
                        *d = f32::from(s) * (1.0 / 255.0);
                    }
                }
            }
        }
    }
}

/// Transposed 3×3 convolution (stride 1, no padding), bias and sigmoid of one tile:
/// `out[o, y+ky, x+kx] += h[i, y, x] · w[i, o, ky, kx]` with `w` burn's `[in, out, 3, 3]`.
///
/// Computed as a gather over `h` padded by 2 on every side: each 32-wide output row is the sum
/// of 27 shifted 32-wide input rows, accumulated in registers (four AVX vectors). Each output
/// sums its terms in (i, ky, kx) order, as the formula above reads, plus zeros from the padding.
#[multiversion(targets("x86_64+avx2+fma"))]
fn deconv_tile(w: &[f32], bias: &[f32], h: &[f32], out: &mut [f32]) {
    const PAD: usize = KERNEL - 1;
    const P: usize = INNER + 2 * PAD;
    let mut padded = [0f32; CHANNELS * P * P];
    for (plane, src) in padded
        .chunks_exact_mut(P * P)
        .zip(h.chunks_exact(INNER * INNER))
    {
        for (y, row) in src.chunks_exact(INNER).enumerate() {
            plane[(y + PAD) * P + PAD..][..INNER].copy_from_slice(row);
        }
    }
    for (o, plane) in out.chunks_exact_mut(TILE * TILE).enumerate() {
        for (y, row) in plane.chunks_exact_mut(TILE).enumerate() {
            let mut acc = [bias[o]; TILE];
            for i in 0..CHANNELS {
                for ky in 0..KERNEL {
                    let src_row = &padded[i * P * P + (y + PAD - ky) * P..][..P];
                    for kx in 0..KERNEL {
                        let wv = w[((i * CHANNELS + o) * KERNEL + ky) * KERNEL + kx];
                        let src = &src_row[PAD - kx..][..TILE];
                        for (a, &s) in acc.iter_mut().zip(src) {
                            *a += s * wv;
                        }
                    }
                }
            }
            row.copy_from_slice(&acc);
        }
        // sigmoid(v) = (1 + tanh(v/2)) / 2: the rational tanh vectorises where exp does not.
        for v in plane.iter_mut() {
            *v = 0.5 + 0.5 * fast_tanh(0.5 * *v);
        }
    }
}

/// `c ← (accumulate ? c : 0) + a·b` for row-major `a` (m×k), `b` (k×n), `c` (m×n).
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "matmul operand sizes"
    );
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the slices hold at least m·k, k·n and m·n values (checked above), the strides
    // describe dense row-major matrices inside them, and `c` does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// tanh of every value, on all cores for large buffers.
fn tanh_parallel(values: &mut [f32]) {
    values.par_chunks_mut(1 << 14).for_each(tanh_in_place);
}

/// tanh of every value by Eigen's rational approximation (the float `ptanh` that TensorFlow's
/// CPU kernels use): a 13/6-degree odd/even rational on [−7.9, 7.9], exact to a few ulp.
/// Compiled for AVX2 as well (the same operations, unfused, so results do not depend on the CPU).
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn tanh_in_place(values: &mut [f32]) {
    for v in values.iter_mut() {
        *v = fast_tanh(*v);
    }
}

/// One value of [`tanh_in_place`].
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A1: f32 = 4.893_524_5e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347_1e-4;
    const B6: f32 = 1.198_258_4e-6;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = x2 * A13 + A11;
    p = p * x2 + A9;
    p = p * x2 + A7;
    p = p * x2 + A5;
    p = p * x2 + A3;
    p = p * x2 + A1;
    p *= x;
    let mut q = x2 * B6 + B4;
    q = q * x2 + B2;
    q = q * x2 + B0;
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_matches_std() {
        let mut worst = 0f32;
        let mut x = -12.0f32;
        while x < 12.0 {
            worst = worst.max((fast_tanh(x) - x.tanh()).abs());
            x += 0.001;
        }
        assert!(worst < 2e-6, "worst error {worst}");
        assert_eq!(fast_tanh(0.0), 0.0);
    }

    #[test]
    fn cpu_path_matches_burn() {
        let config = ModelConfig {
            code_length: 24,
            filters: 5,
        };
        let weights = Weights::glorot(config, 11);
        let tiles: Vec<u8> = (0..3 * TILE_VALUES)
            .map(|i| ((i * 37 + i / 7) % 256) as u8)
            .collect();
        let burn = BurnCoder::new(&weights, &Device::flex());
        let cpu = CpuCoder::new(&weights);
        let (zb, zc) = (burn.encode(&tiles), cpu.encode(&tiles));
        assert_eq!(zb.len(), 3 * 24);
        let worst = zb
            .iter()
            .zip(&zc)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "encode differs by {worst}");
        let (xb, xc) = (burn.decode(&zb), cpu.decode(&zb));
        assert_eq!(xb.len(), 3 * TILE_VALUES);
        let worst = xb
            .iter()
            .zip(&xc)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "decode differs by {worst}");
    }
}
