//! Issue 11: `eddy check` on a megabyte of garbage reports a bounded number
//! of diagnostics (the per-file cap plus one note), and does not take
//! quadratic time getting there. No timing assertion: the count is what is
//! checked; a quadratic pass would show as a test that takes minutes.

use dsl::limits::MAX_DIAGNOSTICS_PER_FILE;
use dsl::{codes, compile, render, Source};

/// A fixed xorshift generator: the same garbage every run.
fn garbage(len: usize, mut state: u64) -> String {
    let alphabet: Vec<char> = (32u8..127)
        .map(char::from)
        .chain(['\n'; 5])
        .chain(['é', 'ß', '→'])
        .collect();
    let mut out = String::with_capacity(len + 4);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push(alphabet[(state % alphabet.len() as u64) as usize]);
    }
    out
}

#[test]
fn a_megabyte_of_garbage_gives_at_most_the_cap_plus_one_diagnostics() {
    let sources = vec![Source {
        name: "garbage.eddy".into(),
        text: garbage(1 << 20, 0x9e37_79b9_7f4a_7c15),
    }];
    let (program, diags) = compile(&sources);
    assert!(program.is_none());
    assert!(
        diags.len() <= MAX_DIAGNOSTICS_PER_FILE + 1,
        "{} diagnostics",
        diags.len()
    );
    let last = diags.last().unwrap();
    assert_eq!(last.code, codes::TOO_MANY_ERRORS, "{last:?}");
    // Rendering them all is linear too (each finds its line once).
    for d in &diags {
        assert!(!render(d, &sources).is_empty());
    }
}

#[test]
fn the_cap_is_per_file() {
    let text = garbage(64 << 10, 7);
    let sources = vec![
        Source {
            name: "a.eddy".into(),
            text: text.clone(),
        },
        Source {
            name: "b.eddy".into(),
            text,
        },
    ];
    let (_, diags) = compile(&sources);
    for file in 0..2 {
        let n = diags.iter().filter(|d| d.file == file).count();
        assert!(n <= MAX_DIAGNOSTICS_PER_FILE + 1, "file {file}: {n}");
        assert!(n > MAX_DIAGNOSTICS_PER_FILE, "file {file}: {n}");
    }
}
