//! The stable error codes. Each code names one kind of mistake and never
//! changes meaning; `dsl/ERRORS.md` documents them for analysts.
//!
//! E01xx: lexing and parsing. E02xx: names. E03xx: types. E04xx: structure.
//! E05xx: limits (see [`crate::limits`]).

macro_rules! codes {
    ($($name:ident = $code:literal : $desc:literal,)*) => {
        $(#[doc = $desc] pub const $name: &str = $code;)*
        /// Every code with its one-line description, in code order.
        pub const ALL: &[(&str, &str)] = &[$(($code, $desc)),*];
    };
}

codes! {
    INVALID_CHARACTER = "E0101": "a character that cannot start any token",
    UNTERMINATED_STRING = "E0102": "a string literal without its closing quote on the same line",
    UNTERMINATED_COMMENT = "E0103": "a `/*` block comment without its closing `*/`",
    BAD_DURATION = "E0104": "a duration with an unknown unit (units: ms, s, m, h, d) or out of range",
    NUMBER_OUT_OF_RANGE = "E0105": "an integer literal too large for a 64-bit integer",
    BAD_ESCAPE = "E0106": "an unknown escape sequence in a string literal",
    UNEXPECTED_TOKEN = "E0110": "the parser expected one thing and found another",
    UNKNOWN_CLAUSE = "E0111": "a word where a rule clause keyword (`from`, `by`, `pattern`, ...) was expected",
    DUPLICATE_CLAUSE = "E0112": "the same clause written twice in one rule",
    ASSIGN_AS_COMPARE = "E0113": "`=` used to compare values; comparison is `==`",
    UNKNOWN_ITEM = "E0114": "a word at the top level that is neither `stream` nor `rule`",
    TOO_DEEP = "E0115": "an expression or pattern nested too deeply or too long to check",
    TOO_MANY_ERRORS = "E0116": "more errors in one file than are shown (the first 100 are)",
    UNKNOWN_FIELD = "E0201": "a field that the stream (or record) does not have",
    UNKNOWN_STREAM = "E0202": "a stream that is neither declared nor emitted by a rule",
    UNKNOWN_FUNCTION = "E0203": "a function that does not exist",
    UNKNOWN_TYPE = "E0204": "a field type that does not exist",
    UNKNOWN_NAME = "E0205": "a name that is not a field, key or step in this position",
    DUPLICATE_NAME = "E0206": "two streams or two rules with the same name",
    DUPLICATE_FIELD = "E0207": "two fields with the same name in one stream or record",
    DUPLICATE_STEP = "E0208": "two pattern steps with the same name in one rule",
    RESERVED_NAME = "E0209": "a field name starting with `__` (reserved), or an emitted field named `time`",
    STEP_NOT_EARLIER = "E0210": "a step condition reads its own step or a later step",
    UNKNOWN_SEVERITY = "E0211": "a severity other than low, medium, high or critical",
    STREAM_EMIT_CLASH = "E0212": "an emit name that is also a declared stream",
    DUPLICATE_EMIT_FIELD = "E0213": "two emitted fields with the same name",
    DUPLICATE_KEY = "E0214": "two key parts with the same name in `by`",
    UNKNOWN_CLASSIFICATION = "E0215": "a classification other than public, internal or restricted",
    EMPTY_OWNER = "E0216": "an `owner` that is an empty string",
    TYPE_MISMATCH = "E0301": "an operand or argument of the wrong type",
    NOT_BOOL = "E0302": "a condition (`where`, `having`) that is not a bool",
    KEY_TYPE_MISMATCH = "E0303": "a key whose field has different types in different streams",
    TIME_FIELD_TYPE = "E0304": "a `time` field that is not a top-level timestamp",
    DERIVED_CONFLICT = "E0305": "two rules emitting the same name with different fields or types",
    BAD_ARGUMENTS = "E0306": "a function called with the wrong number or kind of arguments",
    MISSING_WITHIN = "E0401": "a pattern rule without `within`",
    MISSING_EMIT = "E0402": "a rule without `emit`",
    BY_ON_SIMPLE_RULE = "E0403": "`by` in a rule that has neither a window nor a pattern",
    HAVING_WITHOUT_WINDOW = "E0404": "`having` in a rule without a window",
    PATTERN_WITH_FROM = "E0405": "`from` and `pattern` in the same rule",
    BARE_FIELD_IN_WINDOW = "E0406": "a window rule reads a field outside an aggregate (only keys and aggregates exist after grouping)",
    NOT_FIRST = "E0407": "a pattern (or sequence) that starts with `not`",
    QUANTIFIED_NOT = "E0408": "a quantifier on a `not` step",
    BAD_QUANTIFIER = "E0409": "a quantifier whose bounds are empty or reversed, like {3,1} or {0}",
    BAD_ALL_MEMBER = "E0410": "an `all(...)` member that is not a single step without quantifier",
    NO_SOURCE = "E0411": "a rule with neither `from` nor `pattern`",
    KEY_FIELD_MISSING = "E0412": "a `by` key field missing from one of the streams the rule reads",
    RULE_CYCLE = "E0413": "rules that read each other's derived events in a cycle",
    AGGREGATE_NOT_ALLOWED = "E0414": "an aggregate where there is nothing to aggregate (simple rules, filters before a window)",
    EMIT_NEEDS_NAME = "E0415": "an emitted expression without a name (`x: s.x`)",
    MISPLACED_CLAUSE = "E0416": "`within` without a pattern, or `window` with a pattern",
    BAD_WINDOW = "E0417": "a zero duration, or a hop (`every`) longer than the window",
    MISPLACED_NOT = "E0418": "`not` outside a sequence, around a group, or trailing a nested group",
    BAD_TIME_FIELD = "E0419": "a stream without `time`, or whose `time` names no field",
    STEP_AS_VALUE = "E0420": "a step name used as a value (use `f.field` or `count(f)`)",
    NOT_BEFORE_OPTIONAL = "E0421": "a `not` followed only by optional steps (make one required, or put the `not` last)",
    MATCHES_NOTHING = "E0422": "a pattern whose steps are all optional, so that it matches without any event",
    INTERNAL = "E0499": "the checker could not finish a rule without saying why (a bug in eddy; please report it)",
    REPEAT_TOO_LARGE = "E0501": "a quantifier bound over 1000",
    TOO_MANY_STEPS = "E0502": "a pattern with more than 64 steps",
    PATTERN_TOO_LARGE = "E0503": "a pattern whose quantifiers unroll to more than 100000 automaton states",
    TOO_MANY_WINDOWS = "E0504": "a hopping window putting each event in more than 1000 windows (`window D every S` with D/S over 1000)",
    BAD_REGEX = "E0505": "a `matches` pattern that is not a valid regular expression",
    REGEX_TOO_LARGE = "E0506": "a `matches` pattern that compiles to more than the regex size limit (10 MiB)",
    DURATION_TOO_LONG = "E0507": "a duration over 36500d (100 years)",
}

#[cfg(test)]
mod tests {
    use super::ALL;

    #[test]
    fn codes_are_unique_and_documented() {
        let doc = include_str!("../ERRORS.md");
        for (i, (code, _)) in ALL.iter().enumerate() {
            assert!(
                !ALL[..i].iter().any(|(c, _)| c == code),
                "{code} used twice"
            );
            assert!(
                doc.contains(&format!("| {code} |")),
                "{code} missing from ERRORS.md"
            );
        }
    }
}
