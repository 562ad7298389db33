//! The capacity record (`/pilot-light/<env>/capacity`): the primary compute groups' sizes, as
//! `run-state` `recordPrimaryCapacity` last saw them while the primary served. Failover scales the
//! standby groups from it; failback scales the primary groups back to it; readiness says how old
//! it is.

use crate::step::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parameter name of an environment's capacity record.
pub fn capacity_parameter_name(env: &str) -> String {
    format!("/pilot-light/{env}/capacity")
}

/// `/pilot-light/<env>/capacity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityRecord {
    /// By compute group name (the configuration's `computeGroups[].name`).
    pub groups: BTreeMap<String, GroupCapacity>,
    /// When the primary was last described for this record.
    pub recorded_at: Timestamp,
    /// The region the groups were described in (the primary).
    pub observed_in: String,
}

/// One primary group's sizes, and when they were seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCapacity {
    pub auto_scaling_group_name: String,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    pub seen_at: Timestamp,
}

impl CapacityRecord {
    /// Each group's desired capacity.
    pub fn desired(&self) -> BTreeMap<String, u32> {
        self.groups
            .iter()
            .map(|(name, g)| (name.clone(), g.desired))
            .collect()
    }
}
