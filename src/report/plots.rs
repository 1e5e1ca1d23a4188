//! The report page's pictures, drawn with plotters' SVG backend: an extent map (records as bars
//! over the file offset, one row per op and model, each bit a colour) and a counter's values over
//! the ops (one line per model and series). Each is one `<svg>` element, inlined in the page.

use delalloc_contract::{Bits, Record};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Each storable bit's colour on the extent maps (and in the page's legend), in
/// [`Bits::NAMES`] order: a qualitative palette with no black, which outlines differing records.
pub const BIT_COLOURS: [(Bits, RGBColor); 12] = [
    (Bits::DIRTY, RGBColor(0xE6, 0x9F, 0x00)),
    (Bits::WRITEBACK, RGBColor(0x56, 0xB4, 0xE9)),
    (Bits::UPTODATE, RGBColor(0x00, 0x9E, 0x73)),
    (Bits::LOCKED, RGBColor(0x8C, 0x8C, 0x8C)),
    (Bits::NEW, RGBColor(0xF0, 0xE4, 0x42)),
    (Bits::DELALLOC, RGBColor(0x00, 0x72, 0xB2)),
    (Bits::DEFRAG, RGBColor(0xCC, 0x79, 0xA7)),
    (Bits::BOUNDARY, RGBColor(0x8C, 0x56, 0x4B)),
    (Bits::NODATASUM, RGBColor(0x17, 0xBE, 0xCF)),
    (Bits::DO_ACCOUNTING, RGBColor(0xBC, 0xBD, 0x22)),
    (Bits::NORESERVE, RGBColor(0xD5, 0x5E, 0x00)),
    (Bits::DELALLOC_NEW, RGBColor(0x94, 0x67, 0xBD)),
];

/// A bit not in [`BIT_COLOURS`] (none today): grey.
const OTHER_BIT: RGBColor = RGBColor(0x60, 0x60, 0x60);
/// The diverging op's band and marker.
const DIVERGED_BAND: RGBColor = RGBColor(0xFD, 0xE0, 0xE0);
const DIVERGED_MARK: RGBColor = RGBColor(0xC0, 0x00, 0x00);
/// Series colours of the counter plots (tableau 10).
pub const SERIES_COLOURS: [RGBColor; 8] = [
    RGBColor(0x1F, 0x77, 0xB4),
    RGBColor(0xFF, 0x7F, 0x0E),
    RGBColor(0x2C, 0xA0, 0x2C),
    RGBColor(0x94, 0x67, 0xBD),
    RGBColor(0x8C, 0x56, 0x4B),
    RGBColor(0xE3, 0x77, 0xC2),
    RGBColor(0x7F, 0x7F, 0x7F),
    RGBColor(0x17, 0xBE, 0xCF),
];

/// `#rrggbb`, for the page's CSS.
pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// The colour of one bit.
pub fn bit_colour(bit: Bits) -> RGBColor {
    BIT_COLOURS
        .iter()
        .find(|(b, _)| *b == bit)
        .map_or(OTHER_BIT, |(_, c)| *c)
}

/// The single bits of `bits`, in [`Bits::NAMES`] order (unknown bits last, one by one).
pub fn single_bits(bits: Bits) -> Vec<Bits> {
    let mut v: Vec<Bits> = (0..32)
        .map(|i| Bits(1 << i))
        .filter(|b| bits.contains(*b))
        .collect();
    v.sort_by_key(|b| order(*b));
    v
}

fn order(bit: Bits) -> usize {
    Bits::NAMES
        .iter()
        .position(|(_, b)| *b == bit)
        .unwrap_or(Bits::NAMES.len() + bit.0.trailing_zeros() as usize)
}

/// A number as the text format writes it: with the largest binary suffix that divides it
/// exactly (4096 -> `4K`), else in full.
pub fn size(v: u64) -> String {
    const SUFFIXES: [(&str, u32); 4] = [("T", 40), ("G", 30), ("M", 20), ("K", 10)];
    SUFFIXES
        .iter()
        .find(|(_, shift)| v != 0 && v.trailing_zeros() >= *shift)
        .map_or_else(|| v.to_string(), |(s, shift)| format!("{}{s}", v >> shift))
}

