//! `checkpoint.dir`: a local directory, or a bucket prefix of an
//! S3-protocol object store.
//!
//! ```toml
//! dir = "eddy-checkpoints"               # a local path (relative to the working dir)
//! dir = "file:///var/lib/eddy"           # the same, as a URL
//! dir = "s3://my-bucket/eddy/prod"       # bucket `my-bucket`, key prefix `eddy/prod`
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

/// Where checkpoints are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointLocation {
    Local(PathBuf),
    /// `s3://BUCKET/PREFIX`: the prefix has no leading or trailing `/`.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl CheckpointLocation {
    /// Reads a `checkpoint.dir` value; a text without `scheme://` is a path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Ok(CheckpointLocation::Local(PathBuf::from(text)));
        };
        match scheme {
            "file" => Ok(CheckpointLocation::Local(PathBuf::from(rest))),
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("`{text}` names no bucket (s3://BUCKET/PREFIX)"));
                }
                Ok(CheckpointLocation::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                })
            }
            other => Err(format!(
                "`{text}`: checkpoints go to a local path, `file://` or `s3://`, not `{other}://`"
            )),
        }
    }
}

impl fmt::Display for CheckpointLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointLocation::Local(path) => write!(f, "{}", path.display()),
            CheckpointLocation::S3 { bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3://{bucket}")
            }
            CheckpointLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl<'de> Deserialize<'de> for CheckpointLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CheckpointLocation::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_urls() {
        let local = |p: &str| CheckpointLocation::Local(PathBuf::from(p));
        assert_eq!(CheckpointLocation::parse("ck"), Ok(local("ck")));
        assert_eq!(
            CheckpointLocation::parse("file:///var/ck"),
            Ok(local("/var/ck"))
        );
        let s3 = CheckpointLocation::parse("s3://bucket/eddy/prod/").unwrap();
        assert_eq!(
            s3,
            CheckpointLocation::S3 {
                bucket: "bucket".into(),
                prefix: "eddy/prod".into()
            }
        );
        assert_eq!(s3.to_string(), "s3://bucket/eddy/prod");
        assert_eq!(
            CheckpointLocation::parse("s3://b").unwrap().to_string(),
            "s3://b"
        );
        assert!(CheckpointLocation::parse("s3:///p").is_err());
        assert!(CheckpointLocation::parse("gs://b/p")
            .unwrap_err()
            .contains("not `gs://`"));
    }
}
