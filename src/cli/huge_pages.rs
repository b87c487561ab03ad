//! 2-MiB pages for the heap. A command's models are tens of megabytes of packed kernels,
//! written once: faulting them in 4 KiB at a time took a fifth to a quarter of a small image's
//! decoding. glibc (2.35 on) backs its heaps with transparent huge pages when its tunable
//! `glibc.malloc.hugetlb=1` is set, but reads its tunables only when a process starts; so,
//! where the kernel gives huge pages on request (`madvise` mode), `aec compress` and `aec
//! decompress` start themselves once more with the tunable set. Nothing else changes: the same
//! process id, arguments and streams; where any step fails, it goes on as it is. (A training
//! step, whose memory is reused from step to step, measured 5–9% slower with huge pages.)

/// The tunable, as `GLIBC_TUNABLES` lists it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNABLE: &str = "glibc.malloc.hugetlb";

/// Runs this program again with huge pages for its heap, where that would change anything
/// (returns otherwise, or if the new start fails).
pub fn use_huge_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let Some(tunables) = with_tunable(std::env::var_os("GLIBC_TUNABLES")) else {
            return;
        };
        if !on_request() || !glibc_has_tunable() {
            return;
        }
        let mut args = std::env::args_os();
        let Some(name) = args.next() else { return };
        // `exec` returns only if it fails.
        let _ = std::process::Command::new("/proc/self/exe")
            .arg0(name)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .exec();
    }
}

/// `GLIBC_TUNABLES` with the tunable added, `None` if it already names it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn with_tunable(current: Option<std::ffi::OsString>) -> Option<std::ffi::OsString> {
    match current {
        Some(v) if v.to_string_lossy().contains(TUNABLE) => None,
        Some(mut v) if !v.is_empty() => {
            v.push(format!(":{TUNABLE}=1"));
            Some(v)
        }
        _ => Some(format!("{TUNABLE}=1").into()),
    }
}

/// Whether the kernel backs memory with huge pages where a program asks (`always` needs no
/// asking, `never` gives none).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn on_request() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|mode| mode.contains("[madvise]"))
}

/// Whether this glibc knows the tunable (2.35 and later).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_has_tunable() -> bool {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let mut parts = version.to_str().unwrap_or("").split('.');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    (next(), next()) >= (2, 35)
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn the_tunable_is_added_once() {
        let set =
            |v: Option<&str>| with_tunable(v.map(Into::into)).map(|v| v.into_string().unwrap());
        assert_eq!(set(None).as_deref(), Some("glibc.malloc.hugetlb=1"));
        assert_eq!(set(Some("")).as_deref(), Some("glibc.malloc.hugetlb=1"));
        assert_eq!(
            set(Some("glibc.malloc.check=3")).as_deref(),
            Some("glibc.malloc.check=3:glibc.malloc.hugetlb=1")
        );
        assert_eq!(set(Some("glibc.malloc.hugetlb=0")), None);
    }
}
