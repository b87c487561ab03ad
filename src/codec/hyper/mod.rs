//! Whole-image coding with a hyperprior model (`.aec` version 2, kinds 2 and 3).
//!
//! The image is padded on the right and bottom by repeating its edge pixels to a multiple of
//! 16 (one `y` value per 16×16 block; `z` has one per 4×4 block of `y`, the last ones partial),
//! run through the analysis transforms, and its latents quantized:
//! `z` per channel to `round(z − offset)`, `y` to `round((y − μ) / Δ)` (`μ` = 0 for a
//! scale-only model, `Δ` the file's quantization step, 1 unless asked otherwise). The integer
//! hyper-synthesis turns the decoded `ẑ` into a scale per latent, and so a table from the
//! model's ladder (for the scale over `Δ`), and for a mean-scale model a mean `μ` in its
//! fixed point, so that the decoder's `ŷ = Δ·symbol + μ` is the same number on every machine. The
//! payload is one range-coded stream: every `z` symbol (channel-major), then every `y` symbol
//! (channel-major), each with its table; a value outside its table's alphabet follows the
//! table's escape symbol (`aec-format`'s `escape.rs`). Decoding reverses this and crops.

use aec_format::{
    bit_table, decode_value, encode_value, plain_interval, CodedFile, EscapeBudget, Limits,
    ModelKind, SymbolDecoder, SymbolEncoder, SymbolTable, SymbolTables,
};
use image::RgbImage;
use rayon::prelude::*;

mod context;
mod refine;
mod regions;
mod step;

pub use refine::{RefineReport, REFINE_MAX_PIXELS};
pub use step::Step;

pub use regions::REGION_PIXELS;

use super::{check_size, CodecError, MAX_PIXELS};
use crate::cpu_path::Path;
use crate::entropy::hyper_tables::{HyperTables, Table};
use crate::model::hyper::cpu::coding::CodingPlans;
use crate::model::hyper::cpu::infer::Map;
use crate::model::hyper::cpu::pool;
use crate::model::hyper::cpu::to_planes;
use crate::model::hyper::file::HyperModel;
use crate::model::hyper::integer::{FixedMap, IntegerNetwork, PixelMap, ACT_BITS};
use crate::model::hyper::{HyperConfig, TOTAL_STRIDE, Y_STRIDE};
use crate::store::{self, ModelError, ModelId};

/// `round(v)` as an `i32` (saturating; NaN gives 0).
fn round_i32(v: f32) -> i32 {
    // Without `roundf` (the x86-64 baseline has no instruction for it, and the encoder rounds
    // every latent in its serial coding loop): below 2^23 the truncation and the remainder are
    // exact; from there on `v` is whole already, and `as` saturates (NaN to 0).
    if v.abs() < 8_388_608.0 {
        let t = v as i32;
        let rest = v - t as f32;
        t + i32::from(rest >= 0.5) - i32::from(rest <= -0.5)
    } else {
        v as i32
    }
}

/// What the hyper-synthesis gives each `y` value (channel-major).
pub(crate) struct Conditions {
    /// The scale level.
    levels: Vec<u8>,
    /// The mean in the integer network's fixed point (0 for a scale-only model).
    means: Vec<i32>,
}

/// The decoded latents of a file.
struct Latents {
    /// The `z` symbols.
    z: Vec<i32>,
    /// The scale level of each `y` value.
    levels: Vec<u8>,
    /// The `y` symbols.
    symbols: Vec<i32>,
    /// The `ŷ` values.
    y: Vec<f32>,
}

/// What `aec inspect` shows of a whole-image file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatentReport {
    /// Values of the side latent `z`.
    pub z_values: usize,
    /// Values of the latent `y`.
    pub y_values: usize,
    /// Values coded with an escape (outside their table's alphabet).
    pub escaped: usize,
    /// Ideal bits of the `z` values that were not escaped.
    pub z_bits: f64,
    /// Ideal bits of the `y` values that were not escaped.
    pub y_bits: f64,
    /// `y` values that are zero.
    pub y_zeros: usize,
}

impl LatentReport {
    fn add(&mut self, t: &Table, q: i32, z: bool) {
        if q < t.min_symbol || q >= t.escape() {
            self.escaped += 1;
            return;
        }
        let bits = t.bits(q);
        if z {
            self.z_bits += bits;
        } else {
            self.y_bits += bits;
            self.y_zeros += usize::from(q == 0);
        }
    }
}

/// A hyperprior model ready to code images.
pub struct HyperCodec {
    config: HyperConfig,
    /// [`refine::footprints`], computed on the first refinement.
    footprints: std::sync::OnceLock<Vec<f32>>,
    /// The weights (the encoder's refinement runs aec's own kernels on them) and the float
    /// transforms.
    plans: CodingPlans,
    /// The instruction set they run on (every path gives the same results).
    path: Path,
    integer: IntegerNetwork,
    /// The checkerboard context's networks, for a model that has one.
    context: Option<context::Context>,
    tables: HyperTables,
    /// Each `z` channel's quantization offset in the integer hyper-synthesis's fixed point.
    z_offsets: Vec<i64>,
    /// The z tables (one per channel), then the y tables (one per scale level).
    symbols: SymbolTables,
    id: ModelId,
    lambda: f64,
    max_pixels: u64,
    region_pixels: usize,
}

