//! The capacity record (`/pilot-light/<env>/capacity`): the primary compute groups' sizes, as
//! `run-state` `recordPrimaryCapacity` last saw them while the primary served. Failover scales the
//! standby groups from it; failback scales the primary groups back to it; readiness says how old
//! it is.

use crate::config::CapacityPolicy;
use crate::step::Timestamp;
use crate::EnvName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parameter name of an environment's capacity record.
pub fn capacity_parameter_name(env: &EnvName) -> String {
    format!("/pilot-light/{env}/capacity")
}

/// The failover target of a group: the absolute target when configured, else `targetPercent` of
/// the recorded primary capacity (rounded up), else the minimum; never below the minimum.
pub fn failover_capacity(policy: &CapacityPolicy, recorded: Option<u32>) -> u32 {
    let wanted = match (policy.target, recorded) {
        (Some(target), _) => target,
        (None, Some(recorded)) => {
            let scaled = (u64::from(recorded) * u64::from(policy.target_percent)).div_ceil(100);
            u32::try_from(scaled).unwrap_or(u32::MAX)
        }
        (None, None) => policy.minimum,
    };
    wanted.max(policy.minimum)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(percent: u32, target: Option<u32>, minimum: u32) -> CapacityPolicy {
        CapacityPolicy {
            target_percent: percent,
            target,
            minimum,
        }
    }

    #[test]
    fn targets() {
        let cases: Vec<(CapacityPolicy, Option<u32>, u32)> = vec![
            // Percentage of the recorded capacity, rounded up.
            (policy(100, None, 1), Some(4), 4),
            (policy(50, None, 1), Some(4), 2),
            (policy(50, None, 1), Some(5), 3),
            (policy(30, None, 1), Some(10), 3),
            (policy(34, None, 1), Some(10), 4),
            (policy(200, None, 1), Some(3), 6),
            // Never below the minimum.
            (policy(10, None, 2), Some(4), 2),
            (policy(100, None, 1), Some(0), 1),
            // Nothing recorded: the minimum.
            (policy(100, None, 2), None, 2),
            (policy(100, None, 0), None, 0),
            // An absolute target wins over the percentage, not over the minimum.
            (policy(50, Some(6), 1), Some(10), 6),
            (policy(50, Some(6), 1), None, 6),
            (policy(50, Some(1), 3), Some(10), 3),
            // No overflow on absurd numbers.
            (policy(1000, None, 1), Some(u32::MAX), u32::MAX),
        ];
        for (p, recorded, expected) in cases {
            assert_eq!(
                failover_capacity(&p, recorded),
                expected,
                "{p:?} {recorded:?}"
            );
        }
    }
}
