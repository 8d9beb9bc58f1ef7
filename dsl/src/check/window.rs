//! `window D`, `window D every S`, `window session G`.

use crate::ast::{Spanned, WindowDecl};
use crate::codes;
use crate::diagnostic::Diagnostic;
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
    }
    Some(spec)
}
