//! Adam (Kingma & Ba 2015) with PyTorch's defaults, as CompressAI trains with, and gradient
//! clipping by global norm.

use rayon::prelude::*;

/// Adam's state: the step count and two moment slots per parameter tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// Steps taken (for the bias correction).
    pub steps: u64,
    /// First moments, one per tensor.
    pub m: Vec<Vec<f32>>,
    /// Second moments, one per tensor.
    pub v: Vec<Vec<f32>>,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

impl Adam {
    /// Zeroed slots for tensors of these lengths.
    pub fn new(lengths: impl IntoIterator<Item = usize>) -> Self {
        let (m, v) = lengths
            .into_iter()
            .map(|n| (vec![0.0; n], vec![0.0; n]))
            .unzip();
        Self { steps: 0, m, v }
    }

    /// One update of every tensor at learning rate `lr`, after scaling the gradients so that
    /// their global L2 norm is at most `max_norm` (when given). Returns the norm before scaling.
    pub fn step(
        &mut self,
        lr: f32,
        weights: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        max_norm: Option<f32>,
    ) -> f32 {
        let norm = sum_of_squares(grads).sqrt() as f32;
        let scale = match max_norm {
            Some(max) if norm > max => max / (norm + 1e-6),
            _ => 1.0,
        };
        self.steps += 1;
        let t = self.steps as i32;
        let c1 = 1.0 - BETA1.powi(t);
        let c2 = 1.0 - BETA2.powi(t);
        let step_size = lr / c1;
        for (((w, g), m), v) in weights
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            w.par_iter_mut()
                .zip(g.par_iter())
                .zip(m.par_iter_mut())
                .zip(v.par_iter_mut())
                .with_min_len(1 << 14)
                .for_each(|(((w, &g), m), v)| {
                    let g = g * scale;
                    *m = BETA1 * *m + (1.0 - BETA1) * g;
                    *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                    *w -= step_size * *m / ((*v / c2).sqrt() + EPSILON);
                });
        }
        norm
    }
}

/// Values a task sums in order.
const BLOCK: usize = 1 << 16;

/// `Σ g²` over all tensors in `f64`: blocks of [`BLOCK`] values summed side by side, each in
/// order, then the blocks' sums in order, so the same bits on any thread count (a single chain
/// of millions of additions had kept one core busy while the other waited).
fn sum_of_squares(grads: &[Vec<f32>]) -> f64 {
    let blocks: Vec<&[f32]> = grads.iter().flat_map(|g| g.chunks(BLOCK)).collect();
    let sums: Vec<f64> = blocks
        .par_iter()
        .map(|b| b.iter().map(|&g| f64::from(g) * f64::from(g)).sum())
        .collect();
    sums.into_iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first Adam step moves every weight by lr·sign(g) (bias-corrected moments are g and
    /// g²), whatever the gradient's size; clipping does not change that direction.
    #[test]
    fn first_step_moves_by_learning_rate() {
        let mut adam = Adam::new([3]);
        let mut w = vec![vec![1.0f32, 1.0, 1.0]];
        let norm = adam.step(0.01, &mut w, &[vec![4.0, -0.5, 0.0]], Some(1.0));
        assert!((norm - 16.25f32.sqrt()).abs() < 1e-5);
        assert!((w[0][0] - 0.99).abs() < 1e-6, "{}", w[0][0]);
        assert!((w[0][1] - 1.01).abs() < 1e-6, "{}", w[0][1]);
        assert_eq!(w[0][2], 1.0);
    }

    /// The gradient's norm is the same on one thread and on many.
    #[test]
    fn the_norm_is_the_same_on_any_thread_count() {
        let grads: Vec<Vec<f32>> = (0..5)
            .map(|t| {
                (0..BLOCK * t + 777)
                    .map(|i| ((i * 7919 + t) % 1013) as f32 / 1013.0 - 0.5)
                    .collect()
            })
            .collect();
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool");
            pool.install(|| sum_of_squares(&grads))
        };
        let one = on(1);
        for threads in [2, 3, 8, 16] {
            assert_eq!(on(threads).to_bits(), one.to_bits(), "{threads} threads");
        }
        let plain: f64 = grads.iter().flatten().map(|&g| f64::from(g).powi(2)).sum();
        assert!(
            (one - plain).abs() <= 1e-12 * plain,
            "{one} against {plain}"
        );
    }

    /// Two steps against PyTorch's formulas evaluated by hand in f64.
    #[test]
    fn second_step_matches_formula() {
        let mut adam = Adam::new([1]);
        let mut w = vec![vec![0.5f32]];
        adam.step(0.1, &mut w, &[vec![2.0]], None);
        adam.step(0.1, &mut w, &[vec![-1.0]], None);
        let (m, v) = (0.9 * 0.1 * 2.0 - 0.1, 0.999 * 0.001 * 4.0 + 0.001 * 1.0);
        let (mh, vh) = (m / (1.0 - 0.81), v / (1.0 - 0.999f64 * 0.999));
        let expected = 0.4 - 0.1 * mh / (vh.sqrt() + 1e-8);
        assert!((f64::from(w[0][0]) - expected).abs() < 1e-6, "{}", w[0][0]);
    }
}
