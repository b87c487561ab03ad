//! Choosing where computation runs: aec's own fused CPU kernels, burn's CPU backends by name, and
//! CUDA when built with the `cuda` feature.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// Why a device cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// `cpu` names aec's own kernels, which are not a burn device.
    #[error("cpu is aec's own CPU path, not a burn device")]
    NotBurn,
    /// This build has no CUDA backend.
    #[error("this aec was built without CUDA; rebuild with `--features cuda`")]
    NoCuda,
    /// An unknown device name.
    #[error("unknown device {0:?}; expected one of cpu, flex, ndarray, cuda")]
    Unknown(String),
}

/// A compute device aec can train and code on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceKind {
    /// aec's fused CPU kernels (the default: several times faster than burn's CPU backends,
    /// and held to burn's results by tests).
    #[default]
    Cpu,
    /// burn's `flex` CPU backend (the faster of burn's two CPU backends here).
    Flex,
    /// burn's `ndarray` CPU backend.
    Ndarray,
    /// The first CUDA GPU (needs the `cuda` feature).
    Cuda,
}

impl DeviceKind {
    /// Every name `FromStr` accepts.
    pub const NAMES: [&'static str; 4] = ["cpu", "flex", "ndarray", "cuda"];

    /// The burn device, or an error when this build cannot use it or the kind is not burn's.
    pub fn device(self) -> Result<Device, DeviceError> {
        match self {
            DeviceKind::Cpu => Err(DeviceError::NotBurn),
            DeviceKind::Flex => Ok(Device::flex()),
            #[allow(deprecated)]
            DeviceKind::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Device::cuda(0usize)),
            #[cfg(not(feature = "cuda"))]
            DeviceKind::Cuda => Err(DeviceError::NoCuda),
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Flex => "flex",
            DeviceKind::Ndarray => "ndarray",
            DeviceKind::Cuda => "cuda",
        })
    }
}

impl FromStr for DeviceKind {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceKind::Cpu),
            "flex" => Ok(DeviceKind::Flex),
            "ndarray" => Ok(DeviceKind::Ndarray),
            "cuda" | "gpu" => Ok(DeviceKind::Cuda),
            _ => Err(DeviceError::Unknown(s.to_string())),
        }
    }
}
