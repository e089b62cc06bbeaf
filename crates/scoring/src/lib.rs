//! Scoring for vehicle recommendation, as pure functions.
//!
//! Layout:
//! - [`sentiment`]: a classifier's class probabilities to a score in [-1, 1], a label and a
//!   confidence, for 2-, 3- and 5-label (stars) models.
//! - [`vehicle`]: the catalog's vehicle and the French description embedded for it.
//! - [`recommend`]: the recommend-style query vector (Qdrant's `average_vector`) and the
//!   re-scoring of candidates on similarity, availability and reputation.
//! - [`demo`]: a deterministic demo catalog.

pub mod demo;
pub mod recommend;
pub mod sentiment;
pub mod vehicle;
