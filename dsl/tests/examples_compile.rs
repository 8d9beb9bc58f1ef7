//! The examples of docs/rules.md compile, and their plans have the shape
//! the operators rely on.

use dsl::plan::*;
use dsl::{compile, render, Source};

fn rules_md() -> Vec<Source> {
    vec![Source {
        name: "rules_md.eddy".into(),
        text: include_str!("fixtures/rules_md.eddy").into(),
    }]
}

fn program() -> Program {
    let sources = rules_md();
    let (program, diags) = compile(&sources);
    let rendered: Vec<String> = diags.iter().map(|d| render(d, &sources)).collect();
    assert!(
        diags.is_empty(),
        "unexpected diagnostics:\n{}",
        rendered.join("\n")
    );
    program.expect("a program when there are no errors")
}

fn rule<'p>(program: &'p Program, name: &str) -> &'p RulePlan {
    program
        .rules
        .iter()
        .find(|r| r.name == name)
        .expect("rule exists")
}

fn field(path: &[&str]) -> ExprKind {
    ExprKind::Field(path.iter().map(|s| s.to_string()).collect())
}

fn string(s: &str) -> Expr {
    Expr {
        kind: ExprKind::Literal(Literal::String(s.into())),
        ty: DataType::String,
    }
}

#[test]
fn rules_md_examples_compile_without_diagnostics() {
    let program = program();
    let names: Vec<&str> = program.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "large_payment",
            "account_takeover",
            "unsettled_payment",
            "password_spray"
        ]
    );
}

#[test]
fn account_takeover_has_three_steps_with_local_and_cross_conditions() {
    let program = program();
    let r = rule(&program, "account_takeover");
    assert_eq!(r.severity.as_deref(), Some("high"));
    let RuleKind::Pattern(p) = &r.kind else {
        panic!("not a pattern: {:?}", r.kind)
    };
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.within, 600_000);
    let s = &p.steps[1];
    assert_eq!(s.name, "s");
    assert_eq!(
        s.local,
        Some(Expr {
            kind: ExprKind::Binary {
                op: BinaryOp::Eq,
                left: Box::new(Expr {
                    kind: field(&["kind"]),
                    ty: DataType::String
                }),
                right: Box::new(string("login_ok")),
            },
            ty: DataType::Bool,
        })
    );
    assert_eq!(
        s.cross,
        Some(Expr {
            kind: ExprKind::Binary {
                op: BinaryOp::NotEq,
                left: Box::new(Expr {
                    kind: field(&["ip"]),
                    ty: DataType::String
                }),
                right: Box::new(Expr {
                    kind: ExprKind::StepField {
                        step: 0,
                        path: vec!["ip".into()]
                    },
                    ty: DataType::String,
                }),
            },
            ty: DataType::Bool,
        })
    );
    assert_eq!(
        p.root,
        PatternNode::Seq(vec![
            PatternNode::Repeat {
                node: Box::new(PatternNode::Step(0)),
                min: 3,
                max: None
            },
            PatternNode::Step(1),
            PatternNode::Step(2),
        ])
    );
    let key = p.key.as_ref().expect("keyed by user_id");
    assert_eq!(key.parts.len(), 1);
    assert_eq!(key.parts[0].name, "user_id");
    assert_eq!(
        key.parts[0].path_in("payments"),
        Some(&["user_id".to_string()][..])
    );
}

#[test]
fn account_takeover_emit_reads_keys_steps_and_aggregates() {
    let program = program();
    let r = rule(&program, "account_takeover");
    let kinds: Vec<(&str, &ExprKind, &DataType)> = r
        .emit
        .fields
        .iter()
        .map(|f| (f.name.as_str(), &f.expr.kind, &f.expr.ty))
        .collect();
    assert_eq!(kinds[0], ("user_id", &ExprKind::Key(0), &DataType::String));
    assert_eq!(
        kinds[1],
        (
            "failures",
            &ExprKind::Aggregate {
                func: AggFunc::Count,
                step: Some(0),
                arg: None
            },
            &DataType::Int
        )
    );
    assert!(matches!(
        kinds[2].1,
        ExprKind::Aggregate {
            func: AggFunc::First,
            step: Some(0),
            arg: Some(_)
        }
    ));
    assert_eq!(kinds[2].2, &DataType::Timestamp);
    assert_eq!(
        kinds[3].1,
        &ExprKind::StepField {
            step: 1,
            path: vec!["ip".into()]
        }
    );
    assert_eq!(kinds[4].2, &DataType::Float);
}

