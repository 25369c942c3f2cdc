//! The page's charts as inline SVG: hits by flag as bars, and the trend of the last runs as
//! lines, one point per run with its date on the axis. Only our own words and numbers are
//! drawn, never text from the input.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::data::{local_minute, Point};

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 280;
const BAR: RGBColor = RGBColor(0x2b, 0x6c, 0xb0);
const SECOND: RGBColor = RGBColor(0xd9, 0x73, 0x1e);

/// Both charts: counts up the side, runs or flags along the bottom.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart on `root` over the x range given, counts from 0 to a tenth above `top`.
fn axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    x: std::ops::Range<f64>,
    top: u64,
) -> Result<Chart<'a, 'b>, String> {
    ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(x, 0f64..(top as f64 * 1.1))
        .map_err(|e| e.to_string())
}

/// Light horizontal lines, six count labels, and `x_labels` labels along x as `label` names them.
fn mesh(
    chart: &mut Chart<'_, '_>,
    x_labels: usize,
    label: &dyn Fn(&f64) -> String,
) -> Result<(), String> {
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(1)
        .y_labels(6)
        .x_labels(x_labels)
        .x_label_formatter(label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| e.to_string())
}

/// Bars of hits by flag.
pub(crate) fn hits_by_flag(counts: &[(String, u64)]) -> String {
    let mut svg = String::new();
    let top = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let drawn = draw_bars(&mut svg, counts, top);
    finish(svg, drawn)
}

fn draw_bars(svg: &mut String, counts: &[(String, u64)], top: u64) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let slots = counts.len().max(1) as f64;
    let mut chart = axes(&root, 0f64..slots, top)?;
    let name = |x: &f64| {
        let at = x.floor();
        let index = at as usize;
        match counts.get(index) {
            Some((name, _)) if (x - at - 0.5).abs() < 0.01 => name.clone(),
            _ => String::new(),
        }
    };
    mesh(&mut chart, counts.len() * 2 + 1, &name)?;
    chart
        .draw_series(counts.iter().enumerate().map(|(index, (_, count))| {
            let x = index as f64;
            Rectangle::new([(x + 0.2, 0.0), (x + 0.8, *count as f64)], BAR.filled())
        }))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Two lines over the last runs; a run that lacks a value leaves a gap.
pub(crate) fn trend(
    points: &[Point],
    first: (&str, fn(&Point) -> Option<u64>),
    second: (&str, fn(&Point) -> Option<u64>),
) -> String {
    let mut svg = String::new();
    let drawn = draw_trend(&mut svg, points, first, second);
    finish(svg, drawn)
}

fn draw_trend(
    svg: &mut String,
    points: &[Point],
    first: (&str, fn(&Point) -> Option<u64>),
    second: (&str, fn(&Point) -> Option<u64>),
) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let top = points
        .iter()
        .flat_map(|p| [first.1(p), second.1(p)])
        .flatten()
        .max()
        .unwrap_or(0)
        .max(1);
    let last = points.len().saturating_sub(1).max(1) as f64;
    let mut chart = axes(&root, -0.5f64..last + 0.5, top)?;
    let day = |x: &f64| {
        let index = x.round();
        match points.get(index as usize) {
            Some(point) if index >= 0.0 && (x - index).abs() < 0.01 => {
                local_minute(point.started_at)
            }
            _ => String::new(),
        }
    };
    mesh(&mut chart, points.len().clamp(2, 12), &day)?;
    for ((label, value), color) in [(first, BAR), (second, SECOND)] {
        for run in runs_of(points, value) {
            chart
                .draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(run.iter().map(|&at| Circle::new(at, 3, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), u32>>())
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 12, y + 4)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// The stretches of consecutive runs that have a value.
fn runs_of(points: &[Point], value: fn(&Point) -> Option<u64>) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (index, point) in points.iter().enumerate() {
        match value(point) {
            Some(v) => runs
                .last_mut()
                .map_or((), |run| run.push((index as f64, v as f64))),
            None => runs.push(Vec::new()),
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

/// The SVG as the page inlines it: HTML needs no namespace declaration, and the page holds
/// no address at all. A chart that could not be drawn is left out with a word.
fn finish(svg: String, drawn: Result<(), String>) -> String {
    match drawn {
        Ok(()) => svg.replace(" xmlns=\"http://www.w3.org/2000/svg\"", ""),
        Err(error) => {
            tracing::warn!(%error, "Could not draw a chart of the report.");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(day: u64, hits: Option<u64>) -> Point {
        Point {
            started_at: 1_796_000_000 + day * 86_400,
            hits,
            new_hits: Some(1),
            calls: 10,
            reused: 5,
            rows: 20,
            errors: 0,
            exit_code: Some(0),
        }
    }

    #[test]
    fn charts_are_svg_without_an_address() {
        let bars = hits_by_flag(&[("onlineBlack".into(), 3), ("fraudTrans".into(), 0)]);
        assert!(bars.starts_with("<svg"), "{bars}");
        assert!(bars.contains("onlineBlack"));
        let points = [point(0, Some(2)), point(1, None), point(2, Some(4))];
        let lines = trend(&points, ("hits", |p| p.hits), ("new hits", |p| p.new_hits));
        assert!(
            lines.contains("<polyline") || lines.contains("<path"),
            "{lines}"
        );
        assert!(lines.contains(&local_minute(points[2].started_at)));
        for svg in [bars, lines] {
            assert!(!svg.contains("http"), "{svg}");
            assert!(!svg.contains("<script"));
        }
        assert_eq!(runs_of(&points, |p| p.hits).len(), 2);
    }
}
