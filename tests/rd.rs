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
        images: Vec::new(),
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

/// AVIF and JPEG XL through libavif's and libjxl's tools, on the 16-image CIFAR-10 fixture:
/// one quality each gives a row with real file bytes and a sensible PSNR, the rows join the
/// table, and BD-rates stay those of aec curves against WebP and JPEG. Skipped (not failed)
/// where the tools are not installed.
#[test]
fn avif_and_jpeg_xl_baselines_when_their_tools_are_installed() {
    assert!(rd::find_tool("aec-no-such-tool").is_none());
    assert_eq!(
        [0, 50, 100].map(rd::avif_quantizer),
        [63, 32, 0],
        "libavif's quality-to-quantizer mapping"
    );
    let missing: Vec<&str> = ["avifenc", "avifdec", "cjxl", "djxl"]
        .into_iter()
        .filter(|t| rd::find_tool(t).is_none())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "skipped: {} not on PATH (Debian: apt-get install libavif-bin libjxl-tools)",
            missing.join(", ")
        );
        return;
    }
    let set = ImageSet::load(&[PathBuf::from("tests/fixtures/cifar-test-16.bin")]).unwrap();
    assert_eq!(set.images.len(), 16);
    let avif = rd::measure_avif(&set, 50).unwrap();
    let jxl = rd::measure_jxl(&set, 50.0).unwrap();
    let webp = rd::measure_webp(&set, 50.0).unwrap();
    let aec = rd::measure_aec(
        &tiny_codec(16),
        "tiny-16",
        "aec",
        &set,
        Precision::F16,
        None,
    )
    .unwrap();
    for (p, family, setting) in [
        (&avif, "AVIF", "AVIF q50"),
        (&jxl, "JPEG XL", "JPEG XL q50"),
    ] {
        assert_eq!((p.family.as_str(), p.setting.as_str()), (family, setting));
        assert!(p.bytes_per_image > 0.0, "{p:?}");
        assert!(
            (p.bits_per_pixel - p.bytes_per_image * 8.0 / 1024.0).abs() < 1e-9,
            "{p:?}"
        );
        assert!(p.psnr_mean > 15.0 && p.psnr_mean < 60.0, "{p:?}");
        assert!(p.ssim > 0.0 && p.ssim <= 1.0, "{p:?}");
        assert_eq!((p.code_length, p.zero_fraction), (0, None));
    }
    // A higher quality costs more bytes and gives a better picture.
    let avif_high = rd::measure_avif(&set, 80).unwrap();
    assert!(avif_high.bytes_per_image > avif.bytes_per_image);
    assert!(avif_high.psnr_mean > avif.psnr_mean);

    let points = [aec, webp, avif, jxl];
    let md = rd::to_markdown(&points);
    eprint!("{md}");
    assert!(md.contains("| AVIF q50 |") && md.contains("| JPEG XL q50 |"));
    let bd = rd::bd_rates(&points);
    assert_eq!(bd.len(), 1, "{bd:?}");
    assert_eq!(
        (bd[0].family.as_str(), bd[0].anchor.as_str()),
        ("aec f16", "WebP")
    );
    let dir = tempfile::tempdir().unwrap();
    rd::plot(
        &dir.path().join("rd.png"),
        "test",
        &points,
        Axis::BytesPerImage,
        None,
    )
    .unwrap();
}

/// A whole-image model measured plainly and with refinement: both points are real files of
/// the same model (small images run side by side), the refined one forms its own curve and
/// differs from the plain one.
#[test]
fn whole_image_models_with_and_without_refinement() {
    use aec::codec::Builtin;
    let set = samples();
    let codec = Builtin::Quality(1).codec(aec::codec::MAX_PIXELS).unwrap();
    let plain = rd::measure_whole_image(codec.as_ref(), "Q1", "aec", &set, &Default::default());
    let options = aec::codec::CompressOptions {
        refine_steps: 8,
        ..Default::default()
    };
    let refined =
        rd::measure_whole_image(codec.as_ref(), "Q1 refine 8", "aec refine", &set, &options);
    let (plain, refined) = (plain.unwrap(), refined.unwrap());
    assert_eq!(plain.family, "aec hyperprior");
    assert_eq!(refined.family, "aec refine hyperprior");
    assert!(plain.bytes_per_image > 21.0 && refined.bytes_per_image > 21.0);
    assert!(
        (plain.bytes_per_image, plain.psnr_mean) != (refined.bytes_per_image, refined.psnr_mean),
        "{plain:?} {refined:?}"
    );
}

/// `images_csv` gives each image's own file size and quality, labelled by its file's name, and
/// the point's means are those of its images.
#[test]
fn per_image_results_add_up_to_the_point() {
    let set = samples();
    let points = [
        rd::measure_jpeg(&set, 50).unwrap(),
        rd::measure_webp(&set, 50.0).unwrap(),
    ];
    for p in &points {
        assert_eq!(p.images.len(), 4);
        let bytes: usize = p.images.iter().map(|r| r.bytes).sum();
        assert!((bytes as f64 / 4.0 - p.bytes_per_image).abs() < 1e-9);
        let psnr: f64 = p.images.iter().map(|r| r.psnr).sum::<f64>() / 4.0;
        assert!((psnr - p.psnr_mean).abs() < 1e-9);
        // The two ships differ, so their files do.
        assert_ne!(p.images[1], p.images[2]);
    }
    let csv = rd::images_csv(&points, &set);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "family",
            "setting",
            "image",
            "width",
            "height",
            "bytes",
            "bits_per_pixel",
            "psnr_db",
            "ssim"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8);
    for (row, (p, r)) in rows.iter().zip(
        points
            .iter()
            .flat_map(|p| p.images.iter().map(move |r| (p, r))),
    ) {
        assert_eq!(&row[1], p.setting);
        assert_eq!((&row[3], &row[4]), ("32", "32"));
        assert_eq!(row[5].parse::<usize>().unwrap(), r.bytes);
        let bpp: f64 = row[6].parse().unwrap();
        assert!((bpp - r.bytes as f64 * 8.0 / 1024.0).abs() < 1e-4);
        assert!((row[7].parse::<f64>().unwrap() - r.psnr).abs() < 1e-3);
    }
    let labels: Vec<&str> = rows[..4].iter().map(|r| &r[2]).collect();
    assert_eq!(
        labels,
        [
            "cifar-test-0000-cat.png",
            "cifar-test-0001-ship.png",
            "cifar-test-0002-ship.png",
            "cifar-test-0003-airplane.png"
        ]
    );
    // A CIFAR-10 binary file's records are named by their index.
    let records = ImageSet::load(&[PathBuf::from("tests/fixtures/cifar-test-16.bin")]).unwrap();
    assert_eq!(records.labels.len(), 16);
    assert_eq!(
        (records.labels[0].as_str(), records.labels[15].as_str()),
        ("cifar-test-16.bin#0", "cifar-test-16.bin#15")
    );
}
