//! Ctrl-C and termination: remove the temporary files of outputs in progress, then exit with
//! the shell's code for the signal (128 + its number).

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Starts a thread that waits for SIGINT, SIGTERM or SIGHUP and then removes every temporary
/// output file and exits. Outputs already at their final names are complete and stay.
pub fn install() -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("aec-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let removed = aec::fsutil::remove_temp_files();
                let name = match signal {
                    SIGINT => "interrupt",
                    SIGTERM => "termination signal",
                    _ => "hang-up signal",
                };
                eprintln!("aec: stopped by {name}; removed {removed} unfinished output(s)");
                std::process::exit(128 + signal);
            }
        })?;
    Ok(())
}

/// Restores the default action of SIGPIPE (Rust ignores it): `aec … | head` then ends quietly
/// when the reader stops, as other Unix tools do, instead of failing on its next print.
pub fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default has no memory-safety conditions;
    // it runs first thing in `main`, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
