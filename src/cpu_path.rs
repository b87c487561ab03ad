//! Which instruction set aec's own CPU kernels run on.
//!
//! Each kernel that has a wide version also has a portable one that computes the same
//! operations in the same order, so the choice changes speed, not results (tests hold every
//! path this CPU has to the portable one). The widest path the CPU has is picked at run time;
//! the environment variable `AEC_CPU_PATH` (`portable`, `avx2`, `avx512` or `amx`) narrows the choice,
//! so that whole programs can be compared across paths. A path runs every narrower path's
//! kernels where it has none of its own (the AVX-512 path the AVX2 ones). The `gemm` crate's kernels, which encoding and
//! training also use, pick their own instructions.

use std::sync::OnceLock;

/// The environment variable that narrows the path.
pub const ENV: &str = "AEC_CPU_PATH";

/// An instruction set of the CPU kernels, from narrowest to widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// Plain Rust, compiled for the baseline target.
    Portable,
    /// The same loops compiled for AVX2 and FMA (x86-64 CPUs since 2013–2015).
    Avx2,
    /// 512-bit vectors with AVX-512 F, BW and VNNI (Intel since 2019's Cascade Lake and Ice
    /// Lake, AMD since 2022's Zen 4), plus AVX2 and FMA.
    Avx512,
    /// The AVX-512 path (with VL) plus Intel's AMX tile instructions with 8-bit integer products (AMX
    /// TILE and INT8, Intel since 2023's Sapphire Rapids), where the operating system lets the
    /// process use them (Linux 5.16 and later, on request).
    Amx,
}

/// An `AEC_CPU_PATH` value that names no path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ENV}={value:?} names no CPU path (portable, avx2, avx512 or amx)")]
pub struct UnknownPath {
    /// The value found.
    pub value: String,
}

impl Path {
    /// Every path, narrowest first.
    pub const ALL: [Path; 4] = [Path::Portable, Path::Avx2, Path::Avx512, Path::Amx];

    /// The path's name, as `AEC_CPU_PATH` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Path::Portable => "portable",
            Path::Avx2 => "avx2",
            Path::Avx512 => "avx512",
            Path::Amx => "amx",
        }
    }

    /// The path `name` names.
    pub fn from_name(name: &str) -> Result<Self, UnknownPath> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| UnknownPath {
                value: name.to_owned(),
            })
    }

    /// Whether this CPU runs the path.
    pub fn supported(self) -> bool {
        match self {
            Path::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => {
                Path::Avx2.supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Amx => {
                Path::Avx512.supported() && is_x86_feature_detected!("avx512vl") && amx::enabled()
            }
            #[cfg(not(target_arch = "x86_64"))]
            Path::Avx2 | Path::Avx512 | Path::Amx => false,
        }
    }

    /// Whether the path runs the AVX2 + FMA kernels: the AVX2 path, and the wider one where it
    /// has no kernel of its own.
    pub fn avx2(self) -> bool {
        self >= Path::Avx2
    }

    /// Whether the path runs the AVX-512 kernels: the AVX-512 path, and the wider one where it
    /// has no kernel of its own.
    pub fn avx512(self) -> bool {
        self >= Path::Avx512
    }

    /// The widest path this CPU runs, ignoring the environment.
    pub fn widest() -> Self {
        Self::available().pop().unwrap_or(Path::Portable)
    }

    /// Every path this CPU runs, narrowest first.
    pub fn available() -> Vec<Self> {
        Self::ALL.into_iter().filter(|p| p.supported()).collect()
    }

    /// The path named by `AEC_CPU_PATH`, if it is set.
    pub fn from_env() -> Result<Option<Self>, UnknownPath> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => Self::from_name(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// The path the kernels run on: the widest this CPU has, or the narrower one that
    /// `AEC_CPU_PATH` names (a path this CPU lacks, or a value that names none, leaves the
    /// widest; programs check the value with [`Path::from_env`] first). Read once.
    pub fn detect() -> Self {
        static CHOSEN: OnceLock<Path> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            let widest = Self::widest();
            match Self::from_env() {
                Ok(Some(p)) => p.min(widest),
                _ => widest,
            }
        })
    }
}

/// Whether the CPU has AMX with 8-bit products and the process may use its tiles.
#[cfg(target_arch = "x86_64")]
mod amx {
    use std::arch::x86_64::__cpuid_count;
    use std::sync::OnceLock;

    /// Asked once: the CPU's AMX TILE and INT8 bits (CPUID leaf 7, EDX bits 24 and 25), then
    /// the kernel's permission for the tile data (Linux keeps it off until a process asks).
    pub fn enabled() -> bool {
        static ENABLED: OnceLock<bool> = OnceLock::new();
        *ENABLED.get_or_init(|| {
            let max_leaf = __cpuid_count(0, 0).eax;
            if max_leaf < 7 {
                return false;
            }
            let edx = __cpuid_count(7, 0).edx;
            let tile_and_int8 = (edx >> 24) & 1 == 1 && (edx >> 25) & 1 == 1;
            tile_and_int8 && permitted()
        })
    }

    /// Asks Linux for the tile data state (`ARCH_REQ_XCOMP_PERM` for `XFEATURE_XTILEDATA`):
    /// granted to the whole process, or refused where the kernel predates AMX.
    #[cfg(target_os = "linux")]
    fn permitted() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a system call with two integer arguments; it changes no memory of ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        r == 0
    }

    /// Elsewhere the tiles are not used.
    #[cfg(not(target_os = "linux"))]
    fn permitted() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for p in Path::ALL {
            assert_eq!(Path::from_name(p.name()), Ok(p));
        }
        assert_eq!(Path::from_name(" AVX2 "), Ok(Path::Avx2));
        assert_eq!(Path::from_name("AVX512"), Ok(Path::Avx512));
        assert_eq!(Path::from_name("amx"), Ok(Path::Amx));
        let err = Path::from_name("avx1024").unwrap_err().to_string();
        assert!(err.contains("avx1024") && err.contains(ENV), "{err}");
    }

    #[test]
    fn the_chosen_path_is_one_this_cpu_runs() {
        assert!(Path::detect().supported());
        assert!(Path::available().contains(&Path::Portable));
        assert_eq!(Path::widest(), *Path::available().last().unwrap());
        // A wider path needs every narrower one's instructions.
        for pair in Path::ALL.windows(2) {
            assert!(!pair[1].supported() || pair[0].supported(), "{pair:?}");
        }
        eprintln!("this CPU runs {:?}", Path::available());
    }
}