/// An image through a model's analysis transforms ([`HyperCodec::analyse`]).
pub struct Analysed {
    /// `y` of the padded image, channel-major.
    y: Vec<f32>,
    /// `z`, channel-major.
    z: Vec<f32>,
    /// The image's width and height.
    size: (u32, u32),
    /// The model that analysed it.
    model: ModelId,
}

/// The latents' geometry for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// `z`'s rows and columns.
    z: (usize, usize),
    /// `y`'s rows and columns.
    y: (usize, usize),
}

impl Geometry {
    /// The image is padded to a multiple of 16 (one `y` value per 16×16 block); `z` has one
    /// value per 4×4 block of `y` values, the last ones partial (the hyper-analysis's own
    /// zero padding fills them).
    fn of(width: u32, height: u32) -> Self {
        let y = |v: u32| (v as usize).div_ceil(Y_STRIDE);
        let (yh, yw) = (y(height), y(width));
        let z = |v: usize| v.div_ceil(TOTAL_STRIDE / Y_STRIDE);
        Self {
            z: (z(yh), z(yw)),
            y: (yh, yw),
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
    /// A codec for a model file's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CodecError> {
        let (model, id) = HyperModel::from_bytes(bytes)?;
        Self::new(model, id)
    }

    /// A codec for a parsed model.
    pub fn new(model: HyperModel, id: ModelId) -> Result<Self, CodecError> {
        let (integer, context) = crate::parallel::join(
            || IntegerNetwork::hyper_synthesis(&model.weights),
            || context::Context::new(&model.weights),
        );
        let integer = integer.map_err(ModelError::from)?;
        let context = context.map_err(ModelError::from)?;
        let symbols = SymbolTables::new(
            model
                .tables
                .z
                .iter()
                .chain(&model.tables.y)
                .map(symbol_table)
                .chain([bit_table()])
                .collect(),
        )?;
        let unit = f64::from(1u32 << ACT_BITS);
        let z_offsets = (model.tables.z_offset.iter())
            .map(|&o| (f64::from(o) * unit).round() as i64)
            .collect();
        Ok(Self {
            z_offsets,
            config: model.weights.config,
            plans: CodingPlans::new(model.weights),
            path: Path::detect(),
            footprints: std::sync::OnceLock::new(),
            integer,
            context,
            tables: model.tables,
            symbols,
            id,
            lambda: model.lambda,
            max_pixels: MAX_PIXELS,
            region_pixels: REGION_PIXELS,
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

    /// The same codec with regions of about `pixels` pixels (see [`REGION_PIXELS`]); the
    /// results do not depend on it.
    pub fn with_region_pixels(mut self, pixels: usize) -> Self {
        self.region_pixels = pixels;
        self
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
        Ok(self.compress_refined(rgb, channels, 0, Step::UNIT)?.0)
    }

    /// [`Self::compress_rgb`] with at most `steps` rounds of latent refinement (`refine.rs`):
    /// smaller files, or better pictures, or both, for the time of up to `steps` passes of the
    /// synthesis (and its gradient after each kept round); the report says what it gained
    /// (none for 0 rounds). Images over [`REFINE_MAX_PIXELS`] are refused (it holds the whole
    /// synthesis's activations). `step` is the latents' quantization step (a larger one
    /// gives smaller files of lower quality).
    pub fn compress_refined(
        &self,
        rgb: &RgbImage,
        channels: u8,
        steps: usize,
        step: Step,
    ) -> Result<(Vec<u8>, Option<RefineReport>), CodecError> {
        let (width, height) = rgb.dimensions();
        check_size(width, height, self.max_pixels)?;
        let pixels = u64::from(width) * u64::from(height);
        if steps > 0 && pixels > REFINE_MAX_PIXELS {
            return Err(CodecError::Setting(format!(
                "--refine takes images of at most {REFINE_MAX_PIXELS} pixels; this one has {pixels}"
            )));
        }
        let analysed = self.analyse(rgb)?;
        let refine = (steps > 0).then_some((rgb, steps));
        self.code(&analysed, channels, step, refine)
    }

    /// The image through the analysis transforms: what coding it at any step starts from.
    pub fn analyse(&self, rgb: &RgbImage) -> Result<Analysed, CodecError> {
        let (width, height) = rgb.dimensions();
        check_size(width, height, self.max_pixels)?;
        let g = Geometry::of(width, height);
        let pixels = self.analysis_pixels(rgb, g);
        let y = to_planes(&pixels, self.config.m);
        let z = self.hyper_analysis(pixels, g);
        if regions::several(g, self.region_pixels) {
            // A large image: the regions' maps and the pixel-major `y` (given to the pool by
            // the hyper-analysis) are not kept beside the coding's arrays.
            pool::release();
        }
        Ok(Analysed {
            y,
            z,
            size: (width, height),
            model: self.id,
        })
    }

    /// The file of an analysed image coded with `step`: [`Self::compress_refined`] without
    /// refinement, the transforms already run (a search over steps runs them once).
    pub fn compress_analysed(
        &self,
        analysed: &Analysed,
        channels: u8,
        step: Step,
    ) -> Result<Vec<u8>, CodecError> {
        if analysed.model != self.id {
            return Err(CodecError::Setting(
                "the image was analysed by another model".into(),
            ));
        }
        Ok(self.code(analysed, channels, step, None)?.0)
    }

    /// Quantizes and codes the latents, refining them first for `refine`'s rounds on its
    /// image.
    fn code(
        &self,
        analysed: &Analysed,
        channels: u8,
        step: Step,
        refine: Option<(&RgbImage, usize)>,
    ) -> Result<(Vec<u8>, Option<RefineReport>), CodecError> {
        let Analysed { y, z, size, .. } = analysed;
        let g = Geometry::of(size.0, size.1);
        let n = self.config.n;
        let mut w = Writer::new(&self.symbols, n + self.tables.y.len(), z.len() + y.len());
        let z_plane = g.z.0 * g.z.1;
        let z_symbols = (z.iter().enumerate())
            .map(|(k, &v)| {
                let c = k / z_plane;
                w.put(round_i32(v - self.tables.z_offset[c]), c)
            })
            .collect::<Result<Vec<i32>, _>>()?;
        let report = match refine {
            Some(image) => Some(self.code_refined(y, &z_symbols, g, step, image, &mut w)?),
            None => {
                self.code_y(&z_symbols, g, step, |k, level, mu| {
                    w.put(step.quantize(y[k], mu), n + level)
                })?;
                None
            }
        };
        let file = CodedFile {
            kind: ModelKind::WholeImageHyperprior,
            channels: channels.clamp(1, 4),
            model_id: self.id.0[..8].try_into().expect("8 of 32 bytes"),
            width: size.0,
            height: size.1,
            step: step.field(),
            alpha: None,
            exact: None,
            payload: w.enc.finish(),
        };
        Ok((file.to_bytes()?, report))
    }

    /// Codes `y` after refining it for `rounds` rounds on `rgb`. A context model's anchors are
    /// coded as they are (the others' tables depend on them); refinement moves the others
    /// under those tables. Without a context every latent may move, and none is coded before.
    fn code_refined(
        &self,
        y: &[f32],
        z_symbols: &[i32],
        g: Geometry,
        step: Step,
        (rgb, rounds): (&RgbImage, usize),
        w: &mut Writer<'_>,
    ) -> Result<RefineReport, CodecError> {
        let n = self.config.n;
        let movable = self.movable(g);
        let mut q = vec![0; y.len()];
        let cond = self.code_y(z_symbols, g, step, |k, level, mu| {
            q[k] = step.quantize(y[k], mu);
            if movable[k] {
                Ok(q[k])
            } else {
                w.put(q[k], n + level)
            }
        })?;
        let footprints = (self.footprints).get_or_init(|| refine::footprints(self.plans.weights()));
        let model = refine::Model {
            weights: self.plans.weights(),
            lambda: self.lambda,
            footprint: footprints,
            step,
        };
        let (refined, report) = refine::refine(&model, rgb, g, (&q, &movable), &cond, rounds);
        for k in self.coding_order(g).into_iter().filter(|&k| movable[k]) {
            w.put(refined[k], n + usize::from(cond.levels[k]))?;
        }
        Ok(report)
    }

    /// The scale level and mean of every `y` value, from the `z` symbols, in integers only
    /// (for a model without a context).
    fn conditions(&self, z_symbols: &[i32], g: Geometry, step: Step) -> Conditions {
        self.conditions_of(&self.hyper_output(z_symbols, g), step)
    }

    /// Gives every `y` value, in the model's coding order, its scale level and mean; `symbol`
    /// returns the value's symbol (the encoder quantizes and codes it, the decoder decodes
    /// it), and keeps it if its caller needs it (the encoder does not: a latent's 32 bits
    /// more at the peak of a large image's encode). Without a context the order is
    /// channel-major; with one, the anchors' values come first (channel-major), then the
    /// others', whose parameters read the anchors' `ŷ`. Returns the conditions,
    /// channel-major. The levels are those for quantization step `step`.
    fn code_y<E>(
        &self,
        z_symbols: &[i32],
        g: Geometry,
        step: Step,
        mut symbol: impl FnMut(usize, usize, i32) -> Result<i32, E>,
    ) -> Result<Conditions, E> {
        let Some(ctx) = &self.context else {
            let cond = self.conditions(z_symbols, g, step);
            for (k, (&level, &mu)) in cond.levels.iter().zip(&cond.means).enumerate() {
                symbol(k, level.into(), mu)?;
            }
            return Ok(cond);
        };
        let m = self.config.m;
        let (h, w) = g.y;
        let plane = h * w;
        let raw = self.hyper_output_pixels(z_symbols, g);
        let mut cond = Conditions {
            levels: vec![0; m * plane],
            means: vec![0; m * plane],
        };
        let ladder = step.ladder(&self.tables.thresholds);
        let fill = |cond: &mut Conditions, p: usize, params: &[i32]| {
            for c in 0..m {
                cond.levels[c * plane + p] = ladder.level(params[c]) as u8;
                cond.means[c * plane + p] = params[m + c];
            }
        };
        ctx.anchor_params(self.path, &raw, g.y, |p, v| fill(&mut cond, p, v));
        // The anchors' ŷ, pixel-major, zeros elsewhere: what the context reads.
        let mut anchors = PixelMap {
            height: h,
            width: w,
            channels: m,
            values: vec![0; m * plane],
        };
        for k in context::pass(m, g.y, true) {
            let q = symbol(k, cond.levels[k].into(), cond.means[k])?;
            anchors.values[(k % plane) * m + k / plane] = step.fixed_value(q, cond.means[k]);
        }
        ctx.other_params(self.path, &raw, &anchors, |p, v| fill(&mut cond, p, v));
        drop((raw, anchors));
        for k in context::pass(m, g.y, false) {
            symbol(k, cond.levels[k].into(), cond.means[k])?;
        }
        Ok(cond)
    }

    /// The `y` values (channel-major indices) in the model's coding order.
    fn coding_order(&self, g: Geometry) -> Vec<usize> {
        let m = self.config.m;
        match self.context {
            Some(_) => (context::pass(m, g.y, true))
                .chain(context::pass(m, g.y, false))
                .collect(),
            None => (0..m * g.y.0 * g.y.1).collect(),
        }
    }

    /// Which `y` values (channel-major) refinement may move: all but a context model's anchors.
    fn movable(&self, g: Geometry) -> Vec<bool> {
        let m = self.config.m;
        let mut movable = vec![true; m * g.y.0 * g.y.1];
        if self.context.is_some() {
            context::pass(m, g.y, true).for_each(|k| movable[k] = false);
        }
        movable
    }

    /// `h_s`'s output for the `z` symbols, in integers, each plane cropped to `y`'s rows and
    /// columns: `M` planes of scales, then (a mean-scale model) `M` of means.
    fn hyper_output(&self, z_symbols: &[i32], g: Geometry) -> Vec<i32> {
        let pixels = self.hyper_output_pixels(z_symbols, g);
        to_planes(&pixels, self.config.hyper_outputs())
    }

    /// [`Self::hyper_output`] pixel-major: each position's `M` scales, then its `M` means.
    fn hyper_output_pixels(&self, z_symbols: &[i32], g: Geometry) -> Vec<i32> {
        let plane = g.z.0 * g.z.1;
        let values = z_symbols
            .iter()
            .enumerate()
            .map(|(k, &q)| {
                let v = self.z_offsets[k / plane] + (i64::from(q) << ACT_BITS);
                v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
            })
            .collect();
        let z = FixedMap {
            channels: self.config.n,
            height: g.z.0,
            width: g.z.1,
            values,
        };
        // Only the part over y: the last convolution computes nothing else.
        let scales = self.integer.run_cropped_pixels(self.path, z, g.y);
        debug_assert_eq!((scales.height, scales.width), g.y);
        scales.values
    }

    /// The levels (for `step`) and means of `planes` ([`Self::hyper_output`]'s layout).
    fn conditions_of(&self, planes: &[i32], step: Step) -> Conditions {
        let count = self.config.m * planes.len() / self.config.hyper_outputs();
        let (scales, means) = planes.split_at(count);
        let ladder = step.ladder(&self.tables.thresholds);
        Conditions {
            // Independent integer comparisons: any split over threads gives the same levels
            // (one of the ladder's 64).
            levels: (scales.par_iter().with_min_len(1 << 12))
                .map(|&s| ladder.level(s) as u8)
                .collect(),
            means: if self.config.means {
                means.to_vec()
            } else {
                vec![0; count]
            },
        }
    }

    /// `y` of the padded image, channel-major, region by region.
    #[cfg(test)]
    fn analysis(&self, rgb: &RgbImage, g: Geometry) -> Vec<f32> {
        to_planes(&self.analysis_pixels(rgb, g), self.config.m)
    }

    /// [`Self::analysis`] pixel-major, as the transforms give it.
    fn analysis_pixels(&self, rgb: &RgbImage, g: Geometry) -> Vec<f32> {
        let sizes = (self.config.m, self.region_pixels);
        let plan = self.plans.analysis();
        regions::analysis(plan, self.path, sizes, rgb, g)
    }

    /// `z` (channel-major) of `y` (pixel-major): the whole latent at once, a 16th of the
    /// image's side.
    fn hyper_analysis(&self, mut values: Vec<f32>, g: Geometry) -> Vec<f32> {
        values.iter_mut().for_each(|v| *v = v.abs());
        let map = Map {
            height: g.y.0,
            width: g.y.1,
            channels: self.config.m,
            values,
        };
        let z = self.plans.hyper_analysis().run(self.path, map);
        debug_assert_eq!((z.height, z.width), g.z);
        to_planes(&z.values, z.channels)
    }

    /// The image from `ŷ`, region by region, cropped to `width × height`.
    fn synthesis(&self, y: &[f32], g: Geometry, width: u32, height: u32) -> RgbImage {
        let sizes = (self.config.m, self.region_pixels);
        regions::synthesis(
            self.plans.synthesis(),
            self.path,
            sizes,
            y,
            g,
            (width, height),
        )
    }

    /// Parses and decodes a whole-image file (kind 2 or 3) made by this model, checking the
    /// header first.
    pub fn decode_rgb(&self, bytes: &[u8]) -> Result<RgbImage, CodecError> {
        let header = aec_format::CodedHeader::parse(bytes)?;
        self.check_header(&header)?;
        let file = CodedFile::from_bytes(bytes)?;
        let g = Geometry::of(file.width, file.height);
        // Only `ŷ` through the synthesis: the symbols and levels, five bytes a latent, go
        // first.
        let Latents { y, .. } = self.decode_latents(&file.payload, g, file_step(&file)?)?;
        if regions::several(g, self.region_pixels) {
            // A large image: the decoding's freed arrays go back to the kernel before the
            // synthesis's maps are allocated.
            pool::release();
        }
        let mut rgb = self.synthesis(&y, g, file.width, file.height);
        drop(y);
        file.apply_exact(&mut rgb)?;
        Ok(rgb)
    }

    /// The statistics of a whole-image file made by this model: the latents' values, how many were
    /// escaped, and their ideal code length under the model's tables.
    pub fn latent_report(&self, bytes: &[u8]) -> Result<LatentReport, CodecError> {
        let header = aec_format::CodedHeader::parse(bytes)?;
        self.check_header(&header)?;
        let file = CodedFile::from_bytes(bytes)?;
        let g = Geometry::of(file.width, file.height);
        let l = self.decode_latents(&file.payload, g, file_step(&file)?)?;
        let mut r = LatentReport {
            z_values: l.z.len(),
            y_values: l.y.len(),
            ..LatentReport::default()
        };
        let z_plane = g.z.0 * g.z.1;
        for (k, &q) in l.z.iter().enumerate() {
            r.add(&self.tables.z[k / z_plane], q, true);
        }
        for (&q, &level) in l.symbols.iter().zip(&l.levels) {
            r.add(&self.tables.y[usize::from(level)], q, false);
        }
        Ok(r)
    }

    /// The `z` symbols, the scale levels and the `ŷ` values of a payload.
    fn decode_latents(
        &self,
        payload: &[u8],
        g: Geometry,
        step: Step,
    ) -> Result<Latents, CodecError> {
        let (n, m) = (self.config.n, self.config.m);
        let (z_count, y_count) = (n * g.z.0 * g.z.1, m * g.y.0 * g.y.1);
        let max = EscapeBudget::max_symbols(z_count + y_count);
        let mut dec = SymbolDecoder::new(payload, max)?;
        let mut budget = EscapeBudget::for_values(z_count + y_count);
        let bit = n + self.tables.y.len();
        let z_plane = g.z.0 * g.z.1;
        let z_symbols = (0..z_count)
            .map(|k| decode_value(&mut dec, k / z_plane, bit, &self.symbols, &mut budget))
            .collect::<Result<Vec<i32>, _>>()?;
        let mut symbols = vec![0; y_count];
        let Conditions { levels, means } = self.code_y(&z_symbols, g, step, |k, level, _| {
            let q = decode_value(&mut dec, n + level, bit, &self.symbols, &mut budget);
            if let Ok(q) = q {
                symbols[k] = q;
            }
            q
        })?;
        dec.finish()?;
        let y = (symbols.iter().zip(&means))
            .map(|(&q, &mu)| step.dequantize(q, mu))
            .collect();
        Ok(Latents {
            z: z_symbols,
            levels,
            symbols,
            y,
        })
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

/// A xorshift generator of test inputs, from a nonzero seed.
#[cfg(test)]
fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// A stream being written: the range coder, its tables and its escape budget.
struct Writer<'a> {
    enc: SymbolEncoder,
    budget: EscapeBudget,
    tables: &'a SymbolTables,
    /// The uniform binary table of the escapes.
    bit: usize,
}

impl<'a> Writer<'a> {
    /// A writer for `values` values.
    fn new(tables: &'a SymbolTables, bit: usize, values: usize) -> Self {
        Self {
            enc: SymbolEncoder::with_capacity(values),
            budget: EscapeBudget::for_values(values),
            tables,
            bit,
        }
    }

    /// Codes `value` with table `table` (escaped beyond its alphabet); returns the value
    /// coded (the nearest in the alphabet when the escape budget is spent).
    fn put(&mut self, value: i32, table: usize) -> Result<i32, aec_format::FormatError> {
        // Most values lie inside their table: one lookup, then straight to the coder.
        if let Some(interval) = plain_interval(self.tables, table, value) {
            self.enc.encode_interval(interval)?;
            return Ok(value);
        }
        encode_value(
            &mut self.enc,
            value,
            table,
            self.bit,
            self.tables,
            &mut self.budget,
        )
    }
}

/// The quantization step of a parsed file.
fn file_step(file: &CodedFile) -> Result<Step, CodecError> {
    // The container refuses a step of 0; this keeps a hand-made `CodedFile` honest too.
    Step::from_field(file.step)
        .ok_or_else(|| CodecError::Setting("a quantization step of 0".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hyper::HyperWeights;
    use crate::testing::on_threads;

    fn codec() -> HyperCodec {
        codec_of(HyperWeights::init(HyperConfig::new(8, 12), 5))
    }

    /// A mean-scale model whose means reach beyond ±1 (biases spread over the channels).
    fn mean_codec() -> HyperCodec {
        let config = HyperConfig::new(8, 12).with_means(true);
        let mut w = HyperWeights::init(config, 5);
        let bias = config.network_starts()[4] - 1;
        for (c, b) in w.tensors[bias][config.m..].iter_mut().enumerate() {
            *b += (c as f32 - 5.5) * 0.27;
        }
        codec_of(w)
    }

    /// [`mean_codec`]'s model with a checkerboard context whose every weight matters.
    fn context_codec() -> HyperCodec {
        let config = HyperConfig::new(8, 12).with_context(true);
        let mut w = HyperWeights::init(config, 6);
        for (k, t) in w
            .tensors
            .iter_mut()
            .enumerate()
            .skip(config.network_starts()[5])
        {
            let extra = crate::entropy::prior::noise(4, k as u64, t.len());
            t.iter_mut().zip(extra).for_each(|(v, e)| *v += 0.2 * e);
        }
        codec_of(w)
    }

    fn codec_of(w: HyperWeights) -> HyperCodec {
        let model = HyperModel::from_weights(w, 0.01).unwrap();
        let bytes = model.to_bytes();
        HyperCodec::from_bytes(&bytes).unwrap()
    }

    /// The encoder's rounding is `f32::round`'s (halves away from zero), saturated to `i32`,
    /// NaN to 0.
    #[test]
    fn rounding_is_f32_round_saturated() {
        let reference = |v: f32| {
            if v.is_nan() {
                0
            } else {
                v.round().clamp(i32::MIN as f32, i32::MAX as f32) as i32
            }
        };
        // Every 997th bit pattern (all exponents, both signs, NaNs and infinities), then the
        // halves and their neighbours where rounding turns.
        let spread = (0..=u32::MAX / 997).map(|i| f32::from_bits(i * 997));
        let halves = (-20_000..20_000).flat_map(|i| {
            let h = i as f32 + 0.5;
            [h, h.next_up(), h.next_down(), i as f32]
        });
        let edges = [8_388_607.5, 8_388_608.0, 2_147_483_648.0, -2_147_483_904.0];
        for v in spread
            .chain(halves)
            .chain(edges)
            .chain(edges.map(|e: f32| -e))
        {
            assert_eq!(round_i32(v), reference(v), "{v:e} ({:#x})", v.to_bits());
        }
    }

    /// A mean-scale model codes `round(y − μ)` and decodes `symbol + μ` (the same numbers on 1
    /// and 16 threads), with means that move the rounding.
    #[test]
    fn mean_scale_models_code_around_their_means() {
        let c = mean_codec();
        let (w, h) = (90, 50);
        let img = image(w, h);
        let g = Geometry::of(w, h);
        let bytes = c.compress_rgb(&img, 3).unwrap();
        let file = CodedFile::from_bytes(&bytes).unwrap();
        let l = c.decode_latents(&file.payload, g, Step::UNIT).unwrap();
        let cond = c.conditions(&l.z, g, Step::UNIT);
        let moved = cond.means.iter().filter(|m| m.abs() >= 1 << (ACT_BITS - 1));
        assert!(moved.count() > 10, "means of half a step and more");
        let y = c.analysis(&img, g);
        for (k, &v) in y.iter().enumerate() {
            let mu = step::mean_value(cond.means[k]);
            assert_eq!(l.symbols[k], round_i32(v - mu), "symbol {k}");
            assert_eq!(l.y[k], l.symbols[k] as f32 + mu, "value {k}");
        }
        let decode = |threads: usize| on_threads(threads, || c.decode_rgb(&bytes).unwrap());
        let expected = c.synthesis(&l.y, g, w, h);
        assert_eq!(decode(1), expected);
        assert_eq!(decode(16), expected);
    }

    /// With a quantization step `Δ` the encoder codes `round((y − μ)/Δ)` under the tables of
    /// the scales over `Δ`, the decoder reads `Δ·s + μ` (the same pixels on 1 and 16
    /// threads), the file says its step, and finer steps give larger files.
    #[test]
    fn quantization_steps_code_and_decode_exactly() {
        let (w, h) = (90, 70);
        let img = image(w, h);
        let g = Geometry::of(w, h);
        for c in [mean_codec(), context_codec()] {
            let y = c.analysis(&img, g);
            let mut sizes = Vec::new();
            for value in [0.3, 1.0, 3.0] {
                let step = Step::from_value(value).unwrap();
                let bytes = c.compress_refined(&img, 3, 0, step).unwrap().0;
                let file = CodedFile::from_bytes(&bytes).unwrap();
                assert_eq!(file.step, step.field());
                assert_eq!(bytes[5], if value == 1.0 { 2 } else { 3 });
                let l = c.decode_latents(&file.payload, g, step).unwrap();
                let cond = c
                    .code_y::<()>(&l.z, g, step, |k, _, _| Ok(l.symbols[k]))
                    .unwrap();
                assert_eq!(cond.levels, l.levels);
                if c.context.is_none() {
                    // Each level counts the thresholds t with t·Δ below the scale (exact in
                    // f64: D/256 times a 32-bit integer).
                    let scales = c.hyper_output(&l.z, g);
                    for (k, &level) in l.levels.iter().enumerate() {
                        let below = |t: &&i32| {
                            f64::from(**t) * f64::from(step.value()) < f64::from(scales[k])
                        };
                        let want = c.tables.thresholds.iter().filter(below).count();
                        assert_eq!(usize::from(level), want, "{k}");
                    }
                }
                for (k, &v) in y.iter().enumerate() {
                    let mu = step::mean_value(cond.means[k]);
                    assert_eq!(
                        l.symbols[k],
                        ((v - mu) / step.value()).round() as i32,
                        "{k}"
                    );
                    assert_eq!(l.y[k], l.symbols[k] as f32 * step.value() + mu, "{k}");
                }
                let decode = |threads: usize| on_threads(threads, || c.decode_rgb(&bytes).unwrap());
                assert_eq!(decode(1), c.synthesis(&l.y, g, w, h));
                assert_eq!(decode(16), decode(1));
                sizes.push(file.payload.len());
            }
            assert!(sizes[0] > sizes[1] && sizes[1] >= sizes[2], "{sizes:?}");
        }
    }

    /// An image analysed once codes at any step to the bytes of a whole compression, and only
    /// with the model that analysed it.
    #[test]
    fn analysed_images_code_as_whole_compressions() {
        let (c, other) = (context_codec(), mean_codec());
        let img = image(75, 40);
        let analysed = c.analyse(&img).unwrap();
        for value in [0.5, 1.0, 2.2] {
            let step = Step::from_value(value).unwrap();
            assert_eq!(
                c.compress_analysed(&analysed, 1, step).unwrap(),
                c.compress_refined(&img, 1, 0, step).unwrap().0,
                "{value}"
            );
        }
        assert!(other.compress_analysed(&analysed, 3, Step::UNIT).is_err());
    }

    /// A context model codes the anchors first, then the others with parameters that read the
    /// anchors' decoded values: the decoder finds the encoder's symbols (`round(y − μ)` with
    /// the final means), the same on 1 and 16 threads, and the context moves the parameters.
    #[test]
    fn context_models_code_in_two_passes() {
        let c = context_codec();
        let (w, h) = (90, 70);
        let img = image(w, h);
        let g = Geometry::of(w, h);
        let bytes = c.compress_rgb(&img, 3).unwrap();
        let file = CodedFile::from_bytes(&bytes).unwrap();
        let l = c.decode_latents(&file.payload, g, Step::UNIT).unwrap();
        let cond = c
            .code_y::<()>(&l.z, g, Step::UNIT, |k, _, _| Ok(l.symbols[k]))
            .unwrap();
        assert_eq!(cond.levels, l.levels);
        let y = c.analysis(&img, g);
        for (k, &v) in y.iter().enumerate() {
            assert_eq!(
                l.symbols[k],
                round_i32(v - step::mean_value(cond.means[k])),
                "{k}"
            );
        }
        let plain = c.conditions(&l.z, g, Step::UNIT);
        assert_ne!(plain.means, cond.means, "the context changes the means");
        let decode = |threads: usize| on_threads(threads, || c.decode_rgb(&bytes).unwrap());
        assert_eq!(decode(1), decode(16));
        assert_eq!(decode(1), c.synthesis(&l.y, g, w, h));
        // Refinement keeps the anchors and moves a few others by a few steps; the decoder
        // reads them under the same tables (a mismatch would scramble the rest).
        let (refined, report) = c.compress_refined(&img, 3, 8, Step::UNIT).unwrap();
        assert!(report.unwrap().kept > 0, "something to refine");
        let r = c
            .decode_latents(
                &CodedFile::from_bytes(&refined).unwrap().payload,
                g,
                Step::UNIT,
            )
            .unwrap();
        let movable = c.movable(g);
        let mut moved = 0;
        for (k, (a, b)) in l.symbols.iter().zip(&r.symbols).enumerate() {
            assert!(movable[k] || a == b, "anchor {k} kept");
            assert!((a - b).abs() <= 8, "{k}: {a} → {b}");
            moved += usize::from(a != b);
        }
        assert!(moved > 0 && moved * 5 < l.symbols.len(), "{moved} moved");
    }

    /// A mean-scale model given a new context (its last layer zero) decodes every image to
    /// the same pixels as before; only the symbols' order differs.
    #[test]
    fn a_new_context_decodes_as_before() {
        let w = HyperWeights::init(HyperConfig::new(8, 12).with_means(true), 5);
        let (plain, with) = (codec_of(w.clone()), codec_of(w.with_context(3)));
        for (width, height) in [(70, 45), (1, 1), (33, 100)] {
            let img = image(width, height);
            let (a, b) = (
                plain.compress_rgb(&img, 3).unwrap(),
                with.compress_rgb(&img, 3).unwrap(),
            );
            assert_eq!(plain.decode_rgb(&a).unwrap(), with.decode_rgb(&b).unwrap());
        }
    }

    /// A scale-only model widened with zero means codes the same symbols into the same
    /// payload and decodes to the same pixels; only the model id differs.
    #[test]
    fn zero_means_code_as_the_scale_only_model() {
        let w = HyperWeights::init(HyperConfig::new(8, 12), 5);
        let (plain, wide) = (codec_of(w.clone()), codec_of(w.with_means()));
        let img = image(70, 45);
        let (a, b) = (
            plain.compress_rgb(&img, 3).unwrap(),
            wide.compress_rgb(&img, 3).unwrap(),
        );
        let payload = |bytes: &[u8]| CodedFile::from_bytes(bytes).unwrap().payload;
        assert_eq!(payload(&a), payload(&b));
        assert_ne!(a, b, "the model ids differ");
        assert_eq!(plain.decode_rgb(&a).unwrap(), wide.decode_rgb(&b).unwrap());
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
            let decode = |threads: usize| on_threads(threads, || c.decode_rgb(&bytes).unwrap());
            let one = decode(1);
            assert_eq!(one.dimensions(), (w, h));
            assert_eq!(one, decode(16));
            let mut damaged = bytes.clone();
            let last = damaged.len() - 5;
            damaged[last] ^= 0x40;
            assert!(c.decode_rgb(&damaged).is_err(), "the CRC catches damage");
        }
    }

    /// Refinement: the loss it reports never rises, its file decodes to the image's size,
    /// the same bytes come on 1 and 8 threads, 0 steps is the plain encoder, and an image
    /// over the limit is refused before any work.
    #[test]
    fn refinement_lowers_the_loss_and_keeps_the_format() {
        for c in [codec(), mean_codec(), context_codec()] {
            refinement_check(c, Step::UNIT);
        }
        refinement_check(context_codec(), Step::from_value(0.6).unwrap());
    }

    fn refinement_check(c: HyperCodec, step: Step) {
        let img = image(70, 45);
        let plain = c.compress_refined(&img, 3, 0, step).unwrap().0;
        if step == Step::UNIT {
            assert_eq!(plain, c.compress_rgb(&img, 3).unwrap());
        }
        let run =
            |threads: usize| on_threads(threads, || c.compress_refined(&img, 3, 6, step).unwrap());
        let (bytes, report) = run(1);
        let report = report.expect("a report");
        assert!(report.loss <= report.initial_loss, "{report:?}");
        assert!(
            report.trials <= 6 && report.kept <= report.trials,
            "{report:?}"
        );
        assert_eq!(run(8).0, bytes, "thread count");
        assert_eq!(c.decode_rgb(&bytes).unwrap().dimensions(), (70, 45));
        let side = 1u32 << 11;
        let big = RgbImage::new(side, side + 1);
        let err = c
            .compress_refined(&big, 3, 1, step)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--refine takes images of at most"), "{err}");
    }

    /// The decoded image is the synthesis of `round(y)`: coding loses nothing beyond the
    /// rounding.
    #[test]
    fn decoding_gives_the_synthesis_of_rounded_latents() {
        let c = codec();
        let img = image(90, 50);
        let g = Geometry::of(90, 50);
        let rounded: Vec<f32> = c.analysis(&img, g).iter().map(|v| v.round()).collect();
        let expected = c.synthesis(&rounded, g, 90, 50);
        let bytes = c.compress_rgb(&img, 3).unwrap();
        assert_eq!(c.decode_rgb(&bytes).unwrap(), expected);
    }

    /// Regions of any size give the same file and the same pixels as one region over the
    /// whole image.
    #[test]
    fn regions_equal_the_whole_image() {
        let img = image(150, 330);
        let whole = codec().with_region_pixels(usize::MAX);
        let bytes = whole.compress_rgb(&img, 3).unwrap();
        let pixels = whole.decode_rgb(&bytes).unwrap();
        for size in [1, 5 * 16 * 16 * 10, 40_000] {
            let parts = codec().with_region_pixels(size);
            assert_eq!(
                parts.compress_rgb(&img, 3).unwrap(),
                bytes,
                "regions of {size}"
            );
            assert_eq!(
                parts.decode_rgb(&bytes).unwrap(),
                pixels,
                "regions of {size}"
            );
        }
    }

    /// Damaged payloads with a repaired CRC: each decodes to some image or fails with an
    /// error, never a panic; truncations too.
    #[test]
    fn damaged_streams_fail_cleanly() {
        damage_check(codec(), Step::UNIT);
        damage_check(context_codec(), Step::UNIT);
        damage_check(context_codec(), Step::from_value(0.4).unwrap());
    }

    fn damage_check(c: HyperCodec, step: Step) {
        let bytes = c.compress_refined(&image(100, 70), 3, 0, step).unwrap().0;
        let header = aec_format::CodedHeader::parse(&bytes)
            .unwrap()
            .encoded_len();
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let fix_crc = |mut b: Vec<u8>| {
            let n = b.len() - 4;
            let crc = crc32fast::hash(&b[..n]);
            b[n..].copy_from_slice(&crc.to_le_bytes());
            b
        };
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..200 {
            let mut b = bytes.clone();
            let span = b.len() - 4 - header;
            for _ in 0..1 + next() % 3 {
                let at = header + (next() as usize % span);
                b[at] = next() as u8;
            }
            match c.decode_rgb(&fix_crc(b)) {
                Ok(img) => {
                    assert_eq!(img.dimensions(), (100, 70));
                    ok += 1;
                }
                Err(_) => refused += 1,
            }
        }
        // Truncated payloads (an empty one is the valid stream of all-smallest symbols).
        for cut in [header, header + 1, bytes.len() / 2] {
            let mut b = bytes[..cut].to_vec();
            b.extend_from_slice(&[0; 4]);
            let _ = c.decode_rgb(&fix_crc(b));
        }
        assert!(refused > 0, "some damage is caught ({ok} decoded)");
    }
}
