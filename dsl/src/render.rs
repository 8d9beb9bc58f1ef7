//! Plain-text, rustc-style rendering of diagnostics.

use std::fmt::Write;

use crate::diagnostic::{Diagnostic, Severity, Span};
use crate::Source;

/// A position in a file, 1-based, the column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    line: usize,
    col: usize,
    /// Byte offset of the start of the line.
    line_start: usize,
}

/// The position of a byte offset. Offsets past the end point at the last
/// character, so a diagnostic at the end of the file never shows line 0 or
/// a column past the text.
fn position(text: &str, offset: usize) -> Position {
    let mut offset = offset.min(text.len());
    if offset == text.len() && offset > 0 {
        offset = text[..offset]
            .char_indices()
            .next_back()
            .map_or(0, |(i, _)| i);
    }
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.matches('\n').count() + 1,
        col: text[line_start..offset].chars().count() + 1,
        line_start,
    }
}

fn line_text(text: &str, line_start: usize) -> &str {
    let rest = &text[line_start..];
    let line = rest.split('\n').next().unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
}

pub fn render(d: &Diagnostic, sources: &[Source]) -> String {
    let mut out = String::new();
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{severity}[{}]: {}", d.code, d.message);
    let Some(source) = sources.get(d.file) else {
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        return out;
    };
    let text = source.text.as_str();
    let mut rows: Vec<(Position, usize, char, &str)> = d
        .labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let (pos, width) = place(text, &label.span);
            (
                pos,
                width,
                if i == 0 { '^' } else { '-' },
                label.message.as_str(),
            )
        })
        .collect();
    let gutter = rows
        .iter()
        .map(|r| r.0.line)
        .max()
        .unwrap_or(1)
        .to_string()
        .len();
    let pad = " ".repeat(gutter);
    match rows.first() {
        Some((pos, ..)) => {
            let _ = writeln!(out, "{pad}--> {}:{}:{}", source.name, pos.line, pos.col);
        }
        None => {
            let _ = writeln!(out, "{pad}--> {}", source.name);
        }
    }
    rows.sort_by_key(|r| (r.0.line, r.0.col));
    if !rows.is_empty() {
        let _ = writeln!(out, "{pad} |");
    }
    let mut last_line = None;
    for (pos, width, mark, message) in &rows {
        if last_line != Some(pos.line) {
            if last_line.is_some_and(|l| pos.line > l + 1) {
                let _ = writeln!(out, "...");
            }
            let shown = line_text(text, pos.line_start).replace('\t', " ");
            let _ = writeln!(out, "{:>gutter$} | {}", pos.line, shown.trim_end());
            last_line = Some(pos.line);
        }
        let underline = mark.to_string().repeat(*width);
        let spaces = " ".repeat(pos.col - 1);
        let line = format!("{pad} | {spaces}{underline} {message}");
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if let Some(help) = &d.help {
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{pad} = help: {help}");
    }
    out
}

/// Where a span starts and how many characters of its first line it covers
/// (at least one).
fn place(text: &str, span: &Span) -> (Position, usize) {
    let start = position(text, span.start);
    let line = line_text(text, start.line_start);
    let line_end = start.line_start + line.len();
    let from = (start.line_start
        + line
            .chars()
            .take(start.col - 1)
            .map(char::len_utf8)
            .sum::<usize>())
    .min(line_end);
    let to = span.end.clamp(from, line_end);
    let width = text.get(from..to).map_or(0, |s| s.chars().count()).max(1);
    (start, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let p = position("ab\ncd", 3);
        assert_eq!((p.line, p.col), (2, 1));
    }

    #[test]
    fn end_of_file_points_at_last_character() {
        let p = position("ab\ncd", 5);
        assert_eq!((p.line, p.col), (2, 2));
        let p = position("", 0);
        assert_eq!((p.line, p.col), (1, 1));
    }

    #[test]
    fn columns_count_characters() {
        let p = position("é x", 3);
        assert_eq!(p.col, 3);
    }

    #[test]
    fn renders_rustc_style() {
        let text = "rule r\n  from payments\n  where amout > 10000\n".to_string();
        let d = Diagnostic::error(
            "E0201",
            0,
            31..36,
            "unknown field `amout` in stream `payments`",
            "not a field of `payments`",
        )
        .with_help("did you mean `amount`?");
        let out = render(
            &d,
            &[Source {
                name: "rules.eddy".into(),
                text,
            }],
        );
        assert_eq!(
            out,
            "error[E0201]: unknown field `amout` in stream `payments`\n --> rules.eddy:3:9\n  |\n3 |   where amout > 10000\n  |         ^^^^^ not a field of `payments`\n  |\n  = help: did you mean `amount`?\n"
        );
    }
}
