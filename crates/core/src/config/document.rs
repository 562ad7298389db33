//! The document itself: [`PilotLightConfig`], its region pair and flap-guard bound, the [`Side`]
//! an action works on, and the names of an environment's parameters.

use serde::{Deserialize, Serialize};

use crate::EnvName;

use super::{
    AmiPolicy, ComputeGroupConfig, DatabaseConfig, DnsRecordConfig, DrillConfig, FunctionConfig,
    FunctionRef, GroupRef, Hooks, PollConfig, ReadinessConfig, RecordTarget, S3ReplicationConfig,
    SsmSyncConfig,
};

/// The whole configuration of one pilot-light environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PilotLightConfig {
    /// Environment name: part of every parameter name and the value of the `pilot-light:env` tag.
    pub env: EnvName,
    /// The primary region and the standby (pilot light) region.
    pub regions: RegionPair,
    #[serde(default)]
    pub databases: Vec<DatabaseConfig>,
    #[serde(default)]
    pub compute_groups: Vec<ComputeGroupConfig>,
    #[serde(default)]
    pub functions: Vec<FunctionConfig>,
    #[serde(default)]
    pub dns_records: Vec<DnsRecordConfig>,
    /// S3 bucket pairs whose Cross-Region Replication follows the active region
    /// (`switch-replication`). Optional; default none.
    #[serde(default)]
    pub s3_replication: Vec<S3ReplicationConfig>,
    #[serde(default)]
    pub ssm_sync: SsmSyncConfig,
    #[serde(default)]
    pub ami_policy: AmiPolicy,
    #[serde(default)]
    pub poll: PollConfig,
    /// An extra SNS topic for reports and alerts (the stack's own topic always gets them). Always
    /// serialized (as `null` when absent) so state machines can pass it on without a presence check.
    #[serde(default)]
    pub notification_topic_arn: Option<String>,
    /// The flap guard: the least time, in seconds, between a switch of the active region and an
    /// *automatic* failover (one started by an alarm or an AWS Health event). An automatic trigger
    /// inside the window is refused with `FailoverTooSoon`; a failover started by a person is never
    /// refused. `0` turns the guard off. Default one hour; at most one week.
    #[serde(default = "default_min_seconds_between_failovers")]
    pub min_seconds_between_failovers: u64,
    /// How automatic starts (alarm, AWS Health) are judged and approved
    /// ([`crate::automatic_failover`]): by default each waits up to 15 minutes for a person.
    #[serde(default)]
    pub automatic_failover: crate::automatic_failover::AutomaticFailoverConfig,
    /// Thresholds of the readiness checks (`pilot-light status` and the scheduled `readiness`
    /// function).
    #[serde(default)]
    pub readiness: ReadinessConfig,
    /// The non-disruptive drill (`state-machines/drill.asl.json`): how it builds its throw-away
    /// database and group in the standby region, and the RTO it must meet.
    #[serde(default)]
    pub drill: DrillConfig,
    /// Lambda functions of the team's own run at fixed points of failover and failback
    /// ([`crate::hooks`]). Always serialized, every point a list (the state machines map over them).
    #[serde(default)]
    pub hooks: Hooks,
}

fn default_min_seconds_between_failovers() -> u64 {
    3600
}

/// The longest flap-guard window accepted (one week).
pub const MAX_SECONDS_BETWEEN_FAILOVERS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionPair {
    pub primary: String,
    pub standby: String,
}

/// Which half of a configuration entry (and so which region) an action works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    Primary,
    Standby,
}

impl Side {
    /// `primary` or `standby`, as in the configuration document.
    pub fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Standby => "standby",
        }
    }

    /// A compute group's resources on this side.
    pub fn of_group(self, group: &ComputeGroupConfig) -> &GroupRef {
        match self {
            Self::Primary => &group.primary,
            Self::Standby => &group.standby,
        }
    }

    /// Where a DNS record points on this side.
    pub fn of_record(self, record: &DnsRecordConfig) -> &RecordTarget {
        match self {
            Self::Primary => &record.primary,
            Self::Standby => &record.standby,
        }
    }

    /// A function's resources on this side (`None`: the function has no primary counterpart).
    pub fn of_function(self, function: &FunctionConfig) -> Option<&FunctionRef> {
        match self {
            Self::Primary => function.primary.as_ref(),
            Self::Standby => Some(&function.standby),
        }
    }
}

/// Parameter name of an environment's configuration document.
pub fn config_parameter_name(env: &EnvName) -> String {
    format!("/pilot-light/{env}/config")
}

/// Parameter name of an environment's run state (active region, since, by which execution).
pub fn state_parameter_name(env: &EnvName) -> String {
    format!("/pilot-light/{env}/state")
}

/// Parameter name of an environment's failover/failback lock.
pub fn lock_parameter_name(env: &EnvName) -> String {
    format!("/pilot-light/{env}/lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_names() {
        let prod = "prod".parse().unwrap();
        assert_eq!(config_parameter_name(&prod), "/pilot-light/prod/config");
        assert_eq!(state_parameter_name(&prod), "/pilot-light/prod/state");
        assert_eq!(lock_parameter_name(&prod), "/pilot-light/prod/lock");
    }
}
