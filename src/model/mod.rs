//! The model families: [`tiled`], the seed notebook's autoencoder on 32×32 tiles (its items are
//! re-exported here, where the rest of the crate has always found them), and [`hyper`], the
//! whole-image convolutional model with a scale hyperprior. The codec reaches both through
//! [`crate::codec::ImageCodec`].

pub mod hyper;
pub mod tiled;

pub use tiled::*;
