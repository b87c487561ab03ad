//! RMSProp with TensorFlow 1's semantics, fused into one pass over each parameter.
//!
//! TensorFlow 1's `RMSPropOptimizer` (`ApplyRMSProp`) differs from burn's `RmsPropConfig` in four
//! ways, all of which change the training curve:
//! - the mean-square slot starts at **one**, not zero, so the first steps are small;
//! - epsilon sits **inside** the square root: `w ← w − lr·g/√(ms + ε)`;
//! - decay ρ = 0.9 (burn's default α is 0.99);
//! - no momentum (burn defaults to 0.9).
//!
//! Per value, in TensorFlow's order of operations:
//! `ms ← ms + (g² − ms)·(1 − ρ)`, then `w ← w − (ms + ε)^(−½)·lr·g`.

mod adam;

pub use adam::Adam;
use rayon::prelude::*;

/// Values updated per parallel task; large enough that scheduling costs nothing.
const CHUNK: usize = 1 << 16;

/// Hyper-parameters of TensorFlow 1's RMSProp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropSettings {
    /// Decay ρ of the mean-square average (TensorFlow's `decay`).
    pub decay: f32,
    /// Added to the mean square inside the square root.
    pub epsilon: f32,
    /// Starting value of every mean-square slot.
    pub initial_mean_square: f32,
}

impl Default for RmsPropSettings {
    /// The notebook's values: decay 0.9, epsilon 1e-10, slots starting at 1.
    fn default() -> Self {
        Self {
            decay: 0.9,
            epsilon: 1e-10,
            initial_mean_square: 1.0,
        }
    }
}

/// The optimizer's state: one mean-square slot per parameter value.
#[derive(Debug, Clone, PartialEq)]
pub struct Tf1RmsProp {
    /// Hyper-parameters.
    pub settings: RmsPropSettings,
    /// Mean-square slots, one buffer per parameter tensor.
    pub mean_square: Vec<Vec<f32>>,
}

impl Tf1RmsProp {
    /// Fresh state for parameters of the given sizes.
    pub fn new(settings: RmsPropSettings, sizes: impl IntoIterator<Item = usize>) -> Self {
        let mean_square = sizes
            .into_iter()
            .map(|n| vec![settings.initial_mean_square; n])
            .collect();
        Self {
            settings,
            mean_square,
        }
    }

    /// Applies one update to every parameter tensor with its gradient.
    ///
    /// # Panics
    /// If the tensors, gradients and slots do not match in number and length; the trainer
    /// builds all three from one model config.
    pub fn step(&mut self, learning_rate: f32, params: &mut [Vec<f32>], grads: &[Vec<f32>]) {
        assert_eq!(params.len(), grads.len());
        assert_eq!(params.len(), self.mean_square.len());
        for (i, (w, g)) in params.iter_mut().zip(grads).enumerate() {
            self.step_tensor(i, learning_rate, w, g);
        }
    }

    /// Applies one update to parameter tensor `index` alone.
    ///
    /// # Panics
    /// If `index` has no slots, or the values, gradients and slots differ in length.
    pub fn step_tensor(&mut self, index: usize, learning_rate: f32, w: &mut [f32], g: &[f32]) {
        let s = self.settings;
        let ms = &mut self.mean_square[index];
        assert_eq!(w.len(), g.len());
        assert_eq!(w.len(), ms.len());
        w.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(ms.par_chunks_mut(CHUNK))
            .for_each(|((w, g), ms)| update(s, learning_rate, w, g, ms));
    }
}

/// One update of the values `w` with their gradients `g` and mean-square slots `ms` (the fused
/// trainer applies it block by block).
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
pub fn update(s: RmsPropSettings, lr: f32, w: &mut [f32], g: &[f32], ms: &mut [f32]) {
    let keep = 1.0 - s.decay;
    for ((w, &g), ms) in w.iter_mut().zip(g).zip(ms.iter_mut()) {
        *ms += (g * g - *ms) * keep;
        *w -= (*ms + s.epsilon).sqrt().recip() * lr * g;
    }
}

