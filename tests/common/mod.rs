//! Helpers shared by the integration tests.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use assert_cmd::Command;

/// The `aec` binary with none of the environment variables that pick models, devices or CPU
/// paths, so that the tests see the defaults whatever the shell has set.
pub fn aec() -> Command {
    let mut cmd = Command::cargo_bin("aec").unwrap();
    cmd.env_remove("AEC_MODEL")
        .env_remove("AEC_MODEL_DIR")
        .env_remove("AEC_DEVICE")
        .env_remove("AEC_CPU_PATH");
    cmd
}

/// Runs `aec ARGS` in `dir`, which must succeed, and returns its standard output and error.
#[allow(dead_code)] // not every test file runs aec in a folder
pub fn run(args: &[&str], dir: &Path) -> String {
    let o = aec().current_dir(dir).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap() + &String::from_utf8(o.stderr).unwrap()
}

/// Runs a command to its end (reaped by `wait4`, which reports its resources) and returns its exit code, its standard error and its peak
/// resident memory in bytes (from the kernel's accounting of that one child).
#[allow(clippy::zombie_processes)]
pub fn run_measured(mut cmd: std::process::Command) -> (i32, String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    // The child starts on this process's memory (posix_spawn shares it until exec) and
    // inherits its peak: bring that peak down to what is resident now (Linux 4.0 and later),
    // so that a test that built a large input first does not charge it to the child.
    let _ = fs::write("/proc/self/clear_refs", "5");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into the two locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    assert!(libc::WIFEXITED(status), "killed by a signal: {status:#x}");
    let stderr = fs::read_to_string(err_path).unwrap();
    (
        libc::WEXITSTATUS(status),
        stderr,
        usage.ru_maxrss as u64 * 1024,
    )
}
