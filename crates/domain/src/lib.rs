//! The recommendation side's domain, as pure functions and types (no I/O): what a review text,
//! a sentiment score, a vehicle and a recommendation query are, how candidates are re-scored,
//! and the deterministic demo catalog. (Courier ranking has its own: `aras-ranking-core`.)
//!
//! Layout:
//! - [`sentiment`]: a classifier's class probabilities to a score in [-1, 1], a label and a
//!   confidence, for 2-, 3- and 5-label (stars) models.
//! - [`vehicle`]: the catalog's vehicle and the French description embedded for it.
//! - [`recommend`]: the recommend-style query vector (Qdrant's `average_vector`) and the
//!   re-scoring of candidates on similarity, availability and reputation.
//! - [`text`]: what a text the models read must be.
//! - [`vector`]: unit-length embedding vectors.
//! - [`demo`]: a deterministic demo catalog.
//! - [`tenant`]: tenants, roles and permissions.
//! - [`search`]: catalog search filters, orders and keyset-pagination cursors.

pub mod demo;
pub mod recommend;
pub mod search;
pub mod sentiment;
pub mod tenant;
pub mod text;
pub mod vector;
pub mod vehicle;
