//! Whole-image coding with a hyperprior model (`.aec` version 2, kind 2).
//!
//! The image is padded on the right and bottom by repeating its edge pixels to a multiple of
//! 64, run through the analysis transforms, and its latents quantized:
//! `z` per channel to `round(z − offset)`, `y` to `round(y)`. The integer hyper-synthesis
//! turns the decoded `ẑ` into a scale per latent, and so a table from the model's ladder. The
//! payload is one range-coded stream: every `z` symbol (channel-major), then every `y` symbol
//! (channel-major), each with its table. Symbols outside their table's alphabet are clamped to
//! it (the alphabets hold all but 10⁻⁹ of each distribution's mass). Decoding reverses this
//! and crops.

use aec_format::{
    CodedFile, Limits, ModelKind, SymbolDecoder, SymbolEncoder, SymbolTable, SymbolTables,
};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use super::{check_size, tiles::to_u8, CodecError, MAX_PIXELS};
use crate::entropy::hyper_tables::{HyperTables, Table};
use crate::model::hyper::file::HyperModel;
use crate::model::hyper::integer::{FixedMap, IntegerHyperSynthesis, ACT_BITS};
use crate::model::hyper::net::{host, HyperNet, Transform};
use crate::model::hyper::{HyperConfig, TOTAL_STRIDE, Y_STRIDE};
use crate::store::{self, ModelError, ModelId};

/// A hyperprior model ready to code images.
pub struct HyperCodec {
    config: HyperConfig,
    net: HyperNet,
    integer: IntegerHyperSynthesis,
    tables: HyperTables,
    /// The z tables (one per channel), then the y tables (one per scale level).
    symbols: SymbolTables,
    device: Device,
    id: ModelId,
    lambda: f64,
    max_pixels: u64,
}

/// The latents' geometry for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    /// Padded image size.
    padded: (usize, usize),
    /// `z`'s rows and columns.
    z: (usize, usize),
    /// `y`'s rows and columns.
    y: (usize, usize),
}

impl Geometry {
    fn of(width: u32, height: u32) -> Self {
        let pad = |v: u32| (v as usize).div_ceil(TOTAL_STRIDE) * TOTAL_STRIDE;
        let (pw, ph) = (pad(width), pad(height));
        Self {
            padded: (pw, ph),
            z: (ph / TOTAL_STRIDE, pw / TOTAL_STRIDE),
            y: (ph / Y_STRIDE, pw / Y_STRIDE),
        }
    }
}

fn symbol_table(t: &Table) -> SymbolTable {
    SymbolTable {
        min_symbol: t.min_symbol,
        probabilities: t.probabilities.clone(),
    }
}