/// Axis key points from 0 to `top` (a multiple of the step) and the step: a power of two that
/// gives at most `most` intervals, so that byte offsets fall on round numbers (4K, 128M).
fn key_points(max: u64, most: u64) -> (u64, Vec<u64>) {
    let mut step = 1u64;
    while max.div_ceil(step) > most {
        step = step.saturating_mul(2);
    }
    let top = max.div_ceil(step).max(1).saturating_mul(step);
    let points = (0..=top / step).map(|i| i * step).collect();
    (top, points)
}

fn err(e: impl std::fmt::Display) -> String {
    format!("drawing a plot: {e}")
}

/// One row of an extent map: a model's records after one op.
pub struct MapRow {
    /// Shown left of the row.
    pub label: String,
    /// Each record, and whether the other model's row lacks it (outlined).
    pub records: Vec<(Record, bool)>,
    /// The row belongs to the diverging op (a red band behind it).
    pub diverged: bool,
    /// A thin line above the row: the first row of an op.
    pub first_of_op: bool,
}

/// Row height in pixels, and the width of the label column.
const ROW: u32 = 20;
/// A row's height in the map's y coordinates.
const H: u32 = 96;
const LABEL_AREA: u32 = 230;

/// An extent map: the rows top to bottom, bars over `[0, xmax)`; records `[start, end]` drawn
/// at least 3 pixels wide, each bit a horizontal stripe of its colour.
pub fn extent_map(rows: &[MapRow], xmax: u64, width: u32) -> Result<String, String> {
    let n = rows.len().max(1);
    let height = ROW * n as u32 + 50;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, xs) = key_points(xmax.max(1), 8);
        let labels: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        // Row r spans y in [(n - r - 1) * H, (n - r) * H]: the first row on top.
        let centres: Vec<u32> = (0..n as u32).map(|r| (n as u32 - r) * H - H / 2).collect();
        let mut chart = ChartBuilder::on(&root)
            .margin_right(16)
            .margin_top(6)
            .x_label_area_size(30)
            .y_label_area_size(LABEL_AREA)
            .build_cartesian_2d(
                (0..top).with_key_points(xs),
                (0..n as u32 * H).with_key_points(centres),
            )
            .map_err(err)?;
        let label_of = |y: &u32| {
            let r = (n as u32 * H).saturating_sub(*y) / H;
            labels.get(r as usize).cloned().unwrap_or_default()
        };
        let x_label = |x: &u64| size(*x);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
            .y_label_formatter(&label_of)
            .x_label_formatter(&x_label)
            .x_desc("file offset (bytes)")
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        let plot_px = width.saturating_sub(LABEL_AREA + 16).max(1);
        let min_width = (top / u64::from(plot_px)).saturating_mul(3).max(1);
        for (r, row) in rows.iter().enumerate() {
            let (y0, y1) = ((n - r - 1) as u32 * H, (n - r) as u32 * H);
            if row.diverged {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0, y0), (top, y1)],
                        DIVERGED_BAND.filled(),
                    )))
                    .map_err(err)?;
            }
            if row.first_of_op && r > 0 {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(0, y1), (top, y1)],
                        RGBColor(0xAA, 0xAA, 0xAA),
                    )))
                    .map_err(err)?;
            }
            for (rec, differs) in &row.records {
                let x0 = rec.start.min(top);
                let x1 = rec.end.saturating_add(1).max(x0.saturating_add(min_width));
                let bits = single_bits(rec.bits);
                let (lo, hi) = (y0 + H / 8, y1 - H / 8);
                let count = bits.len().max(1) as u32;
                let stripes = bits.iter().enumerate().map(|(i, b)| {
                    let i = i as u32;
                    let (from, to) = (hi - (hi - lo) * (i + 1) / count, hi - (hi - lo) * i / count);
                    Rectangle::new([(x0, from), (x1, to)], bit_colour(*b).filled())
                });
                chart.draw_series(stripes).map_err(err)?;
                if *differs {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, lo - H / 16), (x1, hi + H / 16)],
                            BLACK.stroke_width(3),
                        )))
                        .map_err(err)?;
                }
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One line of a counter plot: a series (`ino 0`) of one model.
pub struct Line {
    /// Index into [`SERIES_COLOURS`] (modulo its length).
    pub colour: usize,
    /// The right-hand model: dashed, with crosses (the left one is solid, with dots).
    pub right: bool,
    /// The value after each op.
    pub values: Vec<u64>,
}

