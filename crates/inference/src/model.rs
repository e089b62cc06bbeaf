//! A loaded model: its files checked against the manifest, its tokenizer, one ONNX Runtime
//! session built once, and the forward pass with pooling.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{Array2, ArrayViewD, Axis, Ix2, Ix3};
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{InferenceError, LoadError};
use crate::manifest::{ModelSpec, Pooling, Task};

/// The graph inputs ARAS knows how to feed (the Hugging Face encoder contract).
const KNOWN_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

/// One text as token ids, unpadded.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub ids: Vec<i64>,
    /// Whether the text was cut to the model's maximum length.
    pub truncated: bool,
}

impl Encoded {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

pub struct Model {
    pub spec: ModelSpec,
    tokenizer: Tokenizer,
    /// One session per lane: lanes run forward passes in parallel.
    sessions: Vec<Mutex<Session>>,
    /// The graph's inputs, in its order.
    input_names: Vec<String>,
    pad_id: i64,
}

/// The files of a model directory.
pub struct ModelFiles {
    pub onnx: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PathBuf,
}

impl ModelFiles {
    /// Checks that every file is there, naming the first one missing.
    pub fn locate(dir: &Path) -> Result<Self, LoadError> {
        let files = Self {
            onnx: dir.join("model.onnx"),
            tokenizer: dir.join("tokenizer.json"),
            config: dir.join("config.json"),
        };
        for path in [&files.onnx, &files.tokenizer, &files.config] {
            if !path.is_file() {
                return Err(LoadError::MissingFile { path: path.clone() });
            }
        }
        Ok(files)
    }
}

fn mismatch(spec: &ModelSpec, message: impl Into<String>) -> LoadError {
    LoadError::Mismatch {
        id: spec.id.clone(),
        message: message.into(),
    }
}

/// `config.json`'s `id2label`, in id order.
fn config_labels(path: &Path) -> Result<Vec<String>, LoadError> {
    let invalid = |message: String| LoadError::Invalid {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let Some(map) = config
        .get("id2label")
        .and_then(serde_json::Value::as_object)
    else {
        return Err(invalid("a sentiment model needs `id2label`".into()));
    };
    let mut labels = vec![None; map.len()];
    for (id, label) in map {
        let index: usize = id
            .parse()
            .map_err(|_| invalid(format!("id2label key {id:?} is not an index")))?;
        let slot = labels
            .get_mut(index)
            .ok_or_else(|| invalid(format!("id2label has a gap before {index}")))?;
        *slot = label.as_str().map(str::to_owned);
    }
    labels
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| invalid("id2label values must be strings".into()))
}

/// The tokenizer, truncating to `max_length`, without the file's own padding (some exports pin
/// `Fixed(128)`): each text is encoded alone and padded by the batcher, with the pad id kept.
fn load_tokenizer(path: &Path, max_length: usize) -> Result<(Tokenizer, u32), LoadError> {
    let invalid = |e: tokenizers::Error| LoadError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let mut tokenizer = Tokenizer::from_file(path).map_err(invalid)?;
    let pad_id = tokenizer
        .get_padding()
        .map(|p| p.pad_id)
        .or_else(|| tokenizer.token_to_id("<pad>"))
        .or_else(|| tokenizer.token_to_id("[PAD]"))
        .unwrap_or(0);
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length,
            ..TruncationParams::default()
        }))
        .map_err(invalid)?;
    Ok((tokenizer, pad_id))
}

impl Model {
    /// Loads the model in `dir` as `spec` declares it, as `lanes` sessions of `threads`
    /// intra-op threads each, and warms them up; any disagreement between files and manifest is
    /// an error naming the file.
    pub fn load(
        dir: &Path,
        spec: ModelSpec,
        environment: &ort::environment::Environment,
        lanes: usize,
        threads: usize,
    ) -> Result<Self, LoadError> {
        let files = ModelFiles::locate(dir)?;
        if spec.task == Task::Sentiment {
            let labels = config_labels(&files.config)?;
            if labels != spec.labels {
                return Err(mismatch(
                    &spec,
                    format!(
                        "{} id2label is {labels:?}, the manifest says {:?}",
                        files.config.display(),
                        spec.labels
                    ),
                ));
            }
            if labels.len() != spec.dimension {
                return Err(mismatch(
                    &spec,
                    format!("{} labels but dimension {}", labels.len(), spec.dimension),
                ));
            }
        }

        let (tokenizer, pad_id) = load_tokenizer(&files.tokenizer, spec.max_length)?;

        let session_error = |e: ort::Error| LoadError::Session {
            id: spec.id.clone(),
            message: e.to_string(),
        };
        let open = || {
            Session::builder(environment)
                .map_err(session_error)?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| session_error(e.into()))?
                .with_intra_threads(threads.max(1))
                .map_err(|e| session_error(e.into()))?
                // On a shared machine, spinning threads steal the CPU the other thread needs.
                .with_intra_op_spinning(false)
                .map_err(|e| session_error(e.into()))?
                .commit_from_file(&files.onnx)
                .map_err(session_error)
        };
        let sessions = (0..lanes.max(1))
            .map(|_| open())
            .collect::<Result<Vec<_>, _>>()?;
        let session = &sessions[0];

