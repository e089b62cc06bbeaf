//! The ONNX Runtime shared library, loaded once per process from the path the setup installed
//! (no download at build or run time).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::LoadError;

/// Where `scripts/build-models` links the library when no path is configured.
pub fn default_library_path() -> PathBuf {
    let cache = std::env::var_os("ARAS_CACHE_DIR").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/aras"),
        PathBuf::from,
    );
    cache.join("lib/libonnxruntime.so")
}

/// Loads the library and builds the process-wide environment, once; later calls return the
/// first outcome (ONNX Runtime allows one environment per process).
pub fn init(path: &Path) -> Result<ort::environment::Environment, LoadError> {
    static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    let outcome = ENVIRONMENT.get_or_init(|| {
        if !path.exists() {
            return Err(format!("{} does not exist", path.display()));
        }
        let builder = ort::init_from(path).map_err(|e| e.to_string())?;
        builder.with_name("aras").build().map_err(|e| e.to_string())
    });
    outcome.clone().map_err(|message| LoadError::Runtime {
        path: path.to_owned(),
        message,
    })
}