/// The learning rate at a step: constant, or TensorFlow's staircase exponential decay
/// `lr · rate^⌊step / steps⌋` when `decay` is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningRate {
    /// Rate at step 0.
    pub initial: f32,
    /// `(rate, steps)` of a staircase decay; `None` keeps the rate constant, as the notebook
    /// did in effect (it declared a decay but never advanced its step counter).
    pub decay: Option<(f32, u64)>,
}

impl LearningRate {
    /// The rate to use at `step` (0-based).
    pub fn at(&self, step: u64) -> f32 {
        match self.decay {
            Some((rate, steps)) if steps > 0 => self.initial * rate.powi((step / steps) as i32),
            _ => self.initial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps worked out by hand (in f64, compared at f32 precision).
    ///
    /// w = 1, g = 2, ms₀ = 1, lr = 0.1:
    ///   ms₁ = 1 + 0.1·(4 − 1) = 1.3;  w₁ = 1 − 0.1·2/√1.3 = 0.824584...
    /// then g = −1:
    ///   ms₂ = 1.3 + 0.1·(1 − 1.3) = 1.27;  w₂ = w₁ + 0.1/√1.27 = 0.913320...
    #[test]
    fn matches_hand_computed_steps() {
        let mut opt = Tf1RmsProp::new(RmsPropSettings::default(), [1]);
        let mut w = vec![vec![1.0f32]];
        opt.step(0.1, &mut w, &[vec![2.0]]);
        let w1 = 1.0 - 0.2 / 1.3f64.sqrt();
        assert!((opt.mean_square[0][0] as f64 - 1.3).abs() < 1e-6);
        assert!((w[0][0] as f64 - w1).abs() < 1e-6, "{}", w[0][0]);
        opt.step(0.1, &mut w, &[vec![-1.0]]);
        let w2 = w1 + 0.1 / 1.27f64.sqrt();
        assert!((opt.mean_square[0][0] as f64 - 1.27).abs() < 1e-6);
        assert!((w[0][0] as f64 - w2).abs() < 1e-6, "{}", w[0][0]);
    }

    /// Epsilon is inside the root: with the slot starting at zero and a tiny gradient, the step
    /// is lr·g/√(0.1g² + ε), not lr·g/(√(0.1g²) + ε).
    #[test]
    fn epsilon_inside_the_root() {
        let settings = RmsPropSettings {
            initial_mean_square: 0.0,
            ..Default::default()
        };
        let mut opt = Tf1RmsProp::new(settings, [1]);
        let mut w = vec![vec![0.0f32]];
        let g = 1e-5f32;
        opt.step(1.0, &mut w, &[vec![g]]);
        let ms = 0.1 * (g as f64).powi(2);
        let expected = -(g as f64) / (ms + 1e-10).sqrt();
        assert!(((w[0][0] as f64) - expected).abs() < 1e-4 * expected.abs());
        // With ε outside the root the step would be ≈ −3.162; inside it is ≈ −0.9535.
        assert!((w[0][0] + 0.9535).abs() < 1e-3, "{}", w[0][0]);
    }

    #[test]
    fn many_chunks_update_every_value() {
        let n = 3 * CHUNK + 17;
        let mut opt = Tf1RmsProp::new(RmsPropSettings::default(), [n, 5]);
        let mut w = vec![vec![0.5f32; n], vec![0.5f32; 5]];
        let g = vec![vec![1.0f32; n], vec![1.0f32; 5]];
        opt.step(0.01, &mut w, &g);
        let expected = 0.5 - 0.01 / 1.0f32.sqrt();
        assert!(w.iter().flatten().all(|&v| (v - expected).abs() < 1e-7));
    }

    #[test]
    fn staircase_decay() {
        let constant = LearningRate {
            initial: 0.0005,
            decay: None,
        };
        assert_eq!(constant.at(1_000_000), 0.0005);
        let decayed = LearningRate {
            initial: 1.0,
            decay: Some((0.5, 10)),
        };
        assert_eq!(decayed.at(9), 1.0);
        assert_eq!(decayed.at(10), 0.5);
        assert_eq!(decayed.at(25), 0.25);
    }
}