#[test]
fn unsettled_payment_ends_with_a_not_step() {
    let program = program();
    let RuleKind::Pattern(p) = &rule(&program, "unsettled_payment").kind else {
        panic!()
    };
    assert_eq!(
        p.root,
        PatternNode::Seq(vec![PatternNode::Step(0), PatternNode::Not(1)])
    );
    assert_eq!(p.steps[1].name, "_1");
    assert_eq!(p.steps[1].stream, "settlements");
    let key = p.key.as_ref().unwrap();
    assert_eq!(key.parts[0].per_stream.len(), 2);
}

#[test]
fn password_spray_is_a_hopping_window() {
    let program = program();
    let RuleKind::Window(w) = &rule(&program, "password_spray").kind else {
        panic!()
    };
    assert_eq!(
        w.window,
        WindowSpec::Hopping {
            size: 300_000,
            slide: 60_000
        }
    );
    assert!(w.filter.is_some());
    assert!(w.having.is_some());
    assert_eq!(w.key.as_ref().unwrap().parts[0].name, "ip");
}

#[test]
fn large_payment_is_a_simple_filter() {
    let program = program();
    let RuleKind::Simple(s) = &rule(&program, "large_payment").kind else {
        panic!()
    };
    assert_eq!(s.stream, "payments");
    assert!(matches!(
        s.filter.as_ref().unwrap().kind,
        ExprKind::Binary {
            op: BinaryOp::And,
            ..
        }
    ));
}

#[test]
fn derived_streams_follow_declared_ones() {
    let program = program();
    let names: Vec<&str> = program
        .catalog
        .streams
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "auth",
            "payments",
            "settlements",
            "large_payment",
            "takeover",
            "unsettled",
            "password_spray"
        ]
    );
    let takeover = program.catalog.stream("takeover").unwrap();
    assert_eq!(takeover.time_field, DERIVED_TIME_FIELD);
    assert_eq!(takeover.derived_from, Some(1));
    assert!(takeover
        .fields
        .iter()
        .any(|f| f.name == "time" && f.ty == DataType::Timestamp));
    let auth = program.catalog.stream("auth").unwrap();
    assert_eq!(auth.lateness, 5_000);
    assert!(auth
        .fields
        .iter()
        .any(|f| f.name == "country" && f.nullable));
}

fn compile_ok(text: &str) -> Program {
    let sources = vec![
        Source {
            name: "rules_md.eddy".into(),
            text: include_str!("fixtures/rules_md.eddy").into(),
        },
        Source {
            name: "more.eddy".into(),
            text: text.into(),
        },
    ];
    let (program, diags) = compile(&sources);
    let rendered: Vec<String> = diags.iter().map(|d| render(d, &sources)).collect();
    assert!(
        diags.is_empty(),
        "unexpected diagnostics:\n{}",
        rendered.join("\n")
    );
    program.expect("a program")
}

#[test]
fn a_rule_reading_a_derived_stream_comes_after_its_producer() {
    let program = compile_ok(
        "rule repeat_takeover\n  from big_takeover\n  by user_id\n  window 1d\n  having count() > 1\n  emit repeat_takeover { user_id, n: count() }\n\n\
         rule big_takeover_filter\n  from takeover where amount > 5000\n  emit big_takeover { user_id, amount }\n",
    );
    let names: Vec<&str> = program.rules.iter().map(|r| r.name.as_str()).collect();
    let producer = names
        .iter()
        .position(|n| *n == "big_takeover_filter")
        .unwrap();
    let consumer = names.iter().position(|n| *n == "repeat_takeover").unwrap();
    assert!(producer < consumer, "{names:?}");
    let big = program.catalog.stream("big_takeover").unwrap();
    assert_eq!(big.derived_from, Some(producer));
    assert_eq!(program.rules[producer].emit.name, "big_takeover");
}

