//! The readiness decisions: from small observations (what a describe call said) to one [`Check`]
//! each: pass, warn or fail, the evidence, and what to do. No AWS call here; every decision has a
//! table test.
//!
//! This module is the table of contents, one submodule per family of checks:
//! - `check`: [`Check`], [`CheckStatus`], [`NextMove`], the overall result, the active region and
//!   the generic existence check;
//! - `database`: the replica, its lag and the production shape;
//! - `compute`: the AMI's age, the launch template and the capacity;
//! - `parameters`: the SSM sync's drift and the KMS keys;
//! - `kept`: the instances a failback renamed aside and keeps;
//! - `age`: parsing creation dates and formatting ages.

mod age;
mod check;
mod compute;
mod database;
mod kept;
mod parameters;
#[cfg(test)]
mod test_support;

pub use age::{format_age, parse_epoch_seconds};
pub use check::{
    check_active_region, check_exists, overall, should_notify, Check, CheckStatus, NextMove,
};
pub use compute::{
    check_ami_age, check_capacity, check_launch_template, requested_capacity, TemplateObservation,
};
pub(crate) use database::PASSING_DB_STATES;
pub use database::{
    check_production_shape, check_replica, check_replica_lag, names_instance, Orderable,
    ReplicaObservation,
};
pub use kept::{check_kept_instance, check_kept_instances, check_kept_listing_failed};
pub use parameters::{check_kms_keys, check_ssm_drift, KeyObservation};
