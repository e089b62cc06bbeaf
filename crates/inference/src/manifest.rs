//! `models/models.toml`: the declaration of every model ARAS can serve. Each model's files live
//! in `<models dir>/<id>/` (`model.onnx`, `tokenizer.json`, `config.json`), built by
//! `scripts/build-models` (offline) or `scripts/export-models` (from the hub).

use std::path::Path;

use serde::Deserialize;

use crate::error::LoadError;

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Embedding,
    Sentiment,
}

/// How per-token outputs become one vector; `none` when the graph already pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    #[default]
    None,
    Mean,
    Cls,
}

/// One model, as the manifest declares it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub task: Task,
    /// Longest input in tokens, special tokens included; longer inputs are truncated.
    pub max_length: usize,
    /// The graph output to read: `[batch, n]` (pooled vectors, logits) or `[batch, seq, n]`.
    pub output: String,
    #[serde(default)]
    pub pooling: Pooling,
    /// Width of the output: the embedding dimension, or the number of labels.
    pub dimension: usize,
    /// Sentiment: the labels in output order; must equal `config.json` `id2label`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Embedding: whether the graph's vectors are already L2-normalised.
    #[serde(default)]
    pub normalized: bool,
    /// Embedding: prepended to queries (e5: `query: `).
    #[serde(default)]
    pub query_prefix: String,
    /// Embedding: prepended to documents (e5: `passage: `).
    #[serde(default)]
    pub passage_prefix: String,
    /// Sentiment: prepended to every text, as in training.
    #[serde(default)]
    pub text_prefix: String,
    /// Most texts per forward pass, below the service's own limit. 1 for a model whose result
    /// for a text would otherwise depend on the texts batched with it (dynamic int8
    /// quantisation scales activations per batch).
    #[serde(default)]
    pub max_batch_size: Option<usize>,
    /// Where the weights come from and how they were built.
    #[serde(default)]
    pub source: String,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => LoadError::MissingFile {
                path: path.to_owned(),
            },
            _ => LoadError::Io {
                path: path.to_owned(),
                source,
            },
        })?;
        toml::from_str(&text).map_err(|e| LoadError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// The entry for `id`, which must be of `task`.
    pub fn get(&self, id: &str, task: Task, path: &Path) -> Result<&ModelSpec, LoadError> {
        let spec =
            self.models
                .iter()
                .find(|m| m.id == id)
                .ok_or_else(|| LoadError::UnknownModel {
                    id: id.to_owned(),
                    path: path.to_owned(),
                    known: self
                        .models
                        .iter()
                        .map(|m| m.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        if spec.task != task {
            return Err(LoadError::Mismatch {
                id: id.to_owned(),
                message: format!("declared for {:?}, asked for {task:?}", spec.task),
            });
        }
        Ok(spec)
    }
}
