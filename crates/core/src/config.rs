//! The configuration document: one JSON document in SSM at `/pilot-light/<env>/config`, written by
//! the stack, loaded by every state machine in its first state, and validated here. Lists let one
//! deployment protect several databases, groups, functions and records.
//!
//! Every error names the field (`databases[1].replicaInstanceId`) so an operator can fix it at once.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::clients::validate_region;
use crate::error::PilotLightError;
pub use crate::hooks::{FailbackHooks, FailoverHooks, Hook, HookFailure, Hooks};
pub use crate::production_shape::{ProductionShape, ResizeTiming};
use crate::step::decode_json;

/// The whole configuration of one pilot-light environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PilotLightConfig {
    /// Environment name: part of every parameter name and the value of the `pilot-light:env` tag.
    pub env: String,
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

/// One logical database: the primary instance and its cross-region read replica in the standby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Logical name, used in reports (`orders`).
    pub name: String,
    /// DB instance identifier in the primary region.
    pub primary_instance_id: String,
    /// DB instance identifier of the read replica in the standby region.
    pub replica_instance_id: String,
    /// KMS key for this database in the standby region (copies, restores, replicas), if encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_kms_key_id: Option<String>,
    /// KMS key for this database in the primary region (failback copies), if encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_kms_key_id: Option<String>,
    /// The shape the serving instance is resized to when it becomes production (failover: the
    /// promoted replica; failback: the restored primary). None: no resize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_shape: Option<ProductionShape>,
}

impl DatabaseConfig {
    /// A database known by its name and identifiers only: no KMS keys, no production shape (what
    /// a reader of the configuration that needs nothing else, like the failback report, keeps).
    pub fn identifiers_only(
        name: impl Into<String>,
        primary_instance_id: impl Into<String>,
        replica_instance_id: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            primary_instance_id: primary_instance_id.into(),
            replica_instance_id: replica_instance_id.into(),
            standby_kms_key_id: None,
            primary_kms_key_id: None,
            production_shape: None,
        }
    }
}

/// An Auto Scaling group and its launch template, one side of a compute group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupRef {
    pub auto_scaling_group_name: String,
    pub launch_template_name: String,
    /// Target group whose health counts as "healthy" for this group, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
}

/// One compute tier in both regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComputeGroupConfig {
    pub name: String,
    pub primary: GroupRef,
    pub standby: GroupRef,
    /// The tag that marks this group's AMIs (newest `available` one wins).
    pub ami_tag: TagFilter,
    #[serde(default)]
    pub capacity: CapacityPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagFilter {
    pub key: String,
    pub value: String,
}

/// How many standby instances a failover asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityPolicy {
    /// Percentage of the primary group's last recorded desired capacity.
    #[serde(default = "default_target_percent")]
    pub target_percent: u32,
    /// Absolute target; overrides `targetPercent` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u32>,
    /// Used when no primary capacity was ever recorded, and as a floor.
    #[serde(default = "default_minimum")]
    pub minimum: u32,
}

impl Default for CapacityPolicy {
    fn default() -> Self {
        Self {
            target_percent: default_target_percent(),
            target: None,
            minimum: default_minimum(),
        }
    }
}

fn default_target_percent() -> u32 {
    100
}
fn default_minimum() -> u32 {
    1
}

/// A function that is disabled in the standby and enabled on failover (and the reverse on failback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<FunctionRef>,
    pub standby: FunctionRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionRef {
    pub function_name: String,
    #[serde(default)]
    pub event_source_mapping_uuids: Vec<String>,
    #[serde(default)]
    pub event_bridge_rules: Vec<String>,
    /// Reserved concurrency when enabled (`None`: unreserved); disabled is always 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
}

/// A DNS record switched between the regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DnsRecordConfig {
    pub hosted_zone_id: String,
    pub record_name: String,
    /// `CNAME`, `A` or `AAAA` (`A`/`AAAA` as alias records).
    pub record_type: String,
    pub primary: RecordTarget,
    pub standby: RecordTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

fn default_ttl() -> u32 {
    60
}