/// A counter over the ops: x is the op (`x_labels[i]` under point `i`), `diverged` the index of
/// the diverging op, marked by a red band and line. `bytes` formats the values as sizes.
pub fn counter_plot(
    lines: &[Line],
    x_labels: &[String],
    diverged: Option<usize>,
    bytes: bool,
    (width, height): (u32, u32),
) -> Result<String, String> {
    let n = x_labels.len().max(1);
    let max = lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .max()
        .unwrap_or(0);
    let (top, ys) = key_points(max.max(1), 5);
    // Label at most ~16 ops along the axis.
    let every = n.div_ceil(16);
    // Point i is at x = 2i, so that its band is [2i - 1, 2i + 1] in whole numbers.
    let xs: Vec<i32> = (0..n as i32).step_by(every).map(|i| 2 * i).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(58)
            .build_cartesian_2d(
                (-1..2 * n as i32 - 1).with_key_points(xs),
                (0..top).with_key_points(ys),
            )
            .map_err(err)?;
        let x_label = |x: &i32| {
            usize::try_from(x / 2)
                .ok()
                .filter(|_| x % 2 == 0)
                .and_then(|i| x_labels.get(i).cloned())
                .unwrap_or_default()
        };
        let y_label = |y: &u64| if bytes { size(*y) } else { y.to_string() };
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xE4, 0xE4, 0xE4))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc("after op")
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        if let Some(k) = diverged {
            let k = 2 * k as i32;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(k - 1, 0), (k + 1, top)],
                    DIVERGED_BAND.filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(k, 0), (k, top)],
                    6,
                    4,
                    DIVERGED_MARK.stroke_width(2),
                ))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "diverges ",
                    (k - 1, top),
                    ("sans-serif", 15)
                        .into_font()
                        .color(&DIVERGED_MARK)
                        .pos(Pos::new(HPos::Right, VPos::Top)),
                )))
                .map_err(err)?;
        }
        for line in lines {
            let c = SERIES_COLOURS[line.colour % SERIES_COLOURS.len()];
            let points: Vec<(i32, u64)> = line
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| (2 * i as i32, *v))
                .collect();
            if line.right {
                chart
                    .draw_series(DashedLineSeries::new(
                        points.clone(),
                        7,
                        5,
                        c.stroke_width(2),
                    ))
                    .map_err(err)?;
                chart
                    .draw_series(points.iter().map(|p| Cross::new(*p, 6, c.stroke_width(2))))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
                    .map_err(err)?;
                chart
                    .draw_series(points.iter().map(|p| Circle::new(*p, 4, c.filled())))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// How an op's bar is drawn on a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarMark {
    /// In its task's colour.
    Plain,
    /// The op the nearest order could not explain: outlined in red.
    Unexplained,
    /// The op never returned (a panic, a deadlock): grey, to the end of the run.
    NeverReturned,
}

/// One op on a timeline: a bar in lane `lane` over `[from, to]`, its text on two lines.
pub struct Bar {
    pub lane: usize,
    pub from: u64,
    pub to: u64,
    /// The first line (the op), cut to the bar's width.
    pub title: String,
    /// The second line (its answer).
    pub detail: String,
    pub mark: BarMark,
}

/// A lane's height in pixels, and the width of the lane labels.
const LANE: u32 = 56;
const LANE_LABELS: u32 = 70;

