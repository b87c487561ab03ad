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
