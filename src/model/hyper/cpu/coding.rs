//! The transforms a codec runs: the analysis in fixed point where the model allows it
//! ([`super::fixed_analysis`]), the synthesis and hyper-analysis in floats
//! ([`super::infer`]); the hyper-synthesis runs in integers ([`crate::model::hyper::integer`]).

use std::sync::OnceLock;

use super::fixed_analysis::FixedAnalysis;
use super::infer::{Map, Plan};
use crate::cpu_path::Path;
use crate::model::hyper::{HyperWeights, Layer};

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

/// The transforms of a model, each built the first time it is asked for (a decoder needs no
/// analysis, an encoder no synthesis unless it verifies).
#[derive(Debug, Default)]
pub struct CodingPlans {
    analysis: OnceLock<Analysis>,
    synthesis: OnceLock<Plan>,
    hyper_analysis: OnceLock<Plan>,
}

impl CodingPlans {
    /// Image to `y`, for `weights` (the same weights at every call).
    pub fn analysis(&self, weights: &HyperWeights) -> &Analysis {
        self.analysis.get_or_init(|| {
            let (layers, params) = network(weights, 0);
            match FixedAnalysis::new(&layers, params) {
                Some(fixed) => Analysis::Fixed(fixed),
                None => Analysis::Float(Plan::new(&layers, params)),
            }
        })
    }

    /// `ŷ` to image, as the decoder runs it ([`Plan::synthesis`]).
    pub fn synthesis(&self, weights: &HyperWeights) -> &Plan {
        self.synthesis.get_or_init(|| {
            let (layers, params) = network(weights, 1);
            Plan::synthesis(&layers, params)
        })
    }

    /// `|y|` to `z`.
    pub fn hyper_analysis(&self, weights: &HyperWeights) -> &Plan {
        self.hyper_analysis.get_or_init(|| {
            let (layers, params) = network(weights, 2);
            Plan::new(&layers, params)
        })
    }
}

/// The layers and parameter tensors of network `k` of a model.
fn network(weights: &HyperWeights, k: usize) -> (Vec<Layer>, &[Vec<f32>]) {
    let starts = weights.config.network_starts();
    let layers = (weights.config.networks().into_iter().nth(k))
        .expect("four networks")
        .1;
    (layers, &weights.tensors[starts[k]..starts[k + 1]])
}
