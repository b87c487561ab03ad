//! Rate control: the setting whose file meets a size or quality target, found by bisection
//! on a scale where higher settings give larger files of higher quality (the quality scale
//! of [`super::Quality`], or a model's quantization steps).

use std::fmt;

use super::CodecError;

/// Halvings of the scale after its ends: an 8-wide scale to within 0.008.
const ROUNDS: usize = 10;

/// What a file should meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// At most this many bytes: the highest setting that fits.
    Bytes(u64),
    /// At least this PSNR in dB: the lowest setting that reaches it.
    Psnr(f64),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Bytes(n) => write!(f, "a file of at most {n} bytes"),
            Target::Psnr(p) => write!(f, "a PSNR of at least {p} dB"),
        }
    }
}

/// One setting tried: its file and, for a PSNR target, the PSNR of its decoded image.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The setting.
    pub setting: f64,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The decoded image's PSNR in dB (needed for a PSNR target only).
    pub psnr: Option<f64>,
}

impl Target {
    fn met_by(self, a: &Attempt) -> bool {
        match self {
            Target::Bytes(n) => a.bytes.len() as u64 <= n,
            Target::Psnr(p) => a.psnr.is_some_and(|v| v >= p),
        }
    }

    /// What the nearest attempt reached, for the error.
    fn reached(self, a: &Attempt) -> String {
        match self {
            Target::Bytes(_) => format!("{} bytes at the lowest setting", a.bytes.len()),
            Target::Psnr(_) => format!(
                "{:.2} dB at the highest setting",
                a.psnr.unwrap_or(f64::NEG_INFINITY)
            ),
        }
    }
}

/// The attempt meeting `target` at the best setting of `lo..=hi` (the highest for a size, the
/// lowest for a PSNR), where `attempt(x)` makes the file of setting `x`. The answer always
/// meets the target, even where files do not grow steadily with the setting; at most
/// `2 + ROUNDS` attempts. [`CodecError::Unreachable`] if no setting meets it.
pub fn search(
    (lo, hi): (f64, f64),
    target: Target,
    mut attempt: impl FnMut(f64) -> Result<Attempt, CodecError>,
) -> Result<Attempt, CodecError> {
    // The end that meets the target most easily, then the other.
    let (easy, hard) = match target {
        Target::Bytes(_) => (lo, hi),
        Target::Psnr(_) => (hi, lo),
    };
    let first = attempt(easy)?;
    if !target.met_by(&first) {
        return Err(CodecError::Unreachable {
            wanted: target.to_string(),
            reached: target.reached(&first),
        });
    }
    let last = attempt(hard)?;
    if target.met_by(&last) {
        return Ok(last);
    }
    let (mut good, mut bad) = (first, hard);
    for _ in 0..ROUNDS {
        let a = attempt((good.setting + bad) / 2.0)?;
        if target.met_by(&a) {
            good = a;
        } else {
            bad = a.setting;
        }
    }
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `1000·x` bytes and a PSNR of `20 + x` dB.
    fn fake(x: f64) -> Result<Attempt, CodecError> {
        Ok(Attempt {
            setting: x,
            bytes: vec![0; (1000.0 * x) as usize],
            psnr: Some(20.0 + x),
        })
    }

    #[test]
    fn finds_the_best_setting_that_meets_the_target() {
        let mut tries = 0;
        let a = search((0.0, 7.0), Target::Bytes(3210), |x| {
            tries += 1;
            fake(x)
        })
        .unwrap();
        assert!(
            a.bytes.len() <= 3210 && a.bytes.len() > 3200,
            "{}",
            a.bytes.len()
        );
        assert_eq!(tries, 2 + ROUNDS);
        let a = search((0.0, 7.0), Target::Psnr(24.5), fake).unwrap();
        assert!((24.5..24.51).contains(&a.psnr.unwrap()), "{a:?}");
        // Ends that already meet it.
        assert_eq!(
            search((0.0, 7.0), Target::Bytes(9000), fake)
                .unwrap()
                .setting,
            7.0
        );
        assert_eq!(
            search((1.0, 7.0), Target::Psnr(10.0), fake)
                .unwrap()
                .setting,
            1.0
        );
    }

    #[test]
    fn an_unreachable_target_says_what_was_reached() {
        let e = search((1.0, 7.0), Target::Bytes(500), fake).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot reach a file of at most 500 bytes: 1000 bytes at the lowest setting"
        );
        let e = search((1.0, 7.0), Target::Psnr(40.0), fake).unwrap_err();
        assert!(
            e.to_string().ends_with("27.00 dB at the highest setting"),
            "{e}"
        );
    }

    #[test]
    fn the_answer_meets_the_target_on_an_uneven_scale() {
        // Sizes that fall back in places, as files of neighbouring levels may.
        let uneven = |x: f64| {
            let n = 1000.0 * x + if x.fract() > 0.5 { -400.0 } else { 0.0 };
            Ok(Attempt {
                setting: x,
                bytes: vec![0; n.max(0.0) as usize],
                psnr: None,
            })
        };
        for n in [1200, 2500, 3333, 6100] {
            let a = search((1.0, 7.0), Target::Bytes(n), uneven).unwrap();
            assert!(a.bytes.len() as u64 <= n, "{n}: {}", a.bytes.len());
        }
    }
}
