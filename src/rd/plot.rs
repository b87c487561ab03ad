//! The rate–distortion plot (PNG).

use std::path::Path;

use super::{RdError, RdPoint};

/// The x axis of a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Mean file bytes per image (for sets of same-size images such as CIFAR-10).
    BytesPerImage,
    /// Bits per pixel (for photos).
    BitsPerPixel,
}

impl Axis {
    /// A point's position along this axis.
    pub fn x(self, p: &RdPoint) -> f64 {
        match self {
            Axis::BytesPerImage => p.bytes_per_image,
            Axis::BitsPerPixel => p.bits_per_pixel,
        }
    }
}

/// Draws PSNR (mean of per-image) against size, one curve per family; `reference` marks one
/// labelled point (e.g. the notebook's 512 bytes, 21.1 dB). Points of an infinite mean PSNR (an
/// image reconstructed exactly) have no place on the axis: they are left out, and their count
/// returned. (An infinite one made the axis labelling run without end, its memory growing.)
pub fn plot(
    path: &Path,
    title: &str,
    points: &[RdPoint],
    axis: Axis,
    reference: Option<(f64, f64, &str)>,
) -> Result<usize, RdError> {
    use plotters::prelude::*;
    let err = |e: String| RdError::Plot(e);
    let x_of = |p: &RdPoint| axis.x(p);
    let all = points.len();
    let points: &[RdPoint] = &points
        .iter()
        .filter(|p| x_of(p).is_finite() && p.psnr_mean.is_finite())
        .cloned()
        .collect::<Vec<_>>();
    let mut corners: Vec<(f64, f64)> = points.iter().map(|p| (x_of(p), p.psnr_mean)).collect();
    corners.extend(reference.map(|(x, y, _)| (x, y)));
    let (xmax, ymin, ymax) = bounds(&corners);
    let root = BitMapBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let font = FontFamily::Name("DejaVu Sans");
    register_font()?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (font, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..xmax.max(1e-3), ymin..ymax)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(match axis {
            Axis::BytesPerImage => "bytes per image (whole file)",
            Axis::BitsPerPixel => "bits per pixel (whole file)",
        })
        .y_desc("PSNR, mean of per-image (dB)")
        .label_style((font, 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    draw_curves(&mut chart, points, &x_of, reference)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((font, 14))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    Ok(all - points.len())
}

/// The chart of [`plot`]: f64 coordinates on a bitmap.
type Chart<'a> = plotters::chart::ChartContext<
    'a,
    plotters::backend::BitMapBackend<'a>,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// One line with markers per family, and the reference point.
fn draw_curves(
    chart: &mut Chart<'_>,
    points: &[RdPoint],
    x_of: &dyn Fn(&RdPoint) -> f64,
    reference: Option<(f64, f64, &str)>,
) -> Result<(), RdError> {
    use plotters::prelude::*;
    let err = |e: String| RdError::Plot(e);
    for (i, family) in families(points).iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut series: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.family == *family)
            .map(|p| (x_of(p), p.psnr_mean))
            .collect();
        series.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(series.clone(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(*family)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(
                series
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, color.filled())),
            )
            .map_err(|e| err(e.to_string()))?;
    }
    if let Some((x, y, label)) = reference {
        chart
            .draw_series(std::iter::once(Cross::new(
                (x, y),
                8,
                BLACK.stroke_width(3),
            )))
            .map_err(|e| err(e.to_string()))?
            .label(label.to_string())
            .legend(|(x, y)| Cross::new((x + 9, y), 6, BLACK.stroke_width(2)));
    }
    Ok(())
}

/// The plot's x maximum and y range for its points, with margins (0 to 1 dB for none).
fn bounds(points: &[(f64, f64)]) -> (f64, f64, f64) {
    if points.is_empty() {
        return (0.0, 0.0, 1.0);
    }
    (
        points.iter().map(|p| p.0).fold(0.0, f64::max) * 1.08,
        points
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min)
            .floor()
            - 1.0,
        points.iter().map(|p| p.1).fold(0.0, f64::max).ceil() + 1.0,
    )
}

/// The points' families in order of first appearance.
fn families(points: &[RdPoint]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for p in points {
        if !out.contains(&p.family.as_str()) {
            out.push(&p.family);
        }
    }
    out
}

/// Makes the bundled DejaVu Sans available to plotters (it has no system font lookup here).
fn register_font() -> Result<(), RdError> {
    static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result =
            plotters::style::register_font("DejaVu Sans", plotters::style::FontStyle::Normal, FONT)
                .map_err(|_| RdError::Plot("cannot load the bundled font".into()));
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(family: &str, bits_per_pixel: f64, psnr_mean: f64) -> RdPoint {
        RdPoint {
            family: family.into(),
            bits_per_pixel,
            bytes_per_image: bits_per_pixel * 128.0,
            psnr_mean,
            setting: String::new(),
            code_length: 0,
            psnr_of_mean_mse: psnr_mean,
            ssim: 1.0,
            zero_fraction: None,
            ideal_bytes_per_image: None,
            images: Vec::new(),
        }
    }

    /// A setting with an image coded exactly (JPEG of a flat one: an infinite PSNR) is left
    /// out, and the plot of the rest is drawn; on a thread, so that a plot that never ends fails
    /// the test.
    #[test]
    fn exact_points_are_left_out_and_the_plot_finishes() {
        let points = vec![
            point("JPEG", 0.08, 42.5),
            point("JPEG", 0.09, f64::INFINITY),
            point("aec", 0.06, 28.6),
            point("aec", 0.1, 37.0),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rd.png");
        let (send, receive) = std::sync::mpsc::channel();
        let target = path.clone();
        std::thread::spawn(move || {
            let _ = send.send(plot(&target, "flat", &points, Axis::BitsPerPixel, None));
        });
        let done = receive.recv_timeout(std::time::Duration::from_secs(120));
        assert!(matches!(done, Ok(Ok(1))), "{done:?}");
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
        let none = [point("JPEG", 0.09, f64::INFINITY)];
        let left_out = plot(&path, "nothing finite", &none, Axis::BitsPerPixel, None).unwrap();
        assert_eq!(left_out, 1);
    }
}
