//! Rate-distortion tables of tiny models on a few sample images.

use std::path::PathBuf;

use aec::codec::Codec;
use aec::format::Precision;
use aec::model::{ModelConfig, Weights};
use aec::rd::{self, Axis, ImageSet};
use aec::store;

fn samples() -> ImageSet {
    let paths: Vec<PathBuf> = (0..4)
        .map(|i| {
            let name = ["cat", "ship", "ship", "airplane"][i];
            PathBuf::from(format!("samples/images/cifar-test-{i:04}-{name}.png"))
        })
        .collect();
    ImageSet::load(&paths).unwrap()
}

fn tiny_codec(code_length: usize) -> Codec {
    let weights = Weights::glorot(
        ModelConfig {
            code_length,
            filters: 2,
            prior: false,
        },
        1,
    );
    let bytes = store::model_to_bytes(&weights, Precision::F32, None).unwrap();
    Codec::new(store::model_from_bytes(&bytes).unwrap()).unwrap()
}

#[test]
fn table_has_its_columns_and_bytes_grow_with_code_length() {
    let set = samples();
    assert_eq!(set.images.len(), 4);
    let mut points = Vec::new();
    for l in [8, 16, 32] {
        points.push(
            rd::measure_aec(
                &tiny_codec(l),
                &format!("tiny-{l}"),
                "aec",
                &set,
                Precision::F16,
                None,
            )
            .unwrap(),
        );
    }
    // Whole files: 36 bytes of container plus 2 bytes per f16 value, for one tile per image.
    let bytes: Vec<f64> = points.iter().map(|p| p.bytes_per_image).collect();
    assert_eq!(bytes, [36.0 + 16.0, 36.0 + 32.0, 36.0 + 64.0]);
    assert!((points[0].bits_per_pixel - 52.0 * 8.0 / 1024.0).abs() < 1e-12);
    for p in &points {
        assert!(p.psnr_mean.is_finite() && p.psnr_mean > 0.0);
        assert!(
            p.psnr_of_mean_mse <= p.psnr_mean + 1e-9,
            "PSNR of the mean MSE is never higher"
        );
        assert!(p.ssim > -1.0 && p.ssim < 1.0);
    }
    let sparse = rd::measure_aec(
        &tiny_codec(32),
        "tiny-32",
        "tiny",
        &set,
        Precision::F16,
        Some(0.2),
    )
    .unwrap();
    assert_eq!(sparse.family, "tiny f16 sparse");
    assert_eq!(points[0].family, "aec f16");
    let zeros = sparse.zero_fraction.unwrap();
    assert!(zeros > 0.0 && zeros <= 1.0);
    points.push(sparse);
    points.push(rd::measure_jpeg(&set, 50).unwrap());
    points.push(rd::measure_webp(&set, 50.0).unwrap());
    // Baselines are measured too, and better quality costs more bytes.
    let jpeg_low = rd::measure_jpeg(&set, 10).unwrap();
    assert!(jpeg_low.bytes_per_image < points[4].bytes_per_image);
    assert!(jpeg_low.psnr_mean < points[4].psnr_mean);

    let csv = rd::to_csv(&points);
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "family,setting,code_length,bytes_per_image,bits_per_pixel,psnr_mean_db,psnr_of_mean_mse_db,ssim,zero_fraction,ideal_bytes_per_image"
    );
    // Only entropy-coded models have an ideal coder's size.
    assert!(points.iter().all(|p| p.ideal_bytes_per_image.is_none()));
    assert_eq!(csv.lines().count(), 1 + points.len());
    let md = rd::to_markdown(&points);
    assert!(md.contains("| JPEG q50 |") && md.contains("WebP q50"));

    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("rd.png");
    rd::plot(
        &png,
        "test",
        &points,
        Axis::BytesPerImage,
        Some((548.0, 21.1, "notebook")),
    )
    .unwrap();
    let plot = image::open(&png).unwrap();
    assert_eq!((plot.width(), plot.height()), (960, 640));
}

/// Labels come from users (`--model 'LABEL=FILE'`): one with a comma and a quote is quoted in
/// the CSV and reads back whole, and the other fields stay in their columns.
#[test]
fn csv_quotes_labels_with_commas_and_quotes() {
    let point = |family: &str, setting: &str| rd::RdPoint {
        family: family.into(),
        setting: setting.into(),
        code_length: 64,
        bytes_per_image: 100.0,
        bits_per_pixel: 0.78,
        psnr_mean: 21.5,
        psnr_of_mean_mse: 21.25,
        ssim: 0.5,
        zero_fraction: None,
        ideal_bytes_per_image: None,
    };
    let label = r#"L1 0.1, "wide" f16"#;
    let points = [point(label, label), point("JPEG", "JPEG q50")];
    let csv = rd::to_csv(&points);
    assert!(
        csv.contains(r#""L1 0.1, ""wide"" f16""#),
        "the label is quoted, its quotes doubled: {csv}"
    );
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    for (row, p) in rows.iter().zip(&points) {
        assert_eq!(row.len(), 10, "{row:?}");
        assert_eq!((&row[0], &row[1]), (p.family.as_str(), p.setting.as_str()));
        assert_eq!((&row[2], &row[3], &row[8]), ("64", "100.00", ""));
    }
    // Ordinary labels are written as before, unquoted.
    assert!(csv.ends_with("\nJPEG,JPEG q50,64,100.00,0.7800,21.500,21.250,0.5000,,\n"));
}
