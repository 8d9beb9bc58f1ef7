//! Shared helpers: compile rule text next to the streams of docs/rules.md
//! and render every diagnostic.

// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use dsl::{compile, render, Source};

pub const STREAMS: &str = r#"stream auth (
    ts       timestamp,
    user_id  string,
    kind     string,
    ip       string,
    country  string?,
    device   (os string, model string?)?
) time ts lateness 5s

stream payments (
    ts          timestamp,
    payment_id  string,
    user_id     string,
    amount      float,
    currency    string
) time ts lateness 5s

stream settlements (
    ts          timestamp,
    payment_id  string,
    status      string
) time ts lateness 5s
"#;

/// Renders the diagnostics of `rules` (compiled after the shared streams),
/// and checks that no program came out.
pub fn diagnose(rules: &str) -> String {
    let sources = vec![
        Source {
            name: "streams.eddy".into(),
            text: STREAMS.into(),
        },
        Source {
            name: "rules.eddy".into(),
            text: rules.into(),
        },
    ];
    let (program, diags) = compile(&sources);
    assert!(program.is_none(), "expected errors, got a program");
    assert!(!diags.is_empty(), "no program and no diagnostics");
    diags
        .iter()
        .map(|d| render(d, &sources))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compiles a whole file on its own (for stream declaration errors).
pub fn diagnose_alone(text: &str) -> String {
    let sources = vec![Source {
        name: "rules.eddy".into(),
        text: text.into(),
    }];
    let (program, diags) = compile(&sources);
    assert!(program.is_none(), "expected errors, got a program");
    diags
        .iter()
        .map(|d| render(d, &sources))
        .collect::<Vec<_>>()
        .join("\n")
}
