//! Every rule pack in the repository's `examples/` compiles without a diagnostic.

use std::fs;
use std::path::Path;

#[test]
fn every_example_pack_compiles_cleanly() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in fs::read_dir(&examples).unwrap() {
        let rules = entry.unwrap().path().join("rules.eddy");
        if !rules.is_file() {
            continue;
        }
        let source = dsl::Source {
            name: rules.display().to_string(),
            text: fs::read_to_string(&rules).unwrap(),
        };
        let (program, diagnostics) = dsl::compile(std::slice::from_ref(&source));
        let rendered: Vec<String> = diagnostics
            .iter()
            .map(|d| dsl::render(d, std::slice::from_ref(&source)))
            .collect();
        assert!(
            diagnostics.is_empty(),
            "{}:\n{}",
            rules.display(),
            rendered.join("\n")
        );
        assert!(program.is_some());
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected at least three packs, found {checked}"
    );
}
