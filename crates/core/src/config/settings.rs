//! How the operations behave: the drill, the readiness thresholds, the SSM parameter sync and
//! the AMI policy.

use serde::{Deserialize, Serialize};

/// Where the drill's throw-away database comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DrillDatabaseSource {
    /// A new cross-region read replica of the primary, then promoted (rehearses the promotion).
    #[default]
    Replica,
    /// A restore of the standby replica's newest snapshot (no call into the primary's database).
    Snapshot,
}

/// Settings of the drill. Every resource the drill makes carries `pilot-light:drill=<execution>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DrillConfig {
    #[serde(default)]
    pub database_source: DrillDatabaseSource,
    /// Instances of each drill group. Default 1.
    #[serde(default = "default_drill_group_size")]
    pub group_size: u32,
    /// The drill passes when its RTO (the longest recovery phase) is at most this. Default 1 hour.
    #[serde(default = "default_drill_rto_target_seconds")]
    pub rto_target_seconds: u64,
    /// Keep a final snapshot of each drill database when it is deleted. Default false.
    #[serde(default)]
    pub keep_final_snapshot: bool,
    /// Per compute group name: a target group of its own the drill group registers with, whose
    /// health then counts (never the standby group's own target group).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub target_group_arns: std::collections::BTreeMap<String, String>,
}

impl Default for DrillConfig {
    fn default() -> Self {
        Self {
            database_source: DrillDatabaseSource::default(),
            group_size: default_drill_group_size(),
            rto_target_seconds: default_drill_rto_target_seconds(),
            keep_final_snapshot: false,
            target_group_arns: std::collections::BTreeMap::new(),
        }
    }
}

fn default_drill_group_size() -> u32 {
    1
}
fn default_drill_rto_target_seconds() -> u64 {
    3600
}

/// Thresholds of the readiness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadinessConfig {
    /// A replica whose newest `ReplicaLag` is above this fails the lag check. Default 300.
    #[serde(default = "default_readiness_max_replica_lag_seconds")]
    pub max_replica_lag_seconds: u64,
    /// The newest standby AMI of a group must be younger than this. Default 7 days (604800).
    #[serde(default = "default_readiness_max_ami_age_seconds")]
    pub max_ami_age_seconds: u64,
    /// While the primary serves, the capacity record (`/pilot-light/<env>/capacity`) must be younger
    /// than this. Default 1 hour (3600): twelve missed 5-minute recordings.
    #[serde(default = "default_readiness_max_capacity_record_age_seconds")]
    pub max_capacity_record_age_seconds: u64,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            max_replica_lag_seconds: default_readiness_max_replica_lag_seconds(),
            max_ami_age_seconds: default_readiness_max_ami_age_seconds(),
            max_capacity_record_age_seconds: default_readiness_max_capacity_record_age_seconds(),
        }
    }
}

fn default_readiness_max_replica_lag_seconds() -> u64 {
    300
}
fn default_readiness_max_ami_age_seconds() -> u64 {
    7 * 24 * 3600
}
fn default_readiness_max_capacity_record_age_seconds() -> u64 {
    3600
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SsmSyncMode {
    /// Create and update; never delete in the target region.
    #[default]
    Update,
    /// Also delete what is gone from the source region.
    Mirror,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SsmSyncConfig {
    /// Path prefixes kept equal between the regions (`/app/prod/`).
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub mode: SsmSyncMode,
    /// KMS key for SecureStrings in the standby region (default: the account's `alias/aws/ssm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_kms_key_id: Option<String>,
    /// `mirror` mode's brake: a full sync that would delete more than this share of the target's
    /// parameters (percent, default 10; at least one deletion is always allowed) stops unless forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mirror_delete_percent: Option<u32>,
    /// `mirror` mode's brake: a full sync that would delete more than this many parameters (default
    /// 25) stops unless forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mirror_deletes: Option<u32>,
    /// A scheduled sync reads only what the source changed since the last sync; every this many
    /// seconds (default 86400, one day) it compares every parameter of both regions instead, which
    /// also repairs edits made directly in the target and makes `mirror`'s deletions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_sync_every_seconds: Option<u64>,
}

impl SsmSyncConfig {
    /// The most deletions a full `mirror` sync may make without `force`, for a target holding
    /// `target_count` parameters in scope: the share (at least 1), at most the count.
    pub fn allowed_mirror_deletes(&self, target_count: usize) -> usize {
        let percent = self.max_mirror_delete_percent.unwrap_or(10) as usize;
        let most = self.max_mirror_deletes.unwrap_or(25) as usize;
        (target_count * percent / 100).max(1).min(most)
    }

    /// How long a scheduled sync may go on reading only the changes before it compares everything.
    pub fn full_sync_every_seconds(&self) -> u64 {
        self.full_sync_every_seconds.unwrap_or(86_400)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AmiSource {
    /// Image a healthy InService instance of the active region's group.
    #[default]
    Instance,
    /// Take the newest image carrying the group's AMI tag (images baked elsewhere).
    Tag,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmiPolicy {
    #[serde(default)]
    pub source: AmiSource,
    /// Copies kept per group in each region.
    #[serde(default = "default_keep_copies")]
    pub keep_copies: u32,
    #[serde(default = "default_true")]
    pub no_reboot: bool,
    /// KMS key for copies into the standby region (`None`: the copy keeps the source's encryption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_kms_key_id: Option<String>,
    /// KMS key for copies into the primary region (while the standby is active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_kms_key_id: Option<String>,
}

impl Default for AmiPolicy {
    fn default() -> Self {
        Self {
            source: AmiSource::default(),
            keep_copies: default_keep_copies(),
            no_reboot: true,
            standby_kms_key_id: None,
            primary_kms_key_id: None,
        }
    }
}

fn default_keep_copies() -> u32 {
    3
}
fn default_true() -> bool {
    true
}
