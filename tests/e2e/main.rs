//! End-to-end tests through the public REST API, every service in-process on port 0.

mod helpers;
mod livreurs;
mod platform;
