//! The members of a JSON object as byte spans of its text, for rewriting
//! an object without re-encoding it (its other members, key order and
//! number formats stay exactly as they were).

/// The (key, value) byte spans of the members of a JSON object, in order.
/// `json` must be valid JSON; `None` when it is not an object.
pub fn top_level_members(json: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    if json.first() != Some(&b'{') {
        return None;
    }
    let mut members = Vec::new();
    let mut at = 1;
    loop {
        at = skip_whitespace(json, at);
        match json.get(at)? {
            b'}' => return Some(members),
            b',' => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let key_end = value_end(json, at)?;
        let key = &json[at..key_end];
        at = skip_whitespace(json, key_end);
        if json.get(at) != Some(&b':') {
            return None;
        }
        let value_start = skip_whitespace(json, at + 1);
        let end = value_end(json, value_start)?;
        members.push((key, &json[value_start..end]));
        at = end;
    }
}

fn skip_whitespace(json: &[u8], mut at: usize) -> usize {
    while json.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// The end of the JSON value starting at `start` (valid JSON assumed):
/// strings end at their closing quote, objects and arrays at their matching
/// bracket, other values at the next delimiter.
fn value_end(json: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in json.get(start..)?.iter().enumerate() {
        let at = start + offset;
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => {
                    in_string = false;
                    if depth == 0 {
                        return Some(at + 1);
                    }
                }
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            b',' | b'}' | b']' if depth == 0 => return Some(at),
            byte if depth == 0 && byte.is_ascii_whitespace() => return Some(at),
            _ => {}
        }
    }
    (depth == 0 && !in_string).then_some(json.len())
}
