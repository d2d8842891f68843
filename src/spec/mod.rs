//! The container configuration: loading `config.json`, checking what it
//! means, and converting it once into berth's own validated model.
//!
//! Nothing outside this module walks `oci-spec`'s `Option` chains for the
//! fields the launch path needs; it reads [`Config`] instead.

pub mod host;
mod linux;
mod load;
pub mod model;
pub mod mountopt;
pub mod process;
pub mod template;
mod validate;

use std::path::{Path, PathBuf};

pub use linux::valid_ifname;
pub use load::{parse, parse_json, parse_value};
pub use model::*;
pub use validate::{build, build_process};

/// Why a bundle's configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not well-formed JSON.
    #[error("config.json: line {line} column {column}: {msg}")]
    Syntax {
        line: usize,
        column: usize,
        msg: String,
    },
    /// A value is of the wrong shape or meaning; `field` is its JSON path.
    #[error("config.json: {field}: {msg}")]
    Invalid { field: String, msg: String },
}

impl SpecError {
    /// An error about the field at JSON path `field`.
    pub fn invalid(field: impl Into<String>, msg: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            msg: msg.into(),
        }
    }

    /// The JSON path of the offending field, if the error concerns one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Reads, parses and validates `<bundle>/config.json`.
///
/// `bundle` must be absolute; relative paths in the config (root, bind
/// sources) are resolved against it.
pub fn load_bundle(bundle: &Path) -> Result<Config, SpecError> {
    load_bundle_bytes(bundle).map(|(c, _)| c)
}

/// Like [`load_bundle`], also returning the file's bytes (which `create`
/// keeps as the container's configuration).
pub fn load_bundle_bytes(bundle: &Path) -> Result<(Config, Vec<u8>), SpecError> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).map_err(|source| SpecError::Read { path, source })?;
    let spec = parse(&bytes)?;
    Ok((build(spec, bundle)?, bytes))
}
