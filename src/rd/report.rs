//! Tables: CSV, Markdown, and the Bjøntegaard delta rates.

use std::fmt::Write as _;

use super::RdPoint;

/// The results as CSV (RFC 4180: a label holding a comma, a quote or a line break is quoted,
/// its quotes doubled), one header line, then one line per point.
pub fn to_csv(points: &[RdPoint]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "family",
        "setting",
        "code_length",
        "bytes_per_image",
        "bits_per_pixel",
        "psnr_mean_db",
        "psnr_of_mean_mse_db",
        "ssim",
        "zero_fraction",
        "ideal_bytes_per_image",
    ];
    // Writing to memory cannot fail, and every field is a `String`, so the bytes are UTF-8.
    const IN_MEMORY: &str = "CSV into memory";
    w.write_record(header).expect(IN_MEMORY);
    for p in points {
        w.write_record([
            p.family.clone(),
            p.setting.clone(),
            p.code_length.to_string(),
            format!("{:.2}", p.bytes_per_image),
            format!("{:.4}", p.bits_per_pixel),
            format!("{:.3}", p.psnr_mean),
            format!("{:.3}", p.psnr_of_mean_mse),
            format!("{:.4}", p.ssim),
            p.zero_fraction.map_or(String::new(), |z| format!("{z:.4}")),
            p.ideal_bytes_per_image
                .map_or(String::new(), |b| format!("{b:.2}")),
        ])
        .expect(IN_MEMORY);
    }
    String::from_utf8(w.into_inner().expect(IN_MEMORY)).expect(IN_MEMORY)
}

/// The results as a Markdown table.
pub fn to_markdown(points: &[RdPoint]) -> String {
    let mut s = String::from(
        "| codec / setting | bytes/image | bpp | PSNR mean (dB) | PSNR of mean MSE (dB) | SSIM | zeros | ideal bytes/image |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in points {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {:.3} | {:.2} | {:.2} | {:.4} | {} | {} |",
            p.setting,
            p.bytes_per_image,
            p.bits_per_pixel,
            p.psnr_mean,
            p.psnr_of_mean_mse,
            p.ssim,
            p.zero_fraction
                .map_or("".into(), |z| format!("{:.1}%", 100.0 * z)),
            p.ideal_bytes_per_image
                .map_or("".into(), |b| format!("{b:.1}"))
        );
    }
    s
}

/// The Bjøntegaard delta rate of one aec curve against one baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct BdRow {
    /// The aec curve (a family of points).
    pub family: String,
    /// The baseline curve.
    pub anchor: String,
    /// BD-rate on file bytes and mean per-image PSNR (−0.3: 30% fewer bytes at equal
    /// quality); `None` when the curves share no PSNR range or one has a single point.
    pub bd_rate: Option<f64>,
}

/// The families of the other codecs `aec rd` measures; every other family is an aec curve.
const BASELINES: [&str; 4] = ["JPEG", "WebP", "AVIF", "JPEG XL"];

/// The BD-rate of every aec curve against the JPEG and WebP curves among `points`.
pub fn bd_rates(points: &[RdPoint]) -> Vec<BdRow> {
    let curve = |family: &str| -> Vec<crate::bdrate::RdPoint> {
        points
            .iter()
            .filter(|p| p.family == family)
            .map(|p| crate::bdrate::RdPoint {
                rate: p.bytes_per_image,
                psnr: p.psnr_mean,
            })
            .collect()
    };
    let mut families: Vec<&str> = Vec::new();
    for p in points {
        let baseline = BASELINES.contains(&p.family.as_str());
        if !baseline && !families.contains(&p.family.as_str()) {
            families.push(&p.family);
        }
    }
    let mut rows = Vec::new();
    for family in families {
        for anchor in ["WebP", "JPEG"] {
            let base = curve(anchor);
            if base.is_empty() {
                continue;
            }
            rows.push(BdRow {
                family: family.to_string(),
                anchor: anchor.to_string(),
                bd_rate: crate::bdrate::bd_rate(&base, &curve(family)),
            });
        }
    }
    rows
}

/// BD-rates as a Markdown table.
pub fn bd_markdown(rows: &[BdRow]) -> String {
    let mut s = String::from(
        "| aec curve | against | BD-rate (bytes at equal mean PSNR) |\n|---|---|---:|\n",
    );
    for r in rows {
        let v = r.bd_rate.map_or("no common PSNR range".into(), |d| {
            format!("{:+.1}%", 100.0 * d)
        });
        let _ = writeln!(s, "| {} | {} | {v} |", r.family, r.anchor);
    }
    s
}