impl HyperCodec {
    /// A codec for a model file's bytes, computing on burn's `flex` CPU backend.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        let (model, id) = HyperModel::from_bytes(bytes)?;
        Self::new(model, id)
    }

    /// A codec for a parsed model.
    pub fn new(model: HyperModel, id: ModelId) -> Result<Self, CodecError> {
        let device = Device::flex();
        let integer = IntegerHyperSynthesis::new(&model.weights)
            .map_err(|e| CodecError::Model(ModelError::Tables(e.to_string())))?;
        let symbols = SymbolTables::new(
            model
                .tables
                .z
                .iter()
                .chain(&model.tables.y)
                .map(symbol_table)
                .collect(),
        )?;
        Ok(Self {
            config: model.weights.config,
            net: HyperNet::from_weights(&model.weights, &device, false),
            integer,
            tables: model.tables,
            symbols,
            device,
            id,
            lambda: model.lambda,
            max_pixels: MAX_PIXELS,
        })
    }

    /// The same codec with another pixel limit (at most [`MAX_PIXELS`]).
    pub fn with_max_pixels(mut self, max_pixels: u64) -> Self {
        self.max_pixels = max_pixels.min(MAX_PIXELS);
        self
    }

    /// The pixel limit in force.
    pub fn max_pixels(&self) -> u64 {
        self.max_pixels
    }

    /// The model's identity.
    pub fn model_id(&self) -> ModelId {
        self.id
    }

    /// The architecture.
    pub fn config(&self) -> HyperConfig {
        self.config
    }

    /// The rate–distortion weight the model was trained with.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Compresses an RGB image; `channels` is recorded as the source's channel count.
    pub fn compress_rgb(&self, rgb: &RgbImage, channels: u8) -> Result<Vec<u8>, CodecError> {
        let (width, height) = rgb.dimensions();
        check_size(width, height, self.max_pixels)?;
        let g = Geometry::of(width, height);
        let x = self.padded_tensor(rgb, g);
        let y = self.net.run(Transform::Analysis, x);
        let z = self.net.run(Transform::HyperAnalysis, y.clone().abs());
        let (y, z) = (host(y), host(z));
        let (n, m) = (self.config.n, self.config.m);
        let mut enc = SymbolEncoder::with_capacity(z.len() + y.len());
        let z_plane = g.z.0 * g.z.1;
        let mut z_symbols = Vec::with_capacity(z.len());
        for (k, &v) in z.iter().enumerate() {
            let c = k / z_plane;
            let t = &self.tables.z[c];
            let q = clamp_round(v - self.tables.z_offset[c], t);
            enc.encode(q, c, &self.symbols)?;
            z_symbols.push(q);
        }
        let levels = self.levels(&z_symbols, g);
        for (k, &v) in y.iter().enumerate() {
            let level = levels[k];
            let q = clamp_round(v, &self.tables.y[level]);
            enc.encode(q, n + level, &self.symbols)?;
        }
        debug_assert_eq!(y.len(), m * g.y.0 * g.y.1);
        let file = CodedFile {
            kind: ModelKind::WholeImageHyperprior,
            channels: channels.clamp(1, 4),
            model_id: self.id.0[..8].try_into().expect("8 of 32 bytes"),
            width,
            height,
            payload: enc.finish(),
        };
        Ok(file.to_bytes()?)
    }

    /// The scale level of every `y` value, from the `z` symbols, in integers only.
    fn levels(&self, z_symbols: &[i32], g: Geometry) -> Vec<usize> {
        let plane = g.z.0 * g.z.1;
        let unit = 1i64 << ACT_BITS;
        let values = z_symbols
            .iter()
            .enumerate()
            .map(|(k, &q)| {
                let offset = (f64::from(self.tables.z_offset[k / plane]) * unit as f64).round();
                let v = offset as i64 + i64::from(q) * unit;
                v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
            })
            .collect();
        let scales = self.integer.run(FixedMap {
            channels: self.config.n,
            height: g.z.0,
            width: g.z.1,
            values,
        });
        scales
            .values
            .iter()
            .map(|&s| self.tables.level(s))
            .collect()
    }

    fn padded_tensor(&self, rgb: &RgbImage, g: Geometry) -> Tensor<4> {
        let (pw, ph) = g.padded;
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let mut values = vec![0f32; 3 * pw * ph];
        for c in 0..3 {
            for y in 0..ph {
                for x in 0..pw {
                    let p = rgb.get_pixel(x.min(w - 1) as u32, y.min(h - 1) as u32);
                    values[(c * ph + y) * pw + x] = f32::from(p[c]) / 255.0;
                }
            }
        }
        Tensor::from_data(TensorData::new(values, [1, 3, ph, pw]), &self.device)
    }

    /// Parses and decodes a kind 2 file made by this model, checking the header first.
    pub fn decode_rgb(&self, bytes: &[u8]) -> Result<RgbImage, CodecError> {
        let header = aec_format::CodedHeader::parse(bytes)?;
        self.check_header(&header)?;
        let file = CodedFile::from_bytes(bytes)?;
        let g = Geometry::of(file.width, file.height);
        let (n, m) = (self.config.n, self.config.m);
        let (z_count, y_count) = (n * g.z.0 * g.z.1, m * g.y.0 * g.y.1);
        let mut dec = SymbolDecoder::new(&file.payload, z_count + y_count)?;
        let z_plane = g.z.0 * g.z.1;
        let z_symbols = (0..z_count)
            .map(|k| dec.decode(k / z_plane, &self.symbols))
            .collect::<Result<Vec<i32>, _>>()?;
        let levels = self.levels(&z_symbols, g);
        let y = levels
            .iter()
            .map(|&level| dec.decode(n + level, &self.symbols).map(|q| q as f32))
            .collect::<Result<Vec<f32>, _>>()?;
        dec.finish()?;
        let y = Tensor::<4>::from_data(TensorData::new(y, [1, m, g.y.0, g.y.1]), &self.device);
        let x = host(self.net.run(Transform::Synthesis, y));
        let (pw, ph) = g.padded;
        Ok(RgbImage::from_fn(file.width, file.height, |x0, y0| {
            let at = |c: usize| to_u8(x[(c * ph + y0 as usize) * pw + x0 as usize]);
            image::Rgb([at(0), at(1), at(2)])
        }))
    }

    /// Checks a version 2 header against this model: its kind, its model id, the pixel limit
    /// and the symbol count the image implies.
    pub fn check_header(&self, h: &aec_format::CodedHeader) -> Result<(), CodecError> {
        if h.kind != ModelKind::WholeImageHyperprior {
            return Err(CodecError::WrongKind(
                "the file was made by a tiled model, not a whole-image one",
            ));
        }
        if self.id.0[..8] != h.model_id {
            return Err(CodecError::WrongModel {
                file: store::hex(&h.model_id),
                codec: store::hex(&self.id.0[..8]),
            });
        }
        check_size(h.width, h.height, self.max_pixels)?;
        let g = Geometry::of(h.width, h.height);
        let count = self.config.n * g.z.0 * g.z.1 + self.config.m * g.y.0 * g.y.1;
        let limit = Limits::default().max_symbols;
        if count > limit {
            return Err(CodecError::Format(aec_format::FormatError::LimitExceeded {
                what: "symbol count",
                value: count as u64,
                limit: limit as u64,
            }));
        }
        Ok(())
    }
}

