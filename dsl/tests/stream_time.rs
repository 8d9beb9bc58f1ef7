//! A stream's time clauses: `lateness`, and `ahead`, the bound on how far
//! ahead of the wall clock an event may be; and the bound on durations that
//! keeps every derived time writable in RFC 3339.

use dsl::plan::{Program, DEFAULT_AHEAD};
use dsl::{compile, Source};

fn program(text: &str) -> Result<Program, Vec<String>> {
    let sources = [Source {
        name: "t.eddy".into(),
        text: text.into(),
    }];
    let (program, diagnostics) = compile(&sources);
    program.ok_or_else(|| {
        diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect()
    })
}

#[test]
fn ahead_is_a_stream_clause_with_a_default_of_one_day() {
    let program = program(
        "stream a ( ts timestamp ) time ts lateness 5s ahead 10m\n\
         stream b ( ts timestamp ) ahead 2h time ts\n\
         stream c ( ts timestamp ) time ts\n\
         rule r from a emit x { ts }\n",
    )
    .unwrap();
    let ahead: Vec<i64> = program.catalog.streams[..3]
        .iter()
        .map(|s| s.ahead)
        .collect();
    assert_eq!(ahead, [600_000, 7_200_000, DEFAULT_AHEAD]);
    assert_eq!(DEFAULT_AHEAD, 86_400_000);
}

#[test]
fn durations_over_a_hundred_years_are_refused() {
    for text in [
        "stream a ( ts timestamp ) time ts ahead 36501d\n",
        "stream a ( ts timestamp, k string ) time ts\n\
         rule r by k pattern x: a -> y: a within 876001h emit e { k }\n",
    ] {
        let errors = program(text).unwrap_err();
        assert!(
            errors.iter().any(|e| e.starts_with("E0507")),
            "{text}: {errors:?}"
        );
    }
    assert!(program("stream a ( ts timestamp ) time ts ahead 36500d\n").is_ok());
}
