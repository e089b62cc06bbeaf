//! gRPC contracts of ARAS: every `.proto` of the workspace's `proto/` compiled once.
//!
//! Layout:
//! - [`common::v1`]: messages shared by several services.
//! - [`ranking::v1`]: courier ranking (`aras.ranking.v1`).
//! - [`sentiment::v1`]: review sentiment (`aras.sentiment.v1`).
//! - [`embedding::v1`]: sentence embeddings (`aras.embedding.v1`).
//! - [`recommender::v1`]: vehicle recommendation and its catalog (`aras.recommender.v1`).
//! - [`jobs::v1`]: async job messages on RabbitMQ (`aras.jobs.v1`).
//! - [`FILE_DESCRIPTOR_SET`]: every service's descriptors, for gRPC reflection.
#![allow(clippy::pedantic)] // generated code

/// Encoded `FileDescriptorSet` of every ARAS proto, served by gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("aras_descriptor");

pub mod ranking {
    /// Status metadata key carrying the consistency ratio of a refused AHP matrix.
    pub const CONSISTENCY_RATIO_METADATA: &str = "x-aras-consistency-ratio";

    pub mod v1 {
        tonic::include_proto!("aras.ranking.v1");
    }
}

pub mod common {
    pub mod v1 {
        tonic::include_proto!("aras.common.v1");
    }
}

pub mod sentiment {
    pub mod v1 {
        tonic::include_proto!("aras.sentiment.v1");
    }
}

pub mod embedding {
    pub mod v1 {
        tonic::include_proto!("aras.embedding.v1");
    }
}

pub mod recommender {
    pub mod v1 {
        tonic::include_proto!("aras.recommender.v1");
    }
}

pub mod jobs {
    pub mod v1 {
        tonic::include_proto!("aras.jobs.v1");
    }
}
