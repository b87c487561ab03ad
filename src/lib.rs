//! aec: a learned lossy image codec.
//!
//! A convolutional autoencoder (after a well-known TensorFlow notebook on CIFAR-10) turns each
//! 32×32 tile of an image into a short code; the `.aec` container ([`mod@format`]) stores the codes
//! and the identity of the model that made them.
//!
//! - [`model`]: the architecture, its weights, and the burn module;
//! - [`optim`]: TensorFlow 1's RMSProp, fused;
//! - [`data`]: CIFAR-10 binaries and image folders;
//! - [`train`]: the reference training recipe, checkpoints and logs;
//! - [`infer`]: coding tiles, through burn or the fused CPU path;
//! - [`entropy`]: the learned prior of entropy-coded models and its integer tables;
//! - [`codec`]: images to `.aec` files and back;
//! - [`device`]: where computation runs;
//! - [`cpu_path`]: which instruction set aec's CPU kernels use;
//! - [`store`]: model files (safetensors) and model identities;
//! - [`metrics`]: PSNR and SSIM;
//! - [`rd`]: rate-distortion measurements.

pub mod bdrate;
pub mod codec;
pub mod cpu_path;
pub mod data;
pub mod device;
pub mod entropy;
pub mod fsutil;
pub mod infer;
// CPU kernels shared by training and inference; internal (its views wrap raw gemm calls).
pub(crate) mod kernels;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod rd;
pub mod store;
#[cfg(test)]
mod testing;
pub mod train;

/// The `.aec` container (re-exported from the burn-free `aec-format` crate).
pub use aec_format as format;

/// Keeps freed memory in the process instead of returning it to the kernel (glibc only; a
/// no-op elsewhere). Programs that train or code many images call it first thing in `main`.
///
/// A training step allocates and frees tensors of about 15 MB (the 28,800 × 128 weight matrix
/// and its gradient). With glibc's defaults each is a fresh `mmap`, so every step paid for
/// zero-filled pages: half of a training run was system time, and a step took twice as long.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; it is safe to call at any time (best
    // called first thing in `main`, before large allocations).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
