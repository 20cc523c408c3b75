//! Playbill: Backstage's software catalog as Kubernetes custom resources.
//!
//! [`model`] is the pure core (references, relation rules, relations); [`api`] holds the custom
//! resource types that carry it.

pub mod api;
pub mod backstage;
pub mod catalog;
pub mod controller;
pub mod error;
pub mod graph;
pub mod index;
pub mod metrics;
pub mod model;
pub mod plugin;
pub mod resolve;
pub mod status;
pub mod yaml;
