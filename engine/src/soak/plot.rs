//! The soak's plot: one panel per measure against time, drawn on a
//! [`Canvas`] with a built-in 5x7 font, so that making the PNG needs no
//! plotting or font library.

use super::png::Canvas;

const WHITE: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [40, 40, 40];
const GRID: [u8; 3] = [225, 225, 225];
const LINE: [u8; 3] = [31, 119, 180];

const WIDTH: usize = 960;
const PANEL_HEIGHT: usize = 210;
const LEFT: i64 = 110;
const RIGHT: i64 = 24;
const TOP: i64 = 34;
const BOTTOM: i64 = 26;
/// Glyphs are drawn at twice their size.
const SCALE: i64 = 2;

/// One measure over time: (seconds since the start, value).
pub struct Series<'a> {
    pub title: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// A PNG with one panel per series, stacked, sharing the time axis.
pub fn plot(title: &str, series: &[Series<'_>]) -> Vec<u8> {
    let height = 40 + PANEL_HEIGHT * series.len() + 30;
    let mut canvas = Canvas::new(WIDTH, height, WHITE);
    text(&mut canvas, 12, 10, title, INK);
    let end = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0f64, f64::max);
    for (index, one) in series.iter().enumerate() {
        let top = 40 + (index * PANEL_HEIGHT) as i64;
        panel(&mut canvas, top, end, one);
    }
    let axis = format!("TIME 0 TO {end:.0} S");
    text(&mut canvas, LEFT, height as i64 - 24, &axis, INK);
    canvas.encode()
}

fn panel(canvas: &mut Canvas, top: i64, end: f64, series: &Series<'_>) {
    let (x0, x1) = (LEFT, WIDTH as i64 - RIGHT);
    let (y0, y1) = (top + TOP, top + PANEL_HEIGHT as i64 - BOTTOM);
    text(canvas, x0, top + 8, series.title, INK);
    let max = series.points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let max = if max > 0.0 { max * 1.1 } else { 1.0 };
    // Grid at quarters, with their values on the left.
    for quarter in 0..=4 {
        let y = y1 - (y1 - y0) * quarter / 4;
        canvas.line((x0, y), (x1, y), GRID);
        let value = max * quarter as f64 / 4.0;
        text(canvas, 8, y - 7, &short_number(value), INK);
    }
    canvas.line((x0, y0), (x0, y1), INK);
    canvas.line((x0, y1), (x1, y1), INK);
    let to_pixel = |(t, v): (f64, f64)| {
        let x = x0 + ((x1 - x0) as f64 * t / end) as i64;
        let y = y1 - ((y1 - y0) as f64 * v / max) as i64;
        (x, y)
    };
    for pair in series.points.windows(2) {
        let (from, to) = (to_pixel(pair[0]), to_pixel(pair[1]));
        // Two pixels wide, so the line reads at a glance.
        canvas.line(from, to, LINE);
        canvas.line((from.0, from.1 - 1), (to.0, to.1 - 1), LINE);
    }
}

/// `1234567` as `1.23M`: labels stay short.
fn short_number(value: f64) -> String {
    let (scaled, unit) = match value.abs() {
        v if v >= 1e9 => (value / 1e9, "G"),
        v if v >= 1e6 => (value / 1e6, "M"),
        v if v >= 1e3 => (value / 1e3, "K"),
        _ => (value, ""),
    };
    if scaled.fract().abs() < 1e-9 {
        format!("{scaled:.0}{unit}")
    } else {
        format!("{scaled:.2}{unit}")
    }
}

/// Draws `text` (upper-cased; unknown characters as blanks) with its top
/// left at (x, y).
pub fn text(canvas: &mut Canvas, x: i64, y: i64, text: &str, color: [u8; 3]) {
    for (index, c) in text.chars().enumerate() {
        let rows = glyph(c.to_ascii_uppercase());
        let left = x + index as i64 * 6 * SCALE;
        for (row, bits) in rows.iter().enumerate() {
            for column in 0..5 {
                if bits & (0x10 >> column) != 0 {
                    for dy in 0..SCALE {
                        for dx in 0..SCALE {
                            canvas.set(
                                left + column * SCALE + dx,
                                y + row as i64 * SCALE + dy,
                                color,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The 5x7 bitmap of `c`, one byte per row, bit 4 leftmost.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short() {
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(1500.0), "1.50K");
        assert_eq!(short_number(2_000_000.0), "2M");
    }

    #[test]
    fn text_and_lines_leave_ink() {
        let mut canvas = Canvas::new(40, 20, WHITE);
        text(&mut canvas, 0, 0, "1", INK);
        // The `1`'s stem, column 2, at twice the size.
        assert_eq!(canvas.get(4, 4), INK);
        assert_eq!(canvas.get(0, 4), WHITE);
        let png = plot(
            "T",
            &[Series {
                title: "RSS MB",
                points: vec![(0.0, 1.0), (10.0, 2.0)],
            }],
        );
        assert!(png.starts_with(b"\x89PNG"));
    }
}
