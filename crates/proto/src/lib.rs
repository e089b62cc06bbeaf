//! gRPC contracts of ARAS: every `.proto` of the workspace's `proto/` compiled once.
//!
//! Layout:
//! - [`ranking::v1`]: courier ranking (`aras.ranking.v1`).
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
