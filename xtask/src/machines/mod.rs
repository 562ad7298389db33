//! One module per generated state machine; [`GENERATED`] lists them.

use crate::json::Json;

pub mod ami_pipeline;
pub mod drill;
pub mod failback;
pub mod failover;
pub mod promote_database;

/// A function building one machine's definition.
pub type Definition = fn() -> Json;

/// Every generated machine: the file stem under `state-machines/` and its definition.
/// Machines not listed here are still hand-written.
pub const GENERATED: &[(&str, Definition)] = &[
    ("promote-database", promote_database::definition),
    ("ami-pipeline", ami_pipeline::definition),
    ("drill", drill::definition),
    ("failover", failover::definition),
    ("failback", failback::definition),
];
