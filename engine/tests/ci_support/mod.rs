//! Shared by the test-server supports (`kafka_support`, `s3_support`):
//! whether a missing server fails the tests instead of skipping them.

/// Under CI (`CI=true`, as CI services and `.ci/run` set it) or when the
/// server's own variable `var` is `1` or `true`.
pub fn server_required(var: &str) -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .is_ok_and(|v| ["1", "true"].contains(&v.trim().to_ascii_lowercase().as_str()))
    };
    set("CI") || set(var)
}