        let input_names: Vec<String> = session
            .inputs()
            .iter()
            .map(|i| i.name().to_owned())
            .collect();
        if let Some(unknown) = input_names
            .iter()
            .find(|n| !KNOWN_INPUTS.contains(&n.as_str()))
        {
            return Err(mismatch(
                &spec,
                format!(
                    "{} has an input `{unknown}` ARAS cannot feed",
                    files.onnx.display()
                ),
            ));
        }
        for required in &KNOWN_INPUTS[..2] {
            if !input_names.iter().any(|n| n == required) {
                return Err(mismatch(
                    &spec,
                    format!("{} has no `{required}` input", files.onnx.display()),
                ));
            }
        }
        if !session.outputs().iter().any(|o| o.name() == spec.output) {
            let outputs: Vec<&str> = session
                .outputs()
                .iter()
                .map(ort::value::Outlet::name)
                .collect();
            return Err(mismatch(
                &spec,
                format!(
                    "{} has no output `{}` (it has {outputs:?})",
                    files.onnx.display(),
                    spec.output
                ),
            ));
        }

        let model = Self {
            spec,
            tokenizer,
            sessions: sessions.into_iter().map(Mutex::new).collect(),
            input_names,
            pad_id: i64::from(pad_id),
        };
        for lane in 0..model.lanes() {
            model.warm_up(lane)?;
        }
        Ok(model)
    }

    /// Runs one batch so the first request does not pay for lazy initialisation, and checks
    /// the output's width against the manifest.
    fn warm_up(&self, lane: usize) -> Result<(), LoadError> {
        let texts = [
            "warm-up",
            "une phrase un peu plus longue pour chauffer le modèle",
        ];
        let encoded: Vec<Encoded> = texts
            .iter()
            .map(|t| self.encode(t))
            .collect::<Result<_, _>>()
            .map_err(|e| mismatch(&self.spec, e.to_string()))?;
        let rows = self
            .forward(lane, &encoded.iter().collect::<Vec<_>>())
            .map_err(|e| mismatch(&self.spec, e.to_string()))?;
        let width = rows.first().map_or(0, Vec::len);
        if width != self.spec.dimension {
            return Err(mismatch(
                &self.spec,
                format!(
                    "output `{}` has width {width}, the manifest says {}",
                    self.spec.output, self.spec.dimension
                ),
            ));
        }
        Ok(())
    }

    /// Token ids of `text`, with special tokens, cut to the model's maximum length.
    pub fn encode(&self, text: &str) -> Result<Encoded, InferenceError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| InferenceError::Internal(format!("tokenizer: {e}")))?;
        Ok(Encoded {
            ids: encoding.get_ids().iter().map(|&id| i64::from(id)).collect(),
            truncated: !encoding.get_overflowing().is_empty(),
        })
    }

    /// Sessions that can run at once.
    pub fn lanes(&self) -> usize {
        self.sessions.len()
    }

    /// One vector per input (pooled embedding or logits), in input order, computed on session
    /// `lane`. Inputs are padded to the longest; the attention mask keeps padding out of every
    /// result.
    pub fn forward(
        &self,
        lane: usize,
        batch: &[&Encoded],
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        let internal = |e: ort::Error| InferenceError::Internal(e.to_string());
        let longest = batch.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = Array2::<i64>::from_elem((batch.len(), longest), self.pad_id);
        let mut mask = Array2::<i64>::zeros((batch.len(), longest));
        for (row, encoded) in batch.iter().enumerate() {
            for (col, &id) in encoded.ids.iter().enumerate() {
                ids[[row, col]] = id;
                mask[[row, col]] = 1;
            }
        }
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            Vec::with_capacity(self.input_names.len());
        for name in &self.input_names {
            let array = match name.as_str() {
                "input_ids" => ids.clone(),
                "attention_mask" => mask.clone(),
                _ => Array2::<i64>::zeros(ids.raw_dim()),
            };
            inputs.push((
                Cow::from(name.as_str()),
                Tensor::from_array(array).map_err(internal)?.into(),
            ));
        }
        let mut session = self.sessions[lane % self.sessions.len()]
            .lock()
            .expect("a panic never happens while the session is held");
        let outputs = session.run(inputs).map_err(internal)?;
        let output = outputs[self.spec.output.as_str()]
            .try_extract_array::<f32>()
            .map_err(internal)?;
        self.rows(&output, &mask)
    }

    fn rows(
        &self,
        output: &ArrayViewD<'_, f32>,
        mask: &Array2<i64>,
    ) -> Result<Vec<Vec<f32>>, InferenceError> {
        let shape_error = || {
            InferenceError::Internal(format!(
                "output `{}` has shape {:?}, which pooling {:?} cannot use",
                self.spec.output,
                output.shape(),
                self.spec.pooling
            ))
        };
        match (output.ndim(), self.spec.pooling) {
            (2, Pooling::None) => {
                let matrix = output
                    .view()
                    .into_dimensionality::<Ix2>()
                    .map_err(|_| shape_error())?;
                Ok(matrix.outer_iter().map(|row| row.to_vec()).collect())
            }
            (3, Pooling::Mean) => {
                let tokens = output
                    .view()
                    .into_dimensionality::<Ix3>()
                    .map_err(|_| shape_error())?;
                Ok(tokens
                    .outer_iter()
                    .zip(mask.outer_iter())
                    .map(|(hidden, mask)| {
                        let mut sum = vec![0.0f32; hidden.len_of(Axis(1))];
                        let mut count = 0.0f32;
                        for (vector, &m) in hidden.outer_iter().zip(mask.iter()) {
                            if m == 1 {
                                sum.iter_mut().zip(vector.iter()).for_each(|(s, v)| *s += v);
                                count += 1.0;
                            }
                        }
                        sum.iter().map(|s| s / count.max(1e-9)).collect()
                    })
                    .collect())
            }
            (3, Pooling::Cls) => {
                let tokens = output
                    .view()
                    .into_dimensionality::<Ix3>()
                    .map_err(|_| shape_error())?;
                Ok(tokens
                    .outer_iter()
                    .map(|hidden| hidden.row(0).to_vec())
                    .collect())
            }
            _ => Err(shape_error()),
        }
    }
}
