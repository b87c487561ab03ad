//! AVX2 pieces the streaming kernels share: the CPU check and the optimizer's update of eight
//! values.

use std::arch::x86_64::*;

use crate::cpu_path::Path;
use crate::optim::RmsPropSettings;

/// Whether the AVX2 + FMA kernels run: this CPU has them and `AEC_CPU_PATH` does not narrow
/// the choice ([`Path::detect`]).
pub fn available() -> bool {
    Path::detect().avx2()
}

/// TensorFlow 1's RMSProp on eight values at a time: the operations of
/// [`crate::optim::update`], in its order and unfused, so the results are its bits.
pub struct Update {
    keep: __m256,
    epsilon: __m256,
    rate: __m256,
    one: __m256,
}

impl Update {
    /// The update with `settings` at learning rate `lr`.
    #[target_feature(enable = "avx2,fma")]
    pub fn new(settings: RmsPropSettings, lr: f32) -> Self {
        Self {
            keep: _mm256_set1_ps(1.0 - settings.decay),
            epsilon: _mm256_set1_ps(settings.epsilon),
            rate: _mm256_set1_ps(lr),
            one: _mm256_set1_ps(1.0),
        }
    }

    /// Updates the eight values at `w` and their slots at `ms` with their gradient `g`.
    ///
    /// # Safety
    /// `w` and `ms` must each be valid for reading and writing eight values.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub unsafe fn apply(&self, g: __m256, ms: *mut f32, w: *mut f32) {
        // SAFETY: the caller vouches for both pointers.
        unsafe {
            // ms += (g·g − ms)·(1 − ρ)
            let m = _mm256_loadu_ps(ms);
            let m = _mm256_add_ps(
                m,
                _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(g, g), m), self.keep),
            );
            _mm256_storeu_ps(ms, m);
            // w −= (1/√(ms + ε))·lr·g
            let scale = _mm256_div_ps(self.one, _mm256_sqrt_ps(_mm256_add_ps(m, self.epsilon)));
            let step = _mm256_mul_ps(_mm256_mul_ps(scale, self.rate), g);
            _mm256_storeu_ps(w, _mm256_sub_ps(_mm256_loadu_ps(w), step));
        }
    }
}
