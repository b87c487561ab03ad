//! aec: a learned lossy image codec.
//!
//! Images are coded by neural networks: by default a whole-image convolutional model with a
//! hyperprior and a checkerboard context (nine built-in quality levels), its latents range-coded
//! in a `.aec` file ([`mod@format`]) that names the model that made it; decoding gives the same
//! pixels on every machine. The autoencoder of a well-known TensorFlow notebook on CIFAR-10,
//! which codes each 32×32 tile on its own, stays selectable as the reference.
//!
//! ```
//! let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| {
//!     image::Rgb([(x * 4) as u8, (y * 5) as u8, 128])
//! }));
//! let bytes = aec::codec::compress(&image, 3.0)?; // quality 0 (smallest) to 11
//! let decoded = aec::codec::decompress(&bytes)?;
//! assert_eq!((decoded.width(), decoded.height()), (64, 48));
//! # Ok::<(), aec::codec::CodecError>(())
//! ```
//!
//! - [`codec`]: images to `.aec` files and back ([`codec::compress`], [`codec::decompress`];
//!   [`codec::Builtin`] for the built-in models, [`codec::ImageCodec`] for any model);
//! - [`model`]: the architectures (the whole-image family in [`model::hyper`]), weights, burn
//!   modules and aec's own CPU kernels;
//! - [`train`]: the training recipes, checkpoints and logs; [`optim`]: TensorFlow 1's RMSProp;
//! - [`data`]: CIFAR-10 binaries, image folders and lists of files;
//! - [`infer`]: coding tiles (the tiled models); [`entropy`]: their learned prior and tables;
//! - [`device`]: where computation runs; [`cpu_path`]: which instruction set the kernels use;
//! - [`store`]: model files (safetensors) and model identities;
//! - [`metrics`]: PSNR and SSIM; [`rd`] and [`bdrate`]: rate-distortion measurements.

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
// Threads of their own for building a model's kernels.
pub(crate) mod parallel;
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