/// A bucket in the primary region replicated (S3 Cross-Region Replication, versioning on) to a bucket
/// in the standby region. Failover reverses the replication (standby → primary, with its own role),
/// failback restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3ReplicationConfig {
    /// Logical name (reports, rule ids).
    pub name: String,
    /// The bucket in the primary region (the replication source while the primary is active).
    pub primary_bucket: String,
    /// The bucket in the standby region (the replication destination while the primary is active).
    pub standby_bucket: String,
    /// The role S3 assumes to replicate primary → standby (the primary bucket's replication role).
    pub primary_role_arn: String,
    /// The role S3 assumes to replicate standby → primary while the standby is active: may read the
    /// standby bucket and replicate into the primary bucket. Never the same role as
    /// `primaryRoleArn` (a one-way role cannot replicate the other way).
    pub reverse_role_arn: String,
}

/// Where a record points: a plain value (CNAME) or an alias target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_dns_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_hosted_zone_id: Option<String>,
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

/// How often and how many times a state machine polls one kind of long operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollPolicy {
    pub interval_seconds: u32,
    pub max_attempts: u32,
}

/// Poll policies per kind of operation. Production uses seconds to minutes; tests use 0–1 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollConfig {
    #[serde(default = "default_promotion_poll")]
    pub promotion: PollPolicy,
    #[serde(default = "default_compute_poll")]
    pub compute: PollPolicy,
    #[serde(default = "default_snapshot_poll")]
    pub snapshot: PollPolicy,
    #[serde(default = "default_image_poll")]
    pub image: PollPolicy,
    /// Resizing a database to its production shape (`resize-database`).
    #[serde(default = "default_resize_poll")]
    pub resize: PollPolicy,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            promotion: default_promotion_poll(),
            compute: default_compute_poll(),
            snapshot: default_snapshot_poll(),
            image: default_image_poll(),
            resize: default_resize_poll(),
        }
    }
}

fn default_promotion_poll() -> PollPolicy {
    // Promotion of a replica takes minutes; 30 s × 120 = one hour at most.
    PollPolicy {
        interval_seconds: 30,
        max_attempts: 120,
    }
}
fn default_compute_poll() -> PollPolicy {
    PollPolicy {
        interval_seconds: 15,
        max_attempts: 80,
    }
}
fn default_snapshot_poll() -> PollPolicy {
    PollPolicy {
        interval_seconds: 60,
        max_attempts: 240,
    }
}
fn default_resize_poll() -> PollPolicy {
    // A class change takes 10–30 minutes, Multi-AZ longer: 30 s × 240 = two hours at most.
    PollPolicy {
        interval_seconds: 30,
        max_attempts: 240,
    }
}
fn default_image_poll() -> PollPolicy {
    PollPolicy {
        interval_seconds: 60,
        max_attempts: 120,
    }
}

/// The longest poll interval accepted (one hour), and the most attempts of one loop.
const MAX_POLL_INTERVAL_SECONDS: u32 = 3600;
const MAX_POLL_ATTEMPTS: u32 = 1000;

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
pub fn config_parameter_name(env: &str) -> String {
    format!("/pilot-light/{env}/config")
}

/// Parameter name of an environment's run state (active region, since, by which execution).
pub fn state_parameter_name(env: &str) -> String {
    format!("/pilot-light/{env}/state")
}

/// Parameter name of an environment's failover/failback lock.
pub fn lock_parameter_name(env: &str) -> String {
    format!("/pilot-light/{env}/lock")
}

