//! Errors reported at the edge: the message with its chain of causes.

/// `error` and its causes as one line, `outer: cause: cause`; a cause whose
/// text the line already holds is not repeated.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    // Error chains are short; the bound guards against a cyclic chain.
    for _ in 0..8 {
        let Some(cause) = source else { break };
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
