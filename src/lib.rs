//! Playbill: Backstage's software catalog as Kubernetes custom resources.
//!
//! [`model`] is the pure core (references, relation rules, relations); [`api`] holds the custom
//! resource types that carry it.

pub mod api;
pub mod authz;
pub mod backstage;
pub mod catalog;
pub mod catalog_api;
pub mod check;
pub mod cluster;
pub mod controller;
pub mod error;
pub mod graph;
pub mod manifest;
pub mod metrics;
pub mod plugin;
pub mod resolve;
pub mod status;
pub mod tenancy;
pub mod yaml;

/// The pure core lives in its own crate so nothing in it can reach the cluster; re-exported so
/// `playbill::model` and `playbill::index` paths keep working.
pub use playbill_core::{consent, index, model};
