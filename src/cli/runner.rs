//! Running one job per input in parallel, each input's failure reported on its own.

use std::io::IsTerminal;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

/// Runs `job` on every (input, output) pair in parallel, with a progress bar on a terminal,
/// reporting each result as it comes; returns a failure exit code if any input failed.
///
/// A panic inside one job (an internal error) is caught and reported as that input's error;
/// the other inputs go on.
pub fn for_each_input(
    pairs: Vec<(PathBuf, PathBuf)>,
    quiet: bool,
    job: impl Fn(&Path, &Path) -> anyhow::Result<String> + Sync,
) -> ExitCode {
    let bar = (pairs.len() > 1 && std::io::stderr().is_terminal() && !quiet).then(|| {
        let bar = ProgressBar::new(pairs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let failures = AtomicUsize::new(0);
    pairs.par_iter().for_each(|(input, output)| {
        let line = match run_isolated(|| job(input, output)) {
            Ok(line) if !quiet => Some(line),
            Ok(_) => None,
            Err(e) => {
                failures.fetch_add(1, Ordering::Relaxed);
                Some(format!("aec: error: {}: {e:#}", input.display()))
            }
        };
        if let Some(line) = line {
            match &bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
        }
        if let Some(bar) = &bar {
            bar.inc(1);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let failures = failures.into_inner();
    if failures > 0 {
        if pairs.len() > 1 {
            eprintln!("aec: {failures} of {} inputs failed", pairs.len());
        }
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs `job`, turning a panic into an error that carries the panic's message.
fn run_isolated<T>(job: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    // The job's state is its own input's; nothing shared is left half-updated by a panic
    // (shared caches are behind poison-tolerant locks).
    panic::catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        Err(anyhow!("internal error (please report it): {message}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_panicking_input_fails_alone() {
        let pairs: Vec<_> = (0..12)
            .map(|i| {
                (
                    PathBuf::from(format!("in{i}")),
                    PathBuf::from(format!("out{i}")),
                )
            })
            .collect();
        let done = Mutex::new(Vec::new());
        let code = for_each_input(pairs, true, |input, _| {
            if input == Path::new("in5") {
                panic!("decoder bug on {}", input.display());
            }
            done.lock().unwrap().push(input.to_path_buf());
            Ok(String::new())
        });
        assert_eq!(code, ExitCode::FAILURE);
        let mut done = done.into_inner().unwrap();
        done.sort();
        assert_eq!(done.len(), 11, "every other input ran");
        assert!(!done.contains(&PathBuf::from("in5")));
    }

    #[test]
    fn panic_messages_become_errors() {
        let e = run_isolated::<()>(|| panic!("bad tile {}", 7)).unwrap_err();
        assert!(e.to_string().contains("bad tile 7"), "{e}");
        let e = run_isolated::<()>(|| std::panic::panic_any(3u8)).unwrap_err();
        assert!(e.to_string().contains("internal error"), "{e}");
        assert_eq!(run_isolated(|| Ok(5)).unwrap(), 5);
    }
}
