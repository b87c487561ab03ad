//! Coding tiles with a trained model: through burn on any device, or through a specialised CPU
//! path built on the same `gemm` kernels that burn's flex backend uses.
//!
//! The CPU path computes exactly the layers of [`crate::model::Autoencoder`] (tests hold it to
//! burn's results) but fuses bias, activation and layout work into the passes that produce the
//! data, runs the per-tile convolutions in parallel, and uses a rational tanh (the one Eigen,
//! and so TensorFlow's CPU kernels, use) that vectorises.

use std::sync::{Mutex, PoisonError};

use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use crate::cpu_path::Path;
use crate::entropy::tables::CodeTables;
use crate::kernels::{deconv_tile, dense, im2col, matmul, tanh_in_place, tanh_parallel};
use crate::model::{
    images_to_tensor, tensor_to_vec, Autoencoder, ModelConfig, Weights, CHANNELS, INNER, KERNEL,
    TILE_VALUES,
};

/// Tiles per batch: bounds the memory of intermediate values.
const BATCH: usize = 256;
/// Tiles per batch of the CPU encoder (≈ 115 kB of features per tile): a 768×512 photo (384
/// tiles) in one matrix product. The codes are the same whatever the batch: `gemm` sums each
/// one in the same order.
const ENCODE_BATCH: usize = 384;

/// Feature buffers a [`CpuCoder`] keeps for later calls; concurrent calls beyond this many
/// allocate their own.
const MAX_SPARE_FEATURES: usize = 4;

/// Something that turns tiles into codes and codes into tiles.
pub trait TileCoder: Send + Sync {
    /// Tiles (3,072 bytes each, channel-major) to codes (`code_length` values each).
    fn encode(&self, tiles: &[u8]) -> Vec<f32>;
    /// Codes to tiles with values in [0, 1].
    fn decode(&self, codes: &[f32]) -> Vec<f32>;
}

/// A coder whose codes go through a model's quantization: its `encode` gives the code values
/// an entropy-coded file carries (each value on its dimension's grid).
pub struct QuantizedCoder {
    /// The network.
    pub inner: Box<dyn TileCoder>,
    /// The quantization (and probability) tables.
    pub tables: CodeTables,
}

impl TileCoder for QuantizedCoder {
    fn encode(&self, tiles: &[u8]) -> Vec<f32> {
        let codes = self.inner.encode(tiles);
        self.tables.dequantize(&self.tables.quantize(&codes))
    }

    fn decode(&self, codes: &[f32]) -> Vec<f32> {
        self.inner.decode(codes)
    }
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
    /// Feature buffers of a batch (up to 44 MB each), kept between calls: allocating and
    /// zeroing them afresh took 6% of an encode. A call takes one out and puts it back, so
    /// no lock is held while it runs parallel work (a rayon worker that waits inside that
    /// work may run another image's `encode`, which would then wait for the same lock).
    spare_features: Mutex<Vec<Vec<f32>>>,
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
            spare_features: Mutex::default(),
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

impl CpuCoder {
    /// A feature buffer of at least `len` values: a spare one if there is one, else a new one.
    /// The lock is held only to take it.
    fn take_features(&self, len: usize) -> Vec<f32> {
        // A panic elsewhere cannot leave a buffer inconsistent: every use overwrites it.
        let spare = self
            .spare_features
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut feats = spare.unwrap_or_default();
        if feats.len() < len {
            feats.resize(len, 0.0);
        }
        feats
    }
}

impl TileCoder for CpuCoder {
    fn encode(&self, tiles: &[u8]) -> Vec<f32> {
        let (flat, l) = (self.config.flat_features(), self.config.code_length);
        let n = tiles.len() / TILE_VALUES;
        let mut out = vec![0f32; n * l];
        let mut feats = self.take_features(ENCODE_BATCH.min(n) * flat);
        for (chunk, codes) in tiles
            .chunks(ENCODE_BATCH * TILE_VALUES)
            .zip(out.chunks_mut(ENCODE_BATCH * l))
        {
            let b = chunk.len() / TILE_VALUES;
            let feats = &mut feats[..b * flat];
            self.features(chunk, feats);
            for row in codes.chunks_exact_mut(l) {
                row.copy_from_slice(&self.enc_b);
            }
            matmul(b, l, flat, feats, &self.enc_w, codes, true, true);
            tanh_parallel(Path::detect(), codes);
        }
        let mut spare = self
            .spare_features
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if spare.len() < MAX_SPARE_FEATURES {
            spare.push(feats);
        }
        out
    }