impl PilotLightConfig {
    /// Parses and validates a configuration document given as JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, PilotLightError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|err| PilotLightError::config(".", format!("not JSON: {err}")))?;
        Self::from_json(value)
    }

    /// Parses and validates a configuration document given as a JSON value.
    pub fn from_json(value: serde_json::Value) -> Result<Self, PilotLightError> {
        let config: Self =
            decode_json(value).map_err(|(field, reason)| PilotLightError::config(field, reason))?;
        config.validate()?;
        Ok(config)
    }

    /// The database with this logical name.
    pub fn database(&self, name: &str) -> Option<&DatabaseConfig> {
        self.databases.iter().find(|db| db.name == name)
    }

    /// Checks everything a type cannot: names, identifiers, regions, bounds, uniqueness.
    pub fn validate(&self) -> Result<(), PilotLightError> {
        check_env_name("env", &self.env)?;
        check_region("regions.primary", &self.regions.primary)?;
        check_region("regions.standby", &self.regions.standby)?;
        if self.regions.primary == self.regions.standby {
            return Err(PilotLightError::config(
                "regions.standby",
                "the standby region must differ from the primary region (a same-region copy is no disaster recovery)",
            ));
        }
        if self.min_seconds_between_failovers > MAX_SECONDS_BETWEEN_FAILOVERS {
            return Err(PilotLightError::config(
                "minSecondsBetweenFailovers",
                format!("must be at most {MAX_SECONDS_BETWEEN_FAILOVERS} (one week)"),
            ));
        }
        self.automatic_failover.validate()?;

        let mut names = BTreeSet::new();
        for (i, db) in self.databases.iter().enumerate() {
            let at = |f: &str| format!("databases[{i}].{f}");
            check_name(&at("name"), &db.name)?;
            if !names.insert(db.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate database name `{}`", db.name),
                ));
            }
            check_db_instance_id(&at("primaryInstanceId"), &db.primary_instance_id)?;
            check_db_instance_id(&at("replicaInstanceId"), &db.replica_instance_id)?;
            if let Some(shape) = &db.production_shape {
                shape.validate(&at("productionShape"))?;
            }
        }

        let mut names = BTreeSet::new();
        for (i, group) in self.compute_groups.iter().enumerate() {
            let at = |f: &str| format!("computeGroups[{i}].{f}");
            check_name(&at("name"), &group.name)?;
            if !names.insert(group.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate compute group name `{}`", group.name),
                ));
            }
            for (side, r) in [("primary", &group.primary), ("standby", &group.standby)] {
                check_non_empty(
                    &at(&format!("{side}.autoScalingGroupName")),
                    &r.auto_scaling_group_name,
                )?;
                check_non_empty(
                    &at(&format!("{side}.launchTemplateName")),
                    &r.launch_template_name,
                )?;
            }
            check_non_empty(&at("amiTag.key"), &group.ami_tag.key)?;
            if !(1..=1000).contains(&group.capacity.target_percent) {
                return Err(PilotLightError::config(
                    at("capacity.targetPercent"),
                    "must be between 1 and 1000",
                ));
            }
        }

        let mut names = BTreeSet::new();
        for (i, function) in self.functions.iter().enumerate() {
            let at = |f: &str| format!("functions[{i}].{f}");
            check_name(&at("name"), &function.name)?;
            if !names.insert(function.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate function name `{}`", function.name),
                ));
            }
            check_non_empty(&at("standby.functionName"), &function.standby.function_name)?;
            if let Some(primary) = &function.primary {
                check_non_empty(&at("primary.functionName"), &primary.function_name)?;
            }
        }

        for (i, record) in self.dns_records.iter().enumerate() {
            let at = |f: &str| format!("dnsRecords[{i}].{f}");
            check_non_empty(&at("hostedZoneId"), &record.hosted_zone_id)?;
            check_non_empty(&at("recordName"), &record.record_name)?;
            if !["CNAME", "A", "AAAA"].contains(&record.record_type.as_str()) {
                return Err(PilotLightError::config(
                    at("recordType"),
                    "must be CNAME, A or AAAA",
                ));
            }
            for (side, target) in [("primary", &record.primary), ("standby", &record.standby)] {
                let alias =
                    target.alias_dns_name.is_some() || target.alias_hosted_zone_id.is_some();
                let complete_alias =
                    target.alias_dns_name.is_some() && target.alias_hosted_zone_id.is_some();
                match (&target.value, alias) {
                    (Some(_), false) if record.record_type == "CNAME" => {}
                    (None, true) if complete_alias => {}
                    _ => {
                        return Err(PilotLightError::config(
                            at(side),
                            "give `value` (CNAME) or both `aliasDnsName` and `aliasHostedZoneId` (alias)",
                        ))
                    }
                }
            }
        }

        let mut names = BTreeSet::new();
        for (i, pair) in self.s3_replication.iter().enumerate() {
            let at = |f: &str| format!("s3Replication[{i}].{f}");
            check_name(&at("name"), &pair.name)?;
            if !names.insert(pair.name.as_str()) {
                return Err(PilotLightError::config(
                    at("name"),
                    format!("duplicate bucket pair name `{}`", pair.name),
                ));
            }
            check_bucket_name(&at("primaryBucket"), &pair.primary_bucket)?;
            check_bucket_name(&at("standbyBucket"), &pair.standby_bucket)?;
            if pair.primary_bucket == pair.standby_bucket {
                return Err(PilotLightError::config(
                    at("standbyBucket"),
                    "must differ from primaryBucket (bucket names are global)",
                ));
            }
            check_role_arn(&at("primaryRoleArn"), &pair.primary_role_arn)?;
            check_role_arn(&at("reverseRoleArn"), &pair.reverse_role_arn)?;
            if pair.primary_role_arn == pair.reverse_role_arn {
                return Err(PilotLightError::config(
                    at("reverseRoleArn"),
                    "must be a role of its own that may read the standby bucket and replicate into the primary bucket; the primary's one-way role cannot replicate the other way",
                ));
            }
        }

        if self
            .ssm_sync
            .full_sync_every_seconds
            .is_some_and(|s| !(60..=2_592_000).contains(&s))
        {
            return Err(PilotLightError::config(
                "ssmSync.fullSyncEverySeconds",
                "between 60 (a minute) and 2592000 (30 days)",
            ));
        }
        for (i, path) in self.ssm_sync.paths.iter().enumerate() {
            let at = format!("ssmSync.paths[{i}]");
            if !path.starts_with('/') {
                return Err(PilotLightError::config(at, "must start with `/`"));
            }
            if path.starts_with("/pilot-light/") || path == "/" {
                return Err(PilotLightError::config(
                    at,
                    "pilot-light's own parameters are never synced",
                ));
            }
        }

        if !(1..=100).contains(&self.ami_policy.keep_copies) {
            return Err(PilotLightError::config(
                "amiPolicy.keepCopies",
                "must be between 1 and 100",
            ));
        }

        if !(1..=20).contains(&self.drill.group_size) {
            return Err(PilotLightError::config(
                "drill.groupSize",
                "must be between 1 and 20",
            ));
        }
        if self.drill.rto_target_seconds == 0 {
            return Err(PilotLightError::config(
                "drill.rtoTargetSeconds",
                "must be at least 1",
            ));
        }
        for (group, arn) in &self.drill.target_group_arns {
            if !self.compute_groups.iter().any(|g| &g.name == group) {
                return Err(PilotLightError::config(
                    format!("drill.targetGroupArns.{group}"),
                    "names no compute group",
                ));
            }
            if !arn.starts_with("arn:") || !arn.contains(":targetgroup/") {
                return Err(PilotLightError::config(
                    format!("drill.targetGroupArns.{group}"),
                    "must be a target group ARN",
                ));
            }
        }

        self.hooks.validate()?;

        if self.readiness.max_ami_age_seconds == 0 {
            return Err(PilotLightError::config(
                "readiness.maxAmiAgeSeconds",
                "must be at least 1",
            ));
        }

        for (kind, policy) in [
            ("promotion", self.poll.promotion),
            ("compute", self.poll.compute),
            ("snapshot", self.poll.snapshot),
            ("image", self.poll.image),
            ("resize", self.poll.resize),
        ] {
            if policy.interval_seconds > MAX_POLL_INTERVAL_SECONDS {
                return Err(PilotLightError::config(
                    format!("poll.{kind}.intervalSeconds"),
                    format!("must be at most {MAX_POLL_INTERVAL_SECONDS}"),
                ));
            }
            if !(1..=MAX_POLL_ATTEMPTS).contains(&policy.max_attempts) {
                return Err(PilotLightError::config(
                    format!("poll.{kind}.maxAttempts"),
                    format!("must be between 1 and {MAX_POLL_ATTEMPTS}"),
                ));
            }
        }
        Ok(())
    }
}

