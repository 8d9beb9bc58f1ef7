//! Checkpoints in a bucket of a real S3-protocol server (moto, started by
//! `.ci/s3.sh`): the storage contract, and a store seen through a URL.

mod s3_support;
mod storage_contract;

#[test]
fn a_bucket_keeps_the_storage_contract() {
    let endpoint = require_s3!();
    let bucket = s3_support::new_bucket(&endpoint, "eddy-contract");
    storage_contract::run_all(s3_support::storage(&endpoint, &bucket, "eddy/ck"), "run");
}

#[test]
fn objects_live_under_the_configured_prefix() {
    let endpoint = require_s3!();
    let bucket = s3_support::new_bucket(&endpoint, "eddy-prefix");
    let inside = s3_support::storage(&endpoint, &bucket, "team/eddy");
    inside.create("partition-0/x", b"1").unwrap();
    let root = s3_support::storage(&endpoint, &bucket, "");
    assert_eq!(root.list("").unwrap().prefixes, vec!["team".to_string()]);
    assert_eq!(
        root.read("team/eddy/partition-0/x").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        inside.location("partition-0/x"),
        format!("s3://{bucket}/team/eddy/partition-0/x")
    );
}

#[test]
fn a_missing_bucket_is_an_error_that_names_it() {
    let endpoint = require_s3!();
    let storage = s3_support::storage(&endpoint, "eddy-no-such-bucket", "p");
    let error = storage.list("").unwrap_err().to_string();
    assert!(error.contains("s3://eddy-no-such-bucket/p"), "{error}");
}
