//! Errors of `eddy catalog`: reading or writing documents.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the previous catalog {path}: {source}")]
    ReadPrevious {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the previous catalog {path} is not YAML: {source}")]
    ParsePrevious {
        path: PathBuf,
        #[source]
        source: serde_norway::Error,
    },
    #[error("the previous catalog {path} is not an eddy catalog: {reason}")]
    NotACatalog {
        path: PathBuf,
        #[source]
        reason: super::compat::Malformed,
    },
    #[error("cannot write the catalog to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the catalog as YAML: {0}")]
    Render(#[from] serde_norway::Error),
    #[error("cannot represent the catalog as JSON: {0}")]
    AsJson(#[source] serde_json::Error),
    #[error("the new catalog is inconsistent: {0}")]
    Inconsistent(#[source] super::compat::Malformed),
}
