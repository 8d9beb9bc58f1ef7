//! "Did you mean" hints.

/// The candidate closest to `name` (Damerau-Levenshtein distance at most 2,
/// and less than the name's length so short names don't match anything).
pub fn closest<'a, I, S>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + 'a + ?Sized,
{
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| c.as_ref())
        .filter(|c| *c != name)
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2 && *d < name.chars().count())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The duration unit a misspelt one most likely meant.
pub fn duration_unit(unit: &str) -> Option<&'static str> {
    let unit = unit.to_lowercase();
    let table: &[(&[&str], &str)] = &[
        (
            &["msec", "msecs", "millis", "millisecond", "milliseconds"],
            "ms",
        ),
        (&["sec", "secs", "second", "seconds"], "s"),
        (&["min", "mins", "minute", "minutes"], "m"),
        (&["hr", "hrs", "hour", "hours"], "h"),
        (&["day", "days"], "d"),
    ];
    table
        .iter()
        .find(|(names, _)| names.contains(&unit.as_str()))
        .map(|(_, u)| *u)
}

/// `did you mean `x`?` or nothing.
pub fn did_you_mean<'a, I, S>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a S>,
    S: AsRef<str> + 'a + ?Sized,
{
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_close_name() {
        assert_eq!(
            closest("amout", ["amount", "currency"].iter()),
            Some("amount")
        );
        assert_eq!(
            closest("withn", ["within", "window"].iter()),
            Some("within")
        );
    }

    #[test]
    fn ignores_far_names() {
        assert_eq!(closest("zzz", ["amount"].iter()), None);
    }

    #[test]
    fn maps_spelled_out_units() {
        assert_eq!(duration_unit("min"), Some("m"));
        assert_eq!(duration_unit("x"), None);
    }
}
