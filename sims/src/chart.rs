//! Line charts as SVG, for sweep results: one or more series of (x, y) points on linear axes with
//! ticks, labels and a legend. Written by hand (about a hundred lines) because plotting crates
//! need a font stack to lay out text; the output is a pure function of the data, so a sweep's
//! chart is as reproducible as its numbers.

use std::fmt::Write;

/// One line on the chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// A chart's texts.
#[derive(Debug, Clone)]
pub struct ChartLabels {
    /// Title at the top.
    pub title: String,
    /// Under the x axis.
    pub x: String,
    /// Beside the y axis.
    pub y: String,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 170.0;
const MARGIN_TOP: f64 = 40.0;
const MARGIN_BOTTOM: f64 = 50.0;
const TICKS: usize = 5;
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/// Renders `series` as an SVG document.
pub fn line_chart_svg(labels: &ChartLabels, series: &[Series]) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (x_min, x_max) = bounds(points.clone().map(|p| p.0));
    let (_, y_max) = bounds(points.map(|p| p.1));
    let y_min = 0.0;
    let plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let sx = |x: f64| MARGIN_LEFT + (x - x_min) / (x_max - x_min) * plot_w;
    let sy = |y: f64| MARGIN_TOP + plot_h - (y - y_min) / (y_max - y_min) * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = write!(
        svg,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(&labels.title)
    );
    let (left, right, top, bottom) = (MARGIN_LEFT, MARGIN_LEFT + plot_w, MARGIN_TOP, MARGIN_TOP + plot_h);
    let _ = write!(svg, r#"<path d="M{left},{top} V{bottom} H{right}" stroke="black" fill="none"/>"#);
    for i in 0..=TICKS {
        let fraction = i as f64 / TICKS as f64;
        let (x, y) = (x_min + fraction * (x_max - x_min), y_min + fraction * (y_max - y_min));
        let _ = write!(svg, r#"<line x1="{0}" y1="{bottom}" x2="{0}" y2="{1}" stroke="black"/>"#, sx(x), bottom + 5.0);
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#, sx(x), bottom + 18.0, tick(x));
        let _ = write!(svg, r##"<line x1="{left}" y1="{0}" x2="{right}" y2="{0}" stroke="#ddd"/>"##, sy(y));
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#, left - 8.0, sy(y) + 4.0, tick(y));
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        HEIGHT - 10.0,
        escape(&labels.x)
    );
    let _ = write!(
        svg,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>"#,
        top + plot_h / 2.0,
        escape(&labels.y)
    );
    for (index, line) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let path: Vec<String> = line.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y))).collect();
        let _ =
            write!(svg, r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#, path.join(" "));
        for &(x, y) in &line.points {
            let _ = write!(svg, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#, sx(x), sy(y));
        }
        let legend_y = top + 10.0 + 20.0 * index as f64;
        let _ = write!(
            svg,
            r#"<line x1="{0}" y1="{legend_y}" x2="{1}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/>"#,
            right + 15.0,
            right + 35.0
        );
        let _ = write!(svg, r#"<text x="{}" y="{}">{}</text>"#, right + 42.0, legend_y + 4.0, escape(&line.name));
    }
    svg.push_str("</svg>\n");
    svg
}

/// (min, max) of the values, widened so that the range is never empty.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !min.is_finite() {
        return (0.0, 1.0);
    }
    if (max - min).abs() < f64::EPSILON {
        return (min - 1.0, max + 1.0);
    }
    (min, max)
}

fn tick(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series_and_label_deterministically() {
        let labels = ChartLabels { title: "latency <n>".into(), x: "validators".into(), y: "ms".into() };
        let series = vec![
            Series { name: "honest".into(), points: vec![(4.0, 10.0), (7.0, 12.5), (10.0, 20.0)] },
            Series { name: "silent".into(), points: vec![(4.0, 30.0), (7.0, 40.0)] },
        ];
        let svg = line_chart_svg(&labels, &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 5);
        assert!(svg.contains("latency &lt;n&gt;") && svg.contains(">honest<") && svg.contains(">silent<"));
        assert_eq!(svg, line_chart_svg(&labels, &series));
    }

    #[test]
    fn degenerate_data_still_renders() {
        let labels = ChartLabels { title: "t".into(), x: "x".into(), y: "y".into() };
        let one = line_chart_svg(&labels, &[Series { name: "a".into(), points: vec![(1.0, 1.0)] }]);
        assert!(!one.contains("NaN") && !one.contains("inf"));
        let none = line_chart_svg(&labels, &[]);
        assert!(!none.contains("NaN"));
    }
}
