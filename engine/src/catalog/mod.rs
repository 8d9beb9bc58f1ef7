//! `eddy catalog`: the streams a rule set reads and the derived events it
//! emits, as an AsyncAPI 3.0 document, and a compatibility check of the
//! derived events against a previous document.
//!
//! - [`model`]: what is described, from the checked program and the config.
//! - [`schema`]: JSON Schemas of the rule language's types.
//! - [`asyncapi`]: the document and its YAML.
//! - [`cloudevent`]: the schemas of a derived event.
//! - [`compat`]: what changed between two documents, and what may.

pub mod asyncapi;
pub mod cloudevent;
pub mod compat;
pub mod error;
pub mod model;
pub mod schema;

use std::collections::BTreeMap;
use std::path::Path;

use dsl::plan::Program;
use serde_json::Value;

pub use asyncapi::{Document, Header};
pub use compat::{Allowances, Change, EventShape};
pub use error::CatalogError;
pub use model::Catalog;

use crate::config::Config;

/// The AsyncAPI document of `program` deployed as `config` says.
pub fn document(program: &Program, config: &Config, header: &Header) -> Document {
    asyncapi::document(&Catalog::of(program, config), header)
}

/// The document as block YAML.
pub fn to_yaml(document: &Document) -> Result<String, CatalogError> {
    Ok(asyncapi::to_yaml(document)?)
}

/// The derived events of a previous catalog file.
pub fn read_previous(path: &Path) -> Result<BTreeMap<String, EventShape>, CatalogError> {
    let text = std::fs::read_to_string(path).map_err(|source| CatalogError::ReadPrevious {
        path: path.to_path_buf(),
        source,
    })?;
    let value: Value =
        serde_norway::from_str(&text).map_err(|source| CatalogError::ParsePrevious {
            path: path.to_path_buf(),
            source,
        })?;
    compat::event_shapes(&value).map_err(|reason| CatalogError::NotACatalog {
        path: path.to_path_buf(),
        reason,
    })
}

/// The derived events of a new document, read as a previous one would be.
pub fn current_shapes(document: &Document) -> Result<BTreeMap<String, EventShape>, CatalogError> {
    let value = serde_json::to_value(document).map_err(CatalogError::AsJson)?;
    compat::event_shapes(&value).map_err(CatalogError::Inconsistent)
}
