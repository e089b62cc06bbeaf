//! End-to-end tests through the public REST API, every service in-process on port 0.
#![allow(clippy::too_many_lines)] // tables of cases read best whole

mod abuse;
mod auth;
mod catalog;
mod console;
mod embeddings;
mod faults;
mod fleet;
mod grpc;
mod helpers;
mod jobs;
mod livreurs;
mod platform;
mod proxy;
mod recommendations;
mod sentiment;
mod startup;