/// A timeline: one lane per name of `lanes` (top to bottom), the bars over x in `[0, xmax]`,
/// `x_desc` under the axis.
pub fn timeline(
    lanes: &[String],
    bars: &[Bar],
    xmax: u64,
    x_desc: &str,
    width: u32,
) -> Result<String, String> {
    let n = lanes.len().max(1) as u32;
    let xmax = xmax.max(1);
    let height = LANE * n + 52;
    // Lane r spans y in [(n - r - 1) * H, (n - r) * H]: the first lane on top.
    let centres: Vec<u32> = (0..n).map(|r| (n - r) * H - H / 2).collect();
    // One step is S units of x, so that text can start a few pixels into a bar.
    const S: u64 = 100;
    let step = xmax.div_ceil(32).max(1);
    let xs: Vec<u64> = (0..=xmax).step_by(step as usize).map(|x| x * S).collect();
    let plot_px = f64::from(width.saturating_sub(LANE_LABELS + 16).max(1));
    let px_per_unit = plot_px / (xmax * S) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin_right(16)
            .margin_top(6)
            .x_label_area_size(36)
            .y_label_area_size(LANE_LABELS)
            .build_cartesian_2d(
                (0..xmax * S).with_key_points(xs),
                (0..n * H).with_key_points(centres),
            )
            .map_err(err)?;
        let label_of = |y: &u32| {
            let r = (n * H).saturating_sub(*y) / H;
            lanes.get(r as usize).cloned().unwrap_or_default()
        };
        let x_label = |x: &u64| (x / S).to_string();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xE4, 0xE4, 0xE4))
            .y_label_formatter(&label_of)
            .x_label_formatter(&x_label)
            .x_desc(x_desc)
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        for r in 1..n {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0, r * H), (xmax * S, r * H)],
                    RGBColor(0xCC, 0xCC, 0xCC),
                )))
                .map_err(err)?;
        }
        for bar in bars {
            let r = bar.lane as u32;
            if r >= n {
                continue;
            }
            let (y0, y1) = ((n - r - 1) * H + H / 10, (n - r) * H - H / 10);
            let from = bar.from.min(xmax);
            let (x0, x1) = (from * S, bar.to.clamp(from + 1, xmax.max(from + 1)) * S);
            let colour = SERIES_COLOURS[bar.lane % SERIES_COLOURS.len()];
            let (fill, edge) = match bar.mark {
                BarMark::NeverReturned => (
                    RGBColor(0xDD, 0xDD, 0xDD).filled(),
                    RGBColor(0x88, 0x88, 0x88).stroke_width(1),
                ),
                BarMark::Plain => (colour.mix(0.22).filled(), colour.stroke_width(1)),
                BarMark::Unexplained => (DIVERGED_BAND.filled(), DIVERGED_MARK.stroke_width(3)),
            };
            chart
                .draw_series([
                    Rectangle::new([(x0, y0), (x1, y1)], fill),
                    Rectangle::new([(x0, y0), (x1, y1)], edge),
                ])
                .map_err(err)?;
            // About 6.5 pixels a character at 12 px; nothing when not even two fit.
            let chars = (((x1 - x0) as f64 * px_per_unit - 8.0) / 6.5).max(0.0) as usize;
            let pad = (4.0 / px_per_unit) as u64;
            let text_colour = if bar.mark == BarMark::Unexplained {
                DIVERGED_MARK
            } else {
                BLACK
            };
            for (line, y) in [
                (&bar.title, y1 - (y1 - y0) / 4),
                (&bar.detail, y0 + (y1 - y0) / 4),
            ] {
                let shown = fit(line, chars);
                if shown.is_empty() {
                    continue;
                }
                chart
                    .draw_series(std::iter::once(Text::new(
                        shown,
                        (x0 + pad, y),
                        ("sans-serif", 12)
                            .into_font()
                            .color(&text_colour)
                            .pos(Pos::new(HPos::Left, VPos::Center)),
                    )))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// `s` cut to `chars` characters, an ellipsis ending what was cut; empty under two.
fn fit(s: &str, chars: usize) -> String {
    if chars < 2 {
        return String::new();
    }
    if s.chars().count() <= chars {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(chars - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_the_text_format_writes_them() {
        assert_eq!(size(0), "0");
        assert_eq!(size(4096), "4K");
        assert_eq!(size(128 << 20), "128M");
        assert_eq!(size(1536 << 10), "1536K");
        assert_eq!(size(4097), "4097");
        assert_eq!(size(17), "17");
    }

    #[test]
    fn key_points_are_round_and_cover_the_maximum() {
        assert_eq!(key_points(1, 8), (1, vec![0, 1]));
        let (top, ks) = key_points(134_086_657 + 131_072, 8);
        assert!(top >= 134_217_729 && ks.len() <= 9, "{top} {ks:?}");
        assert!(ks.iter().all(|k| k % (16 << 20) == 0), "{ks:?}");
    }

    #[test]
    fn bits_split_in_the_text_formats_order() {
        let b = Bits::DELALLOC | Bits::DIRTY | Bits::UPTODATE;
        assert_eq!(
            single_bits(b),
            [Bits::DIRTY, Bits::UPTODATE, Bits::DELALLOC]
        );
        assert_eq!(hex(bit_colour(Bits::DELALLOC)), "#0072b2");
    }

    #[test]
    fn plots_are_svg() {
        let rec = Record {
            start: 0,
            end: 4095,
            bits: Bits::DELALLOC | Bits::DIRTY,
        };
        let rows = [MapRow {
            label: "op 0 reference".into(),
            records: vec![(rec, true)],
            diverged: true,
            first_of_op: true,
        }];
        let svg = extent_map(&rows, 4096, 800).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("op 0 reference"),
            "{svg}"
        );
        // Offsets at the end of the u64 range, a one-byte record beside them.
        let far = Record {
            start: u64::MAX - 4095,
            end: u64::MAX,
            bits: Bits::LOCKED,
        };
        let one = Record {
            start: 0,
            end: 0,
            bits: Bits::BOUNDARY,
        };
        let rows = [MapRow {
            label: "op 0 reference".into(),
            records: vec![(one, false), (far, false)],
            diverged: false,
            first_of_op: true,
        }];
        assert!(extent_map(&rows, u64::MAX, 800).unwrap().contains("</svg>"));
        let lines = [
            Line {
                colour: 0,
                right: false,
                values: vec![0, 1, 2],
            },
            Line {
                colour: 0,
                right: true,
                values: vec![0, 1, 3],
            },
        ];
        let labels = ["0", "1", "2"].map(String::from);
        let svg = counter_plot(&lines, &labels, Some(2), false, (400, 200)).unwrap();
        assert!(svg.contains("diverges"), "{svg}");
        let bars = [
            Bar {
                lane: 0,
                from: 0,
                to: 3,
                title: "t0.0 buffered_write ino=0 pos=0 len=4K".into(),
                detail: "written(4096)".into(),
                mark: BarMark::Unexplained,
            },
            Bar {
                lane: 1,
                from: 1,
                to: 9,
                title: "t1.0 commit".into(),
                detail: "never returned".into(),
                mark: BarMark::NeverReturned,
            },
            // A lane that does not exist is left out.
            Bar {
                lane: 7,
                from: 0,
                to: 1,
                title: "nowhere".into(),
                detail: String::new(),
                mark: BarMark::Plain,
            },
        ];
        let lanes = ["task 0", "task 1"].map(String::from);
        let svg = timeline(&lanes, &bars, 9, "step", 1000).unwrap();
        assert!(
            svg.contains("t1.0 commit") && svg.contains("task 1"),
            "{svg}"
        );
        assert!(!svg.contains("nowhere"), "{svg}");
    }

    #[test]
    fn labels_are_cut_to_fit() {
        assert_eq!(fit("commit", 6), "commit");
        assert_eq!(fit("commit", 4), "com…");
        assert_eq!(fit("commit", 1), "");
    }
}