fn clamp_round(v: f32, t: &Table) -> i32 {
    let r = v.round();
    if r.is_nan() {
        return 0i32.clamp(t.min_symbol, t.max_symbol());
    }
    (r.clamp(-2e9, 2e9) as i32).clamp(t.min_symbol, t.max_symbol())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyper::HyperWeights;

    fn codec() -> HyperCodec {
        let w = HyperWeights::init(HyperConfig { n: 8, m: 12 }, 5);
        let model = HyperModel::from_weights(w, 0.01).unwrap();
        let bytes = model.to_bytes();
        HyperCodec::from_bytes(&bytes).unwrap()
    }

    fn image(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7 + y) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
        })
    }

    /// Any size round-trips to the same size, the same file decodes to the same pixels on 1
    /// and 16 threads, and a file of another model or a damaged one is refused.
    #[test]
    fn round_trip_any_size_and_threads() {
        let c = codec();
        for (w, h) in [(1, 1), (33, 7), (70, 65)] {
            let bytes = c.compress_rgb(&image(w, h), 3).unwrap();
            let decode = |threads: usize| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| c.decode_rgb(&bytes).unwrap())
            };
            let one = decode(1);
            assert_eq!(one.dimensions(), (w, h));
            assert_eq!(one, decode(16));
            let mut damaged = bytes.clone();
            let last = damaged.len() - 5;
            damaged[last] ^= 0x40;
            assert!(c.decode_rgb(&damaged).is_err(), "the CRC catches damage");
        }
    }
}
