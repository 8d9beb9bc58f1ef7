//! `window D`, `window D every S`, `window session G`.

use crate::ast::{Spanned, WindowDecl};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::limits::{windows_per_event, MAX_WINDOWS_PER_EVENT};
use crate::plan::WindowSpec;

pub fn window_spec(
    file: usize,
    window: &Spanned<WindowDecl>,
    diags: &mut Vec<Diagnostic>,
) -> Option<WindowSpec> {
    let bad = |message: &str, help: &str| {
        Diagnostic::error(
            codes::BAD_WINDOW,
            file,
            window.span.clone(),
            message,
            "invalid window",
        )
        .with_help(help)
    };
    let spec = match window.value {
        WindowDecl::Tumbling(size) => WindowSpec::Tumbling { size: size.millis },
        WindowDecl::Hopping(size, slide) => WindowSpec::Hopping {
            size: size.millis,
            slide: slide.millis,
        },
        WindowDecl::Session(gap) => WindowSpec::Session { gap: gap.millis },
    };
    let zero = match spec {
        WindowSpec::Tumbling { size } => size <= 0,
        WindowSpec::Hopping { size, slide } => size <= 0 || slide <= 0,
        WindowSpec::Session { gap } => gap <= 0,
    };
    if zero {
        diags.push(bad(
            "window durations must be longer than zero",
            "for example `window 5m`",
        ));
        return None;
    }
    if let WindowSpec::Hopping { size, slide } = spec {
        if slide > size {
            diags.push(bad(
                "expected a hop (`every`) no longer than the window, found a longer one",
                "with `window D every S`, S must be at most D, or events fall between windows",
            ));
            return None;
        }
        // Each event goes to ceil(D / S) windows: `30d every 1ms` would open
        // billions of them per event, so the operators refuse it and so do we.
        let per_event = windows_per_event(size, slide);
        if per_event > MAX_WINDOWS_PER_EVENT {
            diags.push(
                Diagnostic::error(
                    codes::TOO_MANY_WINDOWS,
                    file,
                    window.span.clone(),
                    format!(
                        "this window puts every event in {per_event} windows, over the limit of {MAX_WINDOWS_PER_EVENT}"
                    ),
                    "window length divided by hop is too large",
                )
                .with_help(format!(
                    "with `window D every S` each event belongs to D/S windows; \
                     make the hop at least 1/{MAX_WINDOWS_PER_EVENT} of the window"
                )),
            );
            return None;
        }
    }
    Some(spec)
}
