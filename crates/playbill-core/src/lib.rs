//! Playbill's pure core: the Backstage entity model (kinds, references, the relation rule table)
//! and the incremental relation index that resolves it.
//!
//! It depends on nothing but `std`, so nothing here can reach a cluster, a clock or a file: the
//! product crate (`playbill`) feeds it entities and maps its [`index::Resolution`] onto the
//! custom resources' status.

pub mod consent;
pub mod index;
pub mod model;
