//! The training log `MODEL.csv`: one row per epoch.

use std::path::Path;

use super::{EpochReport, TrainError};
use crate::fsutil;

const LOG_HEADER: [&str; 9] = [
    "epoch",
    "loss",
    "l1",
    "train_psnr_db",
    "eval_psnr_mean_db",
    "eval_psnr_of_mean_mse_db",
    "seconds",
    "images_per_second",
    "bits_per_image",
];

/// The log's bytes: a header line, then one line per epoch (no field needs quoting, so these
/// are the plain comma-separated lines that earlier versions wrote).
fn log_bytes(reports: &[EpochReport]) -> Vec<u8> {
    // Writing to memory cannot fail.
    const IN_MEMORY: &str = "CSV into memory";
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(LOG_HEADER).expect(IN_MEMORY);
    for r in reports {
        let (a, b) = r
            .eval_psnr
            .map_or((String::new(), String::new()), |(a, b)| {
                (format!("{a:.4}"), format!("{b:.4}"))
            });
        w.write_record([
            r.epoch.to_string(),
            format!("{:.3}", r.loss),
            format!("{:.3}", r.l1),
            format!("{:.4}", r.train_psnr),
            a,
            b,
            format!("{:.2}", r.seconds),
            format!("{:.1}", r.images_per_second),
            format!("{:.2}", r.bits_per_image),
        ])
        .expect(IN_MEMORY);
    }
    w.into_inner().expect(IN_MEMORY)
}

pub(super) fn write_log(path: &Path, reports: &[EpochReport]) -> Result<(), TrainError> {
    fsutil::write_atomic(path, &log_bytes(reports), true).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The reports of a log's first `epochs` rows (to carry them across a resume). A missing log
/// gives none, and rows that do not parse are left out.
pub(super) fn read_log(path: &Path, epochs: usize) -> Vec<EpochReport> {
    let Ok(mut reader) = csv::ReaderBuilder::new().flexible(true).from_path(path) else {
        return Vec::new();
    };
    reader
        .records()
        .filter_map(|row| {
            let f = row.ok()?;
            let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok());
            Some(EpochReport {
                epoch: f.get(0)?.parse().ok()?,
                loss: num(1)?,
                l1: num(2)?,
                train_psnr: num(3)?,
                eval_psnr: num(4).zip(num(5)),
                seconds: num(6)?,
                images_per_second: num(7)?,
                // Logs of models without a prior written before this column existed.
                bits_per_image: num(8).unwrap_or(0.0),
            })
        })
        .filter(|r| r.epoch <= epochs)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(epoch: usize, eval: Option<(f64, f64)>) -> EpochReport {
        EpochReport {
            epoch,
            loss: 1234.56789,
            l1: 0.0,
            train_psnr: 21.123456,
            eval_psnr: eval,
            seconds: 3.25678,
            images_per_second: 9876.54,
            bits_per_image: 456.789,
        }
    }

    /// The bytes of the hand-written log of earlier versions, with the rate column after them
    /// (scripts that read the first eight columns keep working).
    #[test]
    fn log_bytes_are_the_plain_lines_of_earlier_versions() {
        let reports = [report(1, Some((20.5, 19.25))), report(2, None)];
        let text = String::from_utf8(log_bytes(&reports)).unwrap();
        assert_eq!(
            text,
            "epoch,loss,l1,train_psnr_db,eval_psnr_mean_db,eval_psnr_of_mean_mse_db,seconds,images_per_second,bits_per_image\n\
             1,1234.568,0.000,21.1235,20.5000,19.2500,3.26,9876.5,456.79\n\
             2,1234.568,0.000,21.1235,,,3.26,9876.5,456.79\n"
        );
    }

    /// Logs written before the rate column existed still resume.
    #[test]
    fn logs_without_the_rate_column_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.csv");
        std::fs::write(
            &path,
            "epoch,loss,l1,train_psnr_db,eval_psnr_mean_db,eval_psnr_of_mean_mse_db,seconds,images_per_second\n\
             1,1234.568,0.000,21.1235,20.5000,19.2500,3.26,9876.5\n",
        )
        .unwrap();
        let back = read_log(&path, 1);
        assert_eq!((back.len(), back[0].bits_per_image), (1, 0.0));
    }

    #[test]
    fn log_reads_back_at_its_precision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        let reports = [
            report(1, Some((20.5, 19.25))),
            report(2, None),
            report(3, None),
        ];
        write_log(&path, &reports).unwrap();
        let back = read_log(&path, 2);
        assert_eq!(
            back.len(),
            2,
            "rows past the checkpoint's epoch are dropped"
        );
        assert_eq!(back[0].eval_psnr, Some((20.5, 19.25)));
        assert_eq!(back[1].eval_psnr, None);
        assert_eq!((back[1].epoch, back[1].loss), (2, 1234.568));
        assert!(read_log(&dir.path().join("none.csv"), 2).is_empty());
    }
}
