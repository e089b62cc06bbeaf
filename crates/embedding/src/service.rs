//! `Embed` and `Info`.

use aras_domain::vector::l2_normalize;
use aras_inference::InferenceConfig;
use aras_inference::service::{EngineSlot, engine, stage_timings};
use aras_proto::embedding::v1::embedding_server::Embedding;
use aras_proto::embedding::v1::{
    EmbedRequest, EmbedResponse, InfoRequest, InfoResponse, InputType, Vector,
};
use tonic::{Request, Response, Status};

pub struct EmbeddingService {
    slot: EngineSlot,
    config: InferenceConfig,
}

impl EmbeddingService {
    pub fn new(slot: EngineSlot, config: InferenceConfig) -> Self {
        Self { slot, config }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[tonic::async_trait]
impl Embedding for EmbeddingService {
    async fn embed(
        &self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        let request = request.into_inner();
        self.config.validate_texts(&request.texts)?;
        let engine = engine(&self.slot)?;
        let spec = &engine.model.spec;
        let prefix = match request.input_type() {
            InputType::Query => spec.query_prefix.as_str(),
            InputType::Passage => spec.passage_prefix.as_str(),
            InputType::Unspecified => "",
        };
        let texts = request
            .texts
            .iter()
            .map(|t| format!("{prefix}{t}"))
            .collect();
        let inferred = engine.batcher.infer(texts).await?;
        let timings = stage_timings(&inferred);
        let rows = inferred.rows;
        let embeddings = rows
            .into_iter()
            .map(|row| {
                let mut values = row.values;
                // A graph that normalises already gives unit vectors either way.
                if request.normalize && !spec.normalized {
                    l2_normalize(&mut values);
                }
                Vector {
                    values,
                    tokens: count(row.tokens),
                    truncated: row.truncated,
                }
            })
            .collect();
        Ok(Response::new(EmbedResponse {
            embeddings,
            model: spec.id.clone(),
            dimension: count(spec.dimension),
            timings: Some(timings),
        }))
    }

    async fn info(&self, _request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let spec = &engine(&self.slot)?.model.spec;
        Ok(Response::new(InfoResponse {
            model: spec.id.clone(),
            dimension: count(spec.dimension),
            max_tokens: count(spec.max_length),
            query_prefix: spec.query_prefix.clone(),
            passage_prefix: spec.passage_prefix.clone(),
        }))
    }
}