    fn decode(&self, codes: &[f32]) -> Vec<f32> {
        self.decode_on(Path::detect(), codes)
    }
}

impl CpuCoder {
    /// [`TileCoder::decode`] on a chosen path. Every step is the same operations in the same
    /// order on every path and thread count (the dense layer as chains of fused multiply-adds,
    /// `kernels::dense`; the rest unfused), so the tiles are the same bits whatever
    /// the path: tests hold them to each other.
    pub fn decode_on(&self, path: Path, codes: &[f32]) -> Vec<f32> {
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
            dense::chains(path, chunk, &self.dec_w, hidden, b);
            tanh_parallel(path, hidden);
            tiles
                .par_chunks_mut(TILE_VALUES)
                .zip(hidden.par_chunks(hidden_len))
                .for_each(|(tile, h)| deconv_tile(path, &self.deconv_w, &self.deconv_b, h, tile));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_threads;

    /// Many images encoded at once on a rayon pool of many threads, each encode itself
    /// parallel: a worker waiting inside one encode runs another. Must finish, with the
    /// codes of one encode at a time.
    #[test]
    fn concurrent_encodes_on_many_threads_finish() {
        let config = ModelConfig {
            code_length: 16,
            filters: 4,
            prior: false,
        };
        let coder = std::sync::Arc::new(CpuCoder::new(&Weights::glorot(config, 3)));
        let images: Vec<Vec<u8>> = (0..24)
            .map(|i| {
                (0..(20 + i) * TILE_VALUES)
                    .map(|j| ((j * 7 + i * 13) % 256) as u8)
                    .collect()
            })
            .collect();
        let alone: Vec<Vec<f32>> = images.iter().map(|t| coder.encode(t)).collect();
        for threads in [8, 16] {
            let (tx, rx) = std::sync::mpsc::channel();
            let (coder, images) = (coder.clone(), images.clone());
            std::thread::spawn(move || {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let codes: Vec<Vec<f32>> =
                    pool.install(|| images.par_iter().map(|t| coder.encode(t)).collect());
                tx.send(codes).unwrap();
            });
            let codes = rx
                .recv_timeout(std::time::Duration::from_secs(120))
                .expect("concurrent encodes did not finish (deadlock)");
            assert_eq!(codes, alone, "{threads} threads");
        }
    }

    /// The tiles a decode gives are the same bits on every path this CPU has (the rest are
    /// named) and on any number of threads, with the notebook's shapes (a group of images left
    /// over, a dense layer 2,700 wide).
    #[test]
    fn decode_is_the_same_on_every_path_and_thread_count() {
        let config = ModelConfig {
            code_length: 128,
            filters: 4,
            prior: false,
        };
        let coder = CpuCoder::new(&Weights::glorot(config, 5));
        let codes: Vec<f32> = (0..7 * 128)
            .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 1.8)
            .collect();
        let portable = coder.decode_on(Path::Portable, &codes);
        assert_eq!(portable.len(), 7 * TILE_VALUES);
        for path in Path::ALL {
            if !path.supported() {
                eprintln!("skipped {path:?}: this CPU lacks it");
                continue;
            }
            for threads in [1, 5, 16] {
                let tiles = on_threads(threads, || coder.decode_on(path, &codes));
                assert!(
                    tiles
                        .iter()
                        .zip(&portable)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{path:?} on {threads} threads"
                );
            }
        }
    }

    #[test]
    fn cpu_path_matches_burn() {
        let config = ModelConfig {
            code_length: 24,
            filters: 5,
            prior: false,
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
