//! The configuration document: one JSON document in SSM at `/pilot-light/<env>/config`, written by
//! the stack, loaded by every state machine in its first state, and validated here. Lists let one
//! deployment protect several databases, groups, functions and records.
//!
//! Every error names the field (`databases[1].replicaInstanceId`) so an operator can fix it at once.
//!
//! This module is the table of contents:
//! - `document`: [`PilotLightConfig`], [`RegionPair`], [`Side`] and the parameter names;
//! - `resources`: databases, compute groups, functions, DNS records, S3 bucket pairs;
//! - `settings`: drill, readiness thresholds, SSM sync, AMI policy;
//! - `poll`: poll policies;
//! - `load`: parsing a document from JSON;
//! - `validate`: checking a whole document;
//! - `rules`: the checks of one field.

mod document;
mod load;
mod poll;
mod resources;
mod rules;
mod settings;
mod validate;

pub use crate::hooks::{FailbackHooks, FailoverHooks, Hook, HookFailure, Hooks};
pub use crate::production_shape::{ProductionShape, ResizeTiming};

pub use document::{
    config_parameter_name, lock_parameter_name, state_parameter_name, PilotLightConfig, RegionPair,
    Side, MAX_SECONDS_BETWEEN_FAILOVERS,
};
pub use poll::{PollConfig, PollPolicy};
pub use resources::{
    CapacityPolicy, ComputeGroupConfig, DatabaseConfig, DnsRecordConfig, FunctionConfig,
    FunctionRef, GroupRef, RecordTarget, S3ReplicationConfig, TagFilter,
};
pub use rules::{check_bucket_name, check_db_instance_id};
pub use settings::{
    AmiPolicy, AmiSource, DrillConfig, DrillDatabaseSource, ReadinessConfig, SsmSyncConfig,
    SsmSyncMode,
};

#[cfg(test)]
mod tests;
