//! Choosing where burn runs: CPU backends by name, and CUDA when built with the `cuda` feature.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A compute device aec can train and code on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceKind {
    /// burn's `flex` CPU backend (the default: the faster of the two CPU backends here).
    #[default]
    Flex,
    /// burn's `ndarray` CPU backend.
    Ndarray,
    /// The first CUDA GPU (needs the `cuda` feature).
    Cuda,
}

impl DeviceKind {
    /// Every name `FromStr` accepts.
    pub const NAMES: [&'static str; 3] = ["flex", "ndarray", "cuda"];

    /// The burn device, or an error when this build cannot use it.
    pub fn device(self) -> Result<Device, String> {
        match self {
            DeviceKind::Flex => Ok(Device::flex()),
            #[allow(deprecated)]
            DeviceKind::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Device::cuda(0usize)),
            #[cfg(not(feature = "cuda"))]
            DeviceKind::Cuda => {
                Err("this aec was built without CUDA; rebuild with `--features cuda`".into())
            }
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Flex => "flex",
            DeviceKind::Ndarray => "ndarray",
            DeviceKind::Cuda => "cuda",
        })
    }
}

impl FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(DeviceKind::Flex),
            "ndarray" => Ok(DeviceKind::Ndarray),
            "cuda" | "gpu" => Ok(DeviceKind::Cuda),
            _ => Err(format!(
                "unknown device {s:?}; expected one of {:?}",
                Self::NAMES
            )),
        }
    }
}
