//! Figures as PNG and SVG (plotters), with a bundled font (DejaVu Sans, `assets/fonts`) so that text
//! renders the same on every machine without system font libraries.
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

static FONT: std::sync::Once = std::sync::Once::new();

pub(crate) fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        // the bundled font is valid (checked by the tests); plotters keeps it for every family name we use
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// A histogram over fixed bins: `counts[i]` values fell in [lo + i·width, lo + (i+1)·width).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub lo: f64,
    pub width: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn new(lo: f64, width: f64, bins: usize) -> Self {
        Histogram { lo, width, counts: vec![0; bins] }
    }

    /// Adds one value (values outside the bins are clamped into the end bins).
    pub fn add(&mut self, v: f64) {
        let i = ((v - self.lo) / self.width + 1e-9).floor();
        let i = if i < 0.0 { 0 } else { (i as usize).min(self.counts.len() - 1) };
        self.counts[i] += 1;
    }

    /// Adds one value by its bin index.
    pub fn add_bin(&mut self, i: usize) {
        let last = self.counts.len() - 1;
        self.counts[i.min(last)] += 1;
    }

    pub fn edge(&self, i: usize) -> f64 {
        self.lo + i as f64 * self.width
    }
}

/// One panel of a histogram figure: its title, bars, and an optional reference outline.
pub struct Panel<'a> {
    pub title: String,
    pub bars: &'a Histogram,
    pub reference: Option<(&'a str, &'a Histogram)>,
}

/// Writes `stem`.png and `stem`.svg: panels in a grid of `cols` columns, log-count y axis, x axis in
/// `x_label` units, a dashed vertical line at `marker` labelled `marker_label`.
pub fn histogram_figure(stem: &Path, caption: &str, x_label: &str, panels: &[Panel], cols: usize, marker: f64, marker_label: &str) -> crate::Result<()> {
    register_font();
    let rows = panels.len().div_ceil(cols);
    let size = (520 * cols as u32, 380 * rows as u32 + 40);
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    let err = |p: &Path, e: String| crate::Error::Io { path: p.into(), err: std::io::Error::other(e) };
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        draw(&root, caption, x_label, panels, cols, marker, marker_label).map_err(|e| err(&png, e))?;
        root.present().map_err(|e| err(&png, e.to_string()))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        draw(&root, caption, x_label, panels, cols, marker, marker_label).map_err(|e| err(&svg, e))?;
        root.present().map_err(|e| err(&svg, e.to_string()))?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, caption: &str, x_label: &str, panels: &[Panel], cols: usize, marker: f64, marker_label: &str) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(caption, ("sans-serif", 22)).map_err(e)?;
    let rows = panels.len().div_ceil(cols);
    let areas = root.split_evenly((rows, cols));
    // shared axes: the union of all bins, counts up to the largest
    let lo = panels.iter().map(|p| p.bars.lo).fold(f64::INFINITY, f64::min);
    let hi = panels.iter().map(|p| p.bars.edge(p.bars.counts.len())).fold(f64::NEG_INFINITY, f64::max);
    let top = panels.iter().flat_map(|p| p.bars.counts.iter().chain(p.reference.map_or(&[][..], |r| &r.1.counts[..]))).copied().max().unwrap_or(1).max(1);
    let y_max = (top as f64) * 3.0;
    for (panel, area) in panels.iter().zip(areas.iter()) {
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", 17))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(lo..hi, (0.8f64..y_max).log_scale())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("count (log)")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_label_formatter(&|v| format!("{v:.1}"))
            .label_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        let h = panel.bars;
        chart
            .draw_series(h.counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| {
                Rectangle::new([(h.edge(i), 0.8), (h.edge(i + 1), c as f64)], RGBColor(31, 119, 180).mix(0.75).filled())
            }))
            .map_err(e)?
            .label("positive answers")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], RGBColor(31, 119, 180).mix(0.75).filled()));
        if let Some((name, r)) = panel.reference {
            let mut pts = Vec::new();
            for (i, &c) in r.counts.iter().enumerate() {
                let y = (c as f64).max(0.8);
                pts.push((r.edge(i), y));
                pts.push((r.edge(i + 1), y));
            }
            chart
                .draw_series(LineSeries::new(pts, BLACK.mix(0.6).stroke_width(1)))
                .map_err(e)?
                .label(name.to_string())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.mix(0.6)));
        }
        chart
            .draw_series(DashedLineSeries::new(vec![(marker, 0.8), (marker, y_max)], 6, 4, RED.stroke_width(2)))
            .map_err(e)?
            .label(marker_label.to_string())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], RED.stroke_width(2)));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    Ok(())
}

/// Draws a chart's series labels (the figures' common legend style).
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(chart: &mut ChartContext<'a, DB, CT>, position: SeriesLabelPosition) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|x| x.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_and_writes_both_formats() {
        let mut h = Histogram::new(28.4, 0.2, 10);
        for v in [28.4, 28.59, 28.6, 100.0, -5.0] {
            h.add(v);
        }
        assert_eq!(h.counts[..4], [3, 1, 0, 0]);
        assert_eq!(h.counts[9], 1);
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("fig");
        let panels = [Panel { title: "a".into(), bars: &h, reference: Some(("ref", &h)) }, Panel { title: "b".into(), bars: &h, reference: None }];
        histogram_figure(&stem, "test", "BMI", &panels, 2, 29.0, "B").unwrap();
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        assert!(svg.contains("count (log)") && svg.contains("BMI"));
        assert!(std::fs::metadata(stem.with_extension("png")).unwrap().len() > 1000);
    }
}
