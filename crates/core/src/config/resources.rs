//! The protected resources: databases, compute groups, functions, DNS records and S3 bucket pairs.

use serde::{Deserialize, Serialize};

use super::ProductionShape;

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
