//! Every simple and window rule of the example packs (examples/*/rules.eddy)
//! compiles to an operator and runs on an empty input to the end of time.

use std::path::Path;

use dsl::plan::{Millis, RuleKind};
use operators::{build, StateSize};

#[test]
fn simple_and_window_rules_of_the_example_packs_build_and_run() {
    let packs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut built = 0;
    for pack in ["fraud", "iot", "security"] {
        let path = packs.join(pack).join("rules.eddy");
        let text = std::fs::read_to_string(&path).unwrap();
        let source = dsl::Source {
            name: path.display().to_string(),
            text,
        };
        let (program, diagnostics) = dsl::compile(&[source]);
        let program = program.unwrap_or_else(|| panic!("{pack} compiles: {diagnostics:?}"));
        for (index, rule) in program.rules.iter().enumerate() {
            if matches!(rule.kind, RuleKind::Pattern(_)) {
                continue;
            }
            let mut op = build(index, rule, &program.catalog)
                .unwrap_or_else(|e| panic!("{pack}/{}: {e}", rule.name));
            let mut out = Vec::new();
            op.on_watermark(Millis::MAX, &mut out).unwrap();
            assert!(out.is_empty());
            assert_eq!(op.state_size(), StateSize::default());
            built += 1;
        }
    }
    assert!(built >= 5, "only {built} simple and window rules found");
}
