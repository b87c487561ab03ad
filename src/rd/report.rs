//! Tables: CSV, Markdown, and the Bjøntegaard delta rates.

use std::fmt::Write as _;

use super::{ImageSet, RdPoint};

/// The results as CSV (RFC 4180: a label holding a comma, a quote or a line break is quoted,
/// its quotes doubled), one header line, then one line per point.
pub fn to_csv(points: &[RdPoint]) -> String {
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
    let rows = points.iter().map(|p| {
        [
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
        ]
    });
    csv_of(header, rows)
}

/// Each image's result at each setting as CSV (quoted as [`to_csv`]): a header line, then a
/// line per point and image, the points in order, their images in the set's order. `bytes`
/// are the image's file's, `bits_per_pixel` its own; PSNR `inf` for an image coded exactly.
pub fn images_csv(points: &[RdPoint], set: &ImageSet) -> String {
    let header = [
        "family",
        "setting",
        "image",
        "width",
        "height",
        "bytes",
        "bits_per_pixel",
        "psnr_db",
        "ssim",
    ];
    let rows = points.iter().flat_map(|p| {
        let images = set.images.iter().zip(&set.labels);
        p.images.iter().zip(images).map(move |(r, (image, label))| {
            let (width, height) = image.dimensions();
            let bpp = r.bytes as f64 * 8.0 / (f64::from(width) * f64::from(height));
            [
                p.family.clone(),
                p.setting.clone(),
                label.clone(),
                width.to_string(),
                height.to_string(),
                r.bytes.to_string(),
                format!("{bpp:.4}"),
                format!("{:.3}", r.psnr),
                format!("{:.4}", r.ssim),
            ]
        })
    });
    csv_of(header, rows)
}

/// A header line and the rows as CSV text.
fn csv_of<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    // Writing to memory cannot fail, and every field is a `String`, so the bytes are UTF-8.
    const IN_MEMORY: &str = "CSV into memory";
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect(IN_MEMORY);
    for row in rows {
        w.write_record(row).expect(IN_MEMORY);
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
            .map(bd_point)
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

/// A point as the BD-rate sees it: file bytes and mean per-image PSNR.
fn bd_point(p: &RdPoint) -> crate::bdrate::RdPoint {
    crate::bdrate::RdPoint {
        rate: p.bytes_per_image,
        psnr: p.psnr_mean,
    }
}

/// The BD-rate of every model's curve over its quantization steps against the curve of the
/// model named `anchor`; `curves[i]` is the model `points[i]` belongs to (empty: none).
pub fn bd_against(anchor: &str, points: &[RdPoint], curves: &[String]) -> Vec<BdRow> {
    let curve = |model: &str| -> Vec<crate::bdrate::RdPoint> {
        points
            .iter()
            .zip(curves)
            .filter(|(_, m)| *m == model)
            .map(|(p, _)| bd_point(p))
            .collect()
    };
    let mut models: Vec<&str> = Vec::new();
    for m in curves {
        if !m.is_empty() && m != anchor && !models.contains(&m.as_str()) {
            models.push(m);
        }
    }
    let base = curve(anchor);
    models
        .into_iter()
        .map(|m| BdRow {
            family: format!("{m} (with its steps)"),
            anchor: anchor.to_string(),
            bd_rate: crate::bdrate::bd_rate(&base, &curve(m)),
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn point(bytes: f64, psnr: f64) -> RdPoint {
        RdPoint {
            family: "x".into(),
            setting: "x".into(),
            code_length: 0,
            bytes_per_image: bytes,
            bits_per_pixel: bytes * 8.0 / 1024.0,
            psnr_mean: psnr,
            psnr_of_mean_mse: psnr,
            ssim: 0.9,
            zero_fraction: None,
            ideal_bytes_per_image: None,
            images: Vec::new(),
        }
    }

    /// A model that takes 10% fewer bytes at every PSNR is at −10% against the anchor; rows
    /// on no curve (baselines, refined rows) are left out.
    #[test]
    fn bd_against_compares_each_model_over_its_steps() {
        let curve = |model: &str, scale: f64| {
            [(100.0, 28.0), (150.0, 30.0), (230.0, 32.0)]
                .map(|(b, q)| (model.to_string(), point(b * scale, q)))
        };
        let mut rows: Vec<(String, RdPoint)> = curve("old", 1.0).into();
        rows.extend(curve("new", 0.9));
        rows.push((String::new(), point(10.0, 40.0)));
        let (curves, points): (Vec<String>, Vec<RdPoint>) = rows.into_iter().unzip();
        let bd = bd_against("old", &points, &curves);
        assert_eq!(bd.len(), 1, "{bd:?}");
        assert_eq!(bd[0].anchor, "old");
        assert!(bd[0].family.starts_with("new"));
        assert!((bd[0].bd_rate.unwrap() + 0.1).abs() < 1e-9, "{bd:?}");
        assert_eq!(bd_against("none", &points, &curves)[0].bd_rate, None);
    }
}