fn check_non_empty(field: &str, value: &str) -> Result<(), PilotLightError> {
    if value.trim().is_empty() {
        Err(PilotLightError::config(field, "must not be empty"))
    } else {
        Ok(())
    }
}

fn check_region(field: &str, value: &str) -> Result<(), PilotLightError> {
    validate_region(value).map_err(|reason| PilotLightError::config(field, reason))
}

/// The configuration's `env` ([`crate::env_name`]).
fn check_env_name(field: &str, value: &str) -> Result<(), PilotLightError> {
    if crate::env_name::is_env_name(value) {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            crate::env_name::ENV_NAME_RULE,
        ))
    }
}

/// S3 bucket names: 3–63 lower-case letters, digits, `.` and `-`; a letter or digit at both ends;
/// no `..`, and not shaped like an IP address.
pub fn check_bucket_name(field: &str, value: &str) -> Result<(), PilotLightError> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ip_like = value.split('.').count() == 4
        && value
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let ok = (3..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(value.chars().next())
        && edge_ok(value.chars().last())
        && !value.contains("..")
        && !ip_like;
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            format!(
                "`{value}` is not an S3 bucket name (3–63 lower-case letters, digits, `.`, `-`)"
            ),
        ))
    }
}

/// IAM role ARNs: `arn:<partition>:iam::<12-digit account>:role/<path and name>`.
fn check_role_arn(field: &str, value: &str) -> Result<(), PilotLightError> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|name| !name.is_empty());
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            format!("`{value}` is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
        ))
    }
}

