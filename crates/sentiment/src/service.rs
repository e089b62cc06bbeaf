//! `Analyze` and `AnalyzeBatch`.

use aras_domain::sentiment::{LabelScheme, softmax};
use aras_inference::service::{EngineSlot, engine, stage_timings};
use aras_inference::{InferenceConfig, InferenceError};
use aras_proto::common::v1::StageTimings;
use aras_proto::sentiment::v1::sentiment_server::Sentiment;
use aras_proto::sentiment::v1::{
    AnalyzeBatchRequest, AnalyzeBatchResponse, AnalyzeRequest, AnalyzeResponse, SentimentResult,
};
use tonic::{Request, Response, Status};

pub struct SentimentService {
    slot: EngineSlot,
    config: InferenceConfig,
}

impl SentimentService {
    pub fn new(slot: EngineSlot, config: InferenceConfig) -> Self {
        Self { slot, config }
    }

    /// Scores `texts` (already validated): tokenise, batch, map probabilities to scores.
    async fn score(
        &self,
        texts: &[String],
    ) -> Result<(Vec<SentimentResult>, String, StageTimings), InferenceError> {
        let engine = engine(&self.slot)?;
        let spec = &engine.model.spec;
        let scheme = LabelScheme::from_labels(&spec.labels)
            .map_err(|e| InferenceError::Internal(e.to_string()))?;
        let texts = texts
            .iter()
            .map(|t| format!("{}{t}", spec.text_prefix))
            .collect();
        let inferred = engine.batcher.infer(texts).await?;
        let timings = stage_timings(&inferred);
        let rows = inferred.rows;
        let results = rows
            .iter()
            .map(|row| {
                let probabilities = softmax(&row.values);
                let sentiment = scheme
                    .score(&probabilities)
                    .map_err(|e| InferenceError::Internal(e.to_string()))?;
                Ok(SentimentResult {
                    score: sentiment.score,
                    label: sentiment.polarity.as_str().to_owned(),
                    confidence: sentiment.confidence,
                    probabilities: spec.labels.iter().cloned().zip(probabilities).collect(),
                    tokens: u32::try_from(row.tokens).unwrap_or(u32::MAX),
                    truncated: row.truncated,
                })
            })
            .collect::<Result<_, InferenceError>>()?;
        Ok((results, spec.id.clone(), timings))
    }
}

#[tonic::async_trait]
impl Sentiment for SentimentService {
    async fn analyze(
        &self,
        request: Request<AnalyzeRequest>,
    ) -> Result<Response<AnalyzeResponse>, Status> {
        let text = request.into_inner().text;
        aras_inference::validate_text(&text, self.config.max_text_chars)
            .map_err(|e| InferenceError::InvalidInput(format!("text: {e}")))?;
        let (mut results, model, timings) = self.score(std::slice::from_ref(&text)).await?;
        Ok(Response::new(AnalyzeResponse {
            result: results.pop(),
            model,
            timings: Some(timings),
        }))
    }

    async fn analyze_batch(
        &self,
        request: Request<AnalyzeBatchRequest>,
    ) -> Result<Response<AnalyzeBatchResponse>, Status> {
        let texts = request.into_inner().texts;
        self.config.validate_texts(&texts)?;
        let (results, model, timings) = self.score(&texts).await?;
        Ok(Response::new(AnalyzeBatchResponse {
            results,
            model,
            timings: Some(timings),
        }))
    }
}
