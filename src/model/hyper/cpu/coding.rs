//! The transforms a codec runs: the analysis in fixed point where the model allows it
//! ([`super::fixed_analysis`]), the synthesis and hyper-analysis in floats
//! ([`super::infer`]); the hyper-synthesis runs in integers ([`crate::model::hyper::integer`]).

use super::fixed_analysis::FixedAnalysis;
use super::infer::{Map, Plan};
use crate::cpu_path::Path;
use crate::model::hyper::HyperWeights;

/// The analysis transform as the encoder runs it.
#[derive(Debug, Clone)]
pub enum Analysis {
    /// In 16-bit fixed point (every model of the family: convolutions and GDN).
    Fixed(FixedAnalysis),
    /// In floats, as the decoder's transforms.
    Float(Plan),
}

impl Analysis {
    /// `y` of `pixels` (three channels of `0..=255`), on `path`.
    pub fn run(&self, path: Path, pixels: Map<u8>) -> Map {
        match self {
            Analysis::Fixed(plan) => plan.run(path, convert(pixels, i16::from)),
            Analysis::Float(plan) => plan.run(path, convert(pixels, |v| f32::from(v) / 255.0)),
        }
    }
}

/// `map` with `f` applied to every value.
fn convert<T>(map: Map<u8>, f: impl Fn(u8) -> T) -> Map<T> {
    Map {
        height: map.height,
        width: map.width,
        channels: map.channels,
        values: map.values.into_iter().map(f).collect(),
    }
}

/// The transforms of a model, ready to code with.
#[derive(Debug, Clone)]
pub struct CodingPlans {
    /// Image to `y`.
    pub analysis: Analysis,
    /// `ŷ` to image.
    pub synthesis: Plan,
    /// `|y|` to `z`.
    pub hyper_analysis: Plan,
}

impl CodingPlans {
    /// The plans of a model's weights.
    pub fn new(weights: &HyperWeights) -> Self {
        let starts = weights.config.network_starts();
        let networks = weights.config.networks();
        let params = |k: usize| &weights.tensors[starts[k]..starts[k + 1]];
        let plan = |k: usize| Plan::new(&networks[k].1, params(k));
        let analysis = match FixedAnalysis::new(&networks[0].1, params(0)) {
            Some(fixed) => Analysis::Fixed(fixed),
            None => Analysis::Float(plan(0)),
        };
        Self {
            analysis,
            synthesis: Plan::synthesis(&networks[1].1, params(1)),
            hyper_analysis: plan(2),
        }
    }
}