/// Logical names appear in reports and execution names.
fn check_name(field: &str, value: &str) -> Result<(), PilotLightError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            "1–64 letters, digits, `-` or `_`",
        ))
    }
}

/// RDS DB instance identifiers: 1–63 letters, digits or hyphens; a letter first; no trailing
/// hyphen and no two hyphens in a row.
pub fn check_db_instance_id(field: &str, value: &str) -> Result<(), PilotLightError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(PilotLightError::config(
            field,
            format!("`{value}` is not a DB instance identifier (1–63 letters, digits, hyphens; a letter first)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn valid() -> Value {
        json!({
            "env": "prod",
            "regions": {"primary": "us-east-1", "standby": "us-west-2"},
            "databases": [
                {"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr"}
            ],
            "computeGroups": [{
                "name": "web",
                "primary": {"autoScalingGroupName": "web-use1", "launchTemplateName": "web-use1"},
                "standby": {"autoScalingGroupName": "web-usw2", "launchTemplateName": "web-usw2"},
                "amiTag": {"key": "pilot-light:group", "value": "web"}
            }],
            "functions": [{"name": "consumer", "standby": {"functionName": "consumer-usw2"}}],
            "dnsRecords": [{
                "hostedZoneId": "Z123", "recordName": "app.example.com", "recordType": "CNAME",
                "primary": {"value": "web-use1.example.com"}, "standby": {"value": "web-usw2.example.com"}
            }],
            "ssmSync": {"paths": ["/app/prod/"]},
            "poll": {"promotion": {"intervalSeconds": 1, "maxAttempts": 30}}
        })
    }

    fn with(mut doc: Value, pointer: &str, value: Option<Value>) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = doc.pointer_mut(parent).unwrap();
        match (target, value) {
            (Value::Object(map), Some(v)) => {
                map.insert(key.to_string(), v);
            }
            (Value::Object(map), None) => {
                map.remove(key);
            }
            (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
            _ => panic!("bad pointer {pointer}"),
        }
        doc
    }

    #[test]
    fn the_sample_document_is_valid_and_defaults_apply() {
        let config = PilotLightConfig::from_json(valid()).unwrap();
        assert_eq!(
            config.poll.promotion,
            PollPolicy {
                interval_seconds: 1,
                max_attempts: 30
            }
        );
        assert_eq!(config.poll.compute, default_compute_poll());
        assert_eq!(config.compute_groups[0].capacity, CapacityPolicy::default());
        assert_eq!(config.ssm_sync.mode, SsmSyncMode::Update);
        assert_eq!(config.ami_policy.keep_copies, 3);
        assert_eq!(
            config.database("orders").unwrap().replica_instance_id,
            "orders-db-dr"
        );
        // Round trip: what we write is what we read.
        let again = PilotLightConfig::from_json(serde_json::to_value(&config).unwrap()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn every_event_file_config_is_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            PilotLightConfig::from_json_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
        assert!(seen > 0, "no sample configuration in {}", dir.display());
    }

    #[test]
    fn errors_name_the_bad_field() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (with(valid(), "/env", None), "env", "missing field"),
            (
                with(valid(), "/regions/standby", None),
                "regions.standby",
                "missing field",
            ),
            (
                with(valid(), "/databases/0/replicaInstanceId", None),
                "databases[0].replicaInstanceId",
                "missing field",
            ),
            (
                with(valid(), "/databases/0/replicaInstanceId", Some(json!(12))),
                "databases[0].replicaInstanceId",
                "invalid type",
            ),
            (
                with(valid(), "/databases/0/replica", Some(json!("x"))),
                "databases[0].replica",
                "unknown field",
            ),
            (
                with(valid(), "/surprise", Some(json!(1))),
                "surprise",
                "unknown field",
            ),
            (
                with(valid(), "/env", Some(json!("Prod!"))),
                "env",
                "lower-case",
            ),
            (
                with(valid(), "/regions/standby", Some(json!("us-east-1"))),
                "regions.standby",
                "must differ",
            ),
            (
                with(valid(), "/regions/primary", Some(json!("mars-1"))),
                "regions.primary",
                "not an AWS region",
            ),
            (
                with(
                    valid(),
                    "/databases/0/primaryInstanceId",
                    Some(json!("1db")),
                ),
                "databases[0].primaryInstanceId",
                "not a DB instance identifier",
            ),
            (
                with(
                    valid(),
                    "/databases/0/replicaInstanceId",
                    Some(json!("a--b")),
                ),
                "databases[0].replicaInstanceId",
                "not a DB instance identifier",
            ),
            (duplicate_database(), "databases[1].name", "duplicate"),
            (
                with(
                    valid(),
                    "/computeGroups/0/standby/launchTemplateName",
                    Some(json!(" ")),
                ),
                "computeGroups[0].standby.launchTemplateName",
                "must not be empty",
            ),
            (
                with(
                    valid(),
                    "/computeGroups/0/capacity",
                    Some(json!({"targetPercent": 0})),
                ),
                "computeGroups[0].capacity.targetPercent",
                "between 1 and 1000",
            ),
            (
                with(valid(), "/dnsRecords/0/recordType", Some(json!("MX"))),
                "dnsRecords[0].recordType",
                "CNAME, A or AAAA",
            ),
            (
                with(
                    valid(),
                    "/dnsRecords/0/standby",
                    Some(json!({"aliasDnsName": "x"})),
                ),
                "dnsRecords[0].standby",
                "aliasHostedZoneId",
            ),
            (
                with(
                    valid(),
                    "/ssmSync/paths",
                    Some(json!(["/pilot-light/prod/"])),
                ),
                "ssmSync.paths[0]",
                "never synced",
            ),
            (
                with(valid(), "/ssmSync/paths", Some(json!(["app"]))),
                "ssmSync.paths[0]",
                "start with",
            ),
            (
                with(valid(), "/ssmSync/fullSyncEverySeconds", Some(json!(10))),
                "ssmSync.fullSyncEverySeconds",
                "between 60",
            ),
            (
                with(valid(), "/ssmSync/mode", Some(json!("sometimes"))),
                "ssmSync.mode",
                "unknown variant",
            ),
            (
                with(
                    valid(),
                    "/poll/promotion",
                    Some(json!({"intervalSeconds": 5, "maxAttempts": 0})),
                ),
                "poll.promotion.maxAttempts",
                "between 1",
            ),
            (
                with(
                    valid(),
                    "/poll/promotion",
                    Some(json!({"intervalSeconds": 7200, "maxAttempts": 3})),
                ),
                "poll.promotion.intervalSeconds",
                "at most",
            ),
            (
                with(valid(), "/amiPolicy", Some(json!({"keepCopies": 0}))),
                "amiPolicy.keepCopies",
                "between 1 and 100",
            ),
            (
                with(valid(), "/drill", Some(json!({"groupSize": 0}))),
                "drill.groupSize",
                "between 1 and 20",
            ),
            (
                with(valid(), "/drill", Some(json!({"rtoTargetSeconds": 0}))),
                "drill.rtoTargetSeconds",
                "at least 1",
            ),
            (
                with(valid(), "/drill", Some(json!({"databaseSource": "tape"}))),
                "drill.databaseSource",
                "unknown variant",
            ),
            (
                with(
                    valid(),
                    "/drill",
                    Some(
                        json!({"targetGroupArns": {"api": "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/x/1"}}),
                    ),
                ),
                "drill.targetGroupArns.api",
                "names no compute group",
            ),
        ];
        for (doc, field, reason) in cases {
            let err = PilotLightConfig::from_json(doc).unwrap_err();
            let PilotLightError::ConfigInvalid {
                field: got_field,
                reason: got_reason,
            } = &err
            else {
                panic!("expected ConfigInvalid, got {err:?}");
            };
            assert_eq!(got_field, field, "{err}");
            assert!(
                got_reason.contains(reason),
                "{field}: `{got_reason}` lacks `{reason}`"
            );
            assert_eq!(err.error_type(), "ConfigInvalid");
        }
    }

    #[test]
    fn text_that_is_not_json_is_a_config_error() {
        let err = PilotLightConfig::from_json_str("{not json").unwrap_err();
        assert_eq!(err.error_type(), "ConfigInvalid");
    }

    #[test]
    fn parameter_names() {
        assert_eq!(config_parameter_name("prod"), "/pilot-light/prod/config");
        assert_eq!(state_parameter_name("prod"), "/pilot-light/prod/state");
        assert_eq!(lock_parameter_name("prod"), "/pilot-light/prod/lock");
    }

    #[test]
    fn s3_replication_pairs_are_validated() {
        let pair = json!({
            "name": "assets",
            "primaryBucket": "assets-use1",
            "standbyBucket": "assets-usw2",
            "primaryRoleArn": "arn:aws:iam::123456789012:role/assets-replication",
            "reverseRoleArn": "arn:aws:iam::123456789012:role/assets-reverse-replication"
        });
        let mut doc = valid();
        doc["s3Replication"] = json!([pair.clone()]);
        let config = PilotLightConfig::from_json(doc.clone()).unwrap();
        assert_eq!(config.s3_replication[0].standby_bucket, "assets-usw2");
        assert!(PilotLightConfig::from_json(valid())
            .unwrap()
            .s3_replication
            .is_empty());
        let cases: &[(&str, Value, &str)] = &[
            ("primaryBucket", json!("Assets"), "not an S3 bucket name"),
            ("standbyBucket", json!("ab"), "not an S3 bucket name"),
            (
                "standbyBucket",
                json!("192.168.1.1"),
                "not an S3 bucket name",
            ),
            ("standbyBucket", json!("a..b"), "not an S3 bucket name"),
            ("standbyBucket", json!("assets-use1"), "must differ"),
            (
                "primaryRoleArn",
                json!("arn:aws:iam::123:role/x"),
                "not an IAM role ARN",
            ),
            (
                "reverseRoleArn",
                json!("arn:aws:iam::123456789012:user/x"),
                "not an IAM role ARN",
            ),
            (
                "reverseRoleArn",
                json!("arn:aws:iam::123456789012:role/assets-replication"),
                "one-way role",
            ),
            ("name", json!("has space"), "letters"),
        ];
        for (key, value, reason) in cases {
            let mut bad = doc.clone();
            *bad.pointer_mut(&format!("/s3Replication/0/{key}")).unwrap() = value.clone();
            let err = PilotLightConfig::from_json(bad).unwrap_err();
            let PilotLightError::ConfigInvalid { field, reason: why } = &err else {
                panic!("{err:?}");
            };
            assert_eq!(field, &format!("s3Replication[0].{key}"), "{err}");
            assert!(why.contains(reason), "{key}: `{why}` lacks `{reason}`");
        }
        let mut twice = doc.clone();
        twice["s3Replication"] = json!([pair.clone(), pair]);
        let err = PilotLightConfig::from_json(twice).unwrap_err();
        assert!(err.to_string().contains("duplicate bucket pair"), "{err}");
    }

    fn duplicate_database() -> Value {
        let mut doc = valid();
        let first = doc["databases"][0].clone();
        doc["databases"].as_array_mut().unwrap().push(first);
        doc
    }
}
