//! The transforms a codec runs: the analysis in fixed point where the model allows it
//! ([`super::fixed_analysis`]), the synthesis and hyper-analysis in floats
//! ([`super::infer`]); the hyper-synthesis runs in integers ([`crate::model::hyper::integer`]).

use std::sync::OnceLock;

use rayon::prelude::*;

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

/// `map` with `f` applied to every value (on every thread: a photo has millions).
fn convert<T: Send>(map: Map<u8>, f: impl Fn(u8) -> T + Sync + Send) -> Map<T> {
    Map {
        height: map.height,
        width: map.width,
        channels: map.channels,
        values: map
            .values
            .par_iter()
            .with_min_len(1 << 14)
            .map(|&v| f(v))
            .collect(),
    }
}

/// A model's weights and the transforms a codec runs with them, each built the first time it
/// is asked for (a decoder needs no analysis, an encoder no synthesis unless it verifies).
#[derive(Debug)]
pub struct CodingPlans {
    weights: HyperWeights,
    analysis: OnceLock<Analysis>,
    synthesis: OnceLock<Plan>,
    hyper_analysis: OnceLock<Plan>,
}

impl CodingPlans {
    /// The plans of `weights`, none built yet.
    pub fn new(weights: HyperWeights) -> Self {
        Self {
            weights,
            analysis: OnceLock::new(),
            synthesis: OnceLock::new(),
            hyper_analysis: OnceLock::new(),
        }
    }

    /// The model's weights.
    pub fn weights(&self) -> &HyperWeights {
        &self.weights
    }

    /// Image to `y`.
    pub fn analysis(&self) -> &Analysis {
        self.analysis.get_or_init(|| {
            let (layers, params) = network(&self.weights, 0);
            match FixedAnalysis::new(&layers, params) {
                Some(fixed) => Analysis::Fixed(fixed),
                None => Analysis::Float(Plan::new(&layers, params)),
            }
        })
    }

    /// `ŷ` to image, as the decoder runs it ([`Plan::synthesis`]).
    pub fn synthesis(&self) -> &Plan {
        self.synthesis.get_or_init(|| {
            let (layers, params) = network(&self.weights, 1);
            Plan::synthesis(&layers, params)
        })
    }

    /// `|y|` to `z`.
    pub fn hyper_analysis(&self) -> &Plan {
        self.hyper_analysis.get_or_init(|| {
            let (layers, params) = network(&self.weights, 2);
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