#[test]
fn linked_keys_nested_fields_and_session_windows() {
    let program = compile_ok(
        "stream logins (ts timestamp, owner string, device (os string, model string?)) time ts\n\n\
         rule linked\n  by auth.user_id = payments.user_id = logins.owner\n  pattern a: auth -> l: logins where device.os == \"ios\" -> p: payments\n  within 1h\n  emit linked { user_id, os: l.device.os }\n\n\
         rule sessions\n  from payments\n  by user_id\n  window session 30m\n  having sum(amount) > 100.0 and p95(amount) > 10\n  emit spend { user_id, total: sum(amount), avg: avg(amount) }\n",
    );
    let linked = program.rules.iter().find(|r| r.name == "linked").unwrap();
    let key = linked.key().unwrap();
    assert_eq!(key.parts[0].name, "user_id");
    assert_eq!(
        key.parts[0].path_in("logins"),
        Some(&["owner".to_string()][..])
    );
    let RuleKind::Pattern(p) = &linked.kind else {
        panic!()
    };
    assert_eq!(
        p.steps[1].local.as_ref().map(|e| &e.kind),
        Some(&ExprKind::Binary {
            op: BinaryOp::Eq,
            left: Box::new(Expr {
                kind: field(&["device", "os"]),
                ty: DataType::String
            }),
            right: Box::new(string("ios")),
        })
    );
    let sessions = program.rules.iter().find(|r| r.name == "sessions").unwrap();
    let RuleKind::Window(w) = &sessions.kind else {
        panic!()
    };
    assert_eq!(w.window, WindowSpec::Session { gap: 1_800_000 });
    // `p95(amount) > 10`: the int literal is widened to float.
    let Some(Expr {
        kind: ExprKind::Binary { right, .. },
        ..
    }) = &w.having
    else {
        panic!()
    };
    let ExprKind::Binary { right: ten, .. } = &right.kind else {
        panic!()
    };
    assert!(matches!(
        ten.kind,
        ExprKind::Cast {
            to: DataType::Float,
            ..
        }
    ));
}

#[test]
fn quantifiers_groups_alternation_and_all() {
    let program = compile_ok(
        "rule shapes\n  by user_id\n  pattern (a: auth | b: auth where kind == \"x\")+ -> all(c: payments, d: auth) -> e: auth? -> f: auth{2,4} -> not g: payments\n  within 1h\n  emit shapes { user_id, n: count(a), total: sum(c.amount) }\n",
    );
    let rule = program.rules.iter().find(|r| r.name == "shapes").unwrap();
    let RuleKind::Pattern(p) = &rule.kind else {
        panic!()
    };
    assert_eq!(p.steps.len(), 7);
    assert_eq!(
        p.root,
        PatternNode::Seq(vec![
            PatternNode::Repeat {
                node: Box::new(PatternNode::Alt(vec![
                    PatternNode::Step(0),
                    PatternNode::Step(1)
                ])),
                min: 1,
                max: None
            },
            PatternNode::All(vec![2, 3]),
            PatternNode::Repeat {
                node: Box::new(PatternNode::Step(4)),
                min: 0,
                max: Some(1)
            },
            PatternNode::Repeat {
                node: Box::new(PatternNode::Step(5)),
                min: 2,
                max: Some(4)
            },
            PatternNode::Not(6),
        ])
    );
}

#[test]
fn step_conditions_may_aggregate_earlier_steps() {
    let program = compile_ok(
        "rule many\n  by user_id\n  pattern f: auth+ -> p: payments where count(f) > 3 and amount > 10\n  within 1h\n  emit many { user_id }\n",
    );
    let RuleKind::Pattern(p) = &program
        .rules
        .iter()
        .find(|r| r.name == "many")
        .unwrap()
        .kind
    else {
        panic!()
    };
    assert!(p.steps[1].local.is_some());
    assert!(matches!(
        &p.steps[1].cross.as_ref().unwrap().kind,
        ExprKind::Binary { left, .. } if matches!(left.kind, ExprKind::Aggregate { func: AggFunc::Count, step: Some(0), arg: None })
    ));
}
