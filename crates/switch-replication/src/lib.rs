//! `switch-replication`: S3 Cross-Region Replication that follows the active region, for each
//! configured bucket pair (`s3Replication` in the configuration document).
//!
//! * `failover` (standby region only, plus one best-effort call into the primary): versioning on the
//!   standby bucket, and a rule on the standby bucket that replicates back into the primary bucket
//!   under the *reverse* role (a role of its own: the primary's one-way role cannot replicate the
//!   other way). In `graceful` mode it then disables the primary bucket's rule towards the standby,
//!   best effort and time-boxed; `ungraceful` never calls the primary region. The standby bucket
//!   takes writes whether or not the primary answers: nothing here waits for the primary.
//! * `failback`: versioning on the primary bucket, the primary → standby rule enabled again (or
//!   re-created from the configuration), the reverse rule removed from the standby bucket, and the
//!   objects written in the standby while it was active that the primary does not have listed.
//! * `listUnreplicated`: that list alone (read-only).
//! * `copyBack`: copies the listed objects into the primary bucket, a bounded number per call.
//!
//! Observe, then act: every action reads both replication configurations (and versioning) first and
//! changes only what differs, so a second run changes nothing. The reverse rule's id carries the
//! time it was made (`pilot-light-reverse-<name>-<yyyymmddThhmmssZ>`): the failback finds the start
//! of the window the standby served in from S3 itself, even when its caller cannot say.
//!
//! An object "has replicated back" when the primary has the key with the same ETag, or carries the
//! standby ETag in its `pilot-light-source-etag` metadata (what `copyBack` writes: a copy of a
//! multipart or KMS-encrypted object gets a new ETag). A primary object newer than the standby's is
//! never overwritten: it is reported as `primaryNewer` and left alone.

use aws_config::SdkConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketVersioningStatus, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    MetadataDirective, ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter,
    ReplicationRuleStatus, VersioningConfiguration,
};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use pilot_light_core::config::S3ReplicationConfig;
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["failover", "failback", "listUnreplicated", "copyBack"];

/// How many objects in the window one call examines at most (`maxObjects` overrides it).
pub const DEFAULT_MAX_OBJECTS: usize = 500;

/// Listing pages (1000 keys each) one call reads at most before it answers `truncated`.
const MAX_LIST_PAGES: usize = 100;

/// The largest object one `CopyObject` can copy (5 GiB); larger ones are listed in `skipped`.
pub const MAX_COPY_BYTES: i64 = 5 * 1024 * 1024 * 1024;

/// User metadata `copyBack` writes on its copies: the ETag of the standby object copied.
pub const SOURCE_ETAG_METADATA: &str = "pilot-light-source-etag";

/// The default time box of the one best-effort call into the primary region (graceful failover).
pub const DEFAULT_PRIMARY_TIMEOUT_SECONDS: u64 = 10;

const REVERSE_RULE_PREFIX: &str = "pilot-light-reverse-";
const FORWARD_RULE_PREFIX: &str = "pilot-light-forward-";

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub s3: Regional<aws_sdk_s3::Client>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        Self::from_sdk_config(pilot_light_core::clients::load_sdk_config().await)
    }

    /// Clients from one shared configuration (the tests give the emulator's).
    pub fn from_sdk_config(base: SdkConfig) -> Self {
        Self {
            s3: Regional::new(base, s3_client),
        }
    }
}

/// An S3 client for `config`'s region. With an explicit endpoint (the local emulator) requests are
/// path-style (`http://host/bucket/key`): virtual-hosted names cannot resolve on a loopback address.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let builder = aws_sdk_s3::config::Builder::from(config);
    let builder = if config.endpoint_url().is_some() {
        builder.force_path_style(true)
    } else {
        builder
    };
    aws_sdk_s3::Client::from_conf(builder.build())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Failover,
    Failback,
    ListUnreplicated,
    CopyBack,
}

/// The failover's mode: `ungraceful` never calls the primary region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    Graceful,
    #[default]
    Ungraceful,
}

/// Input from the state machine (one bucket pair).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchReplicationInput {
    pub action: Action,
    pub primary_region: String,
    pub standby_region: String,
    pub replication: S3ReplicationConfig,
    /// `failover`: `graceful` or `ungraceful` (default).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Start of the window the standby served in (RFC 3339), e.g. the run state's `since`. The
    /// earlier of this and the reverse rule's own time is used; neither: the whole standby bucket.
    #[serde(default)]
    pub since: Option<String>,
    /// The run state as the state machine read it (`run-state`'s `state`): its `since` is used when
    /// `since` is not given.
    #[serde(default)]
    pub run_state: Option<serde_json::Value>,
    /// Objects in the window one call examines at most (default 500).
    #[serde(default)]
    pub max_objects: Option<usize>,
    /// Continue a listing after this key (the `nextStartAfter` of a truncated answer).
    #[serde(default)]
    pub start_after: Option<String>,
    /// Time box, in seconds, of the best-effort call into the primary (graceful failover).
    #[serde(default)]
    pub primary_timeout_seconds: Option<u64>,
    #[serde(default)]
    pub execution_id: Option<String>,
}

// ------------------------------------------------------------------------------------------------
// Domain view of a replication configuration, and the pure decisions
// ------------------------------------------------------------------------------------------------

/// One replication rule as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleView {
    pub id: Option<String>,
    pub enabled: bool,
    /// The destination bucket's name (from its ARN).
    pub destination_bucket: Option<String>,
}

/// A bucket's replication configuration as the decisions see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationView {
    pub role: String,
    pub rules: Vec<RuleView>,
}

impl ReplicationView {
    fn from_sdk(config: &ReplicationConfiguration) -> Self {
        Self {
            role: config.role().to_string(),
            rules: config
                .rules()
                .iter()
                .map(|rule| RuleView {
                    id: rule.id().map(str::to_string),
                    enabled: rule.status() == &ReplicationRuleStatus::Enabled,
                    destination_bucket: rule
                        .destination()
                        .map(|d| bucket_name_of(d.bucket()).to_string()),
                })
                .collect(),
        }
    }

    fn to(&self, bucket: &str) -> Vec<usize> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.destination_bucket.as_deref() == Some(bucket))
            .map(|(i, _)| i)
            .collect()
    }
}

/// The bucket name in a destination (`arn:aws:s3:::name`, or a plain name).
pub fn bucket_name_of(destination: &str) -> &str {
    destination
        .rsplit_once(":::")
        .map(|(_, name)| name)
        .unwrap_or(destination)
}

/// What to do so that a bucket replicates into `destination` under `role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureRule {
    /// An enabled rule to the destination under that role exists: nothing to do.
    Present { index: usize },
    /// Put the configuration again under `role`: every rule kept, the rules at `enable` enabled,
    /// and a new rule added when `add`. `role_changed`: the configuration had another role (or none).
    Put {
        role_changed: bool,
        enable: Vec<usize>,
        add: bool,
    },
}

/// Decides how a bucket comes to replicate into `destination` under `role`. Refuses (the reason)
/// to change the role of a configuration whose other rules replicate elsewhere: one configuration
/// has one role, and those rules were not made for ours.
pub fn decide_ensure(
    current: Option<&ReplicationView>,
    role: &str,
    destination: &str,
) -> Result<EnsureRule, String> {
    let Some(view) = current else {
        return Ok(EnsureRule::Put {
            role_changed: true,
            enable: vec![],
            add: true,
        });
    };
    let to_destination = view.to(destination);
    if view.role == role {
        if let Some(&index) = to_destination.iter().find(|&&i| view.rules[i].enabled) {
            return Ok(EnsureRule::Present { index });
        }
        return Ok(EnsureRule::Put {
            role_changed: false,
            add: to_destination.is_empty(),
            enable: to_destination,
        });
    }
    let others = view.rules.len() - to_destination.len();
    if others > 0 {
        return Err(format!(
            "the bucket replicates to {others} other destination(s) under role {}; pilot-light will not put them under {role}",
            view.role
        ));
    }
    Ok(EnsureRule::Put {
        role_changed: true,
        add: to_destination.is_empty(),
        enable: to_destination,
    })
}

/// The enabled rules to `destination` (to disable on a graceful failover).
pub fn decide_disable(current: Option<&ReplicationView>, destination: &str) -> Vec<usize> {
    current
        .map(|view| {
            view.to(destination)
                .into_iter()
                .filter(|&i| view.rules[i].enabled)
                .collect()
        })
        .unwrap_or_default()
}

/// How to remove the rules to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveRules {
    /// No rule to the destination.
    Nothing,
    /// Every rule is one to the destination: delete the configuration.
    DeleteConfiguration,
    /// Put the configuration with only the rules at `keep`.
    Keep { keep: Vec<usize> },
}

pub fn decide_remove(current: Option<&ReplicationView>, destination: &str) -> RemoveRules {
    let Some(view) = current else {
        return RemoveRules::Nothing;
    };
    let to_destination = view.to(destination);
    if to_destination.is_empty() {
        RemoveRules::Nothing
    } else if to_destination.len() == view.rules.len() {
        RemoveRules::DeleteConfiguration
    } else {
        RemoveRules::Keep {
            keep: (0..view.rules.len())
                .filter(|i| !to_destination.contains(i))
                .collect(),
        }
    }
}

/// The id of a reverse rule made at `millis` (epoch): it records when the standby took over.
pub fn reverse_rule_id(name: &str, millis: i64) -> String {
    let stamp = DateTime::from_millis(millis)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into());
    // 2026-03-01T12:34:56Z (or with fractional seconds) → 20260301T123456Z
    let basic: String = stamp
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{REVERSE_RULE_PREFIX}{name}-{basic}Z")
}

/// The time (epoch millis) a reverse rule of `name` was made, from its id.
pub fn since_from_rule_id(name: &str, id: &str) -> Option<i64> {
    let stamp = id.strip_prefix(REVERSE_RULE_PREFIX)?.strip_prefix(name)?;
    let basic = stamp.strip_prefix('-')?.strip_suffix('Z')?;
    let (date, time) = basic.split_once('T')?;
    if date.len() != 8
        || time.len() != 6
        || !(date.chars().chain(time.chars())).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &time[..2],
        &time[2..4],
        &time[4..]
    );
    DateTime::from_str(&text, Format::DateTime)
        .ok()
        .and_then(|d| d.to_millis().ok())
}

/// The start of the window to list: the earliest time known, and where it came from.
pub fn choose_since(input: Option<i64>, from_rule: Option<i64>) -> (Option<i64>, SinceSource) {
    match (input, from_rule) {
        (Some(a), Some(b)) if b < a => (Some(b), SinceSource::ReverseRule),
        (Some(a), _) => (Some(a), SinceSource::Input),
        (None, Some(b)) => (Some(b), SinceSource::ReverseRule),
        (None, None) => (None, SinceSource::WholeBucket),
    }
}

/// Where the window's start came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SinceSource {
    Input,
    ReverseRule,
    /// No start known: every standby object was compared.
    WholeBucket,
}

/// A standby object in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyObject {
    pub key: String,
    pub etag: String,
    pub size: i64,
    pub last_modified_millis: i64,
}

/// The primary's object under the same key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryObject {
    pub etag: String,
    pub last_modified_millis: i64,
    /// `pilot-light-source-etag`: the standby ETag this object was copied from.
    pub source_etag: Option<String>,
}

/// Where a standby object stands against the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Replication {
    /// The primary has it (same ETag, or copied from this ETag).
    Replicated,
    /// The primary has no object under the key.
    Missing,
    /// The primary's object is older and different.
    Differs,
    /// The primary's object is newer (written after traffic came back): it is never overwritten.
    PrimaryNewer,
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

/// Compares one standby object with the primary's object under its key (by key and ETag).
pub fn classify(standby: &StandbyObject, primary: Option<&PrimaryObject>) -> Replication {
    let Some(primary) = primary else {
        return Replication::Missing;
    };
    let copied_from_it = primary
        .source_etag
        .as_deref()
        .is_some_and(|e| same_etag(e, &standby.etag));
    if same_etag(&primary.etag, &standby.etag) || copied_from_it {
        Replication::Replicated
    } else if primary.last_modified_millis > standby.last_modified_millis {
        Replication::PrimaryNewer
    } else {
        Replication::Differs
    }
}

/// `CopySource` of an object: `bucket/key`, the key percent-encoded except `/`.
pub fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    out.push_str(bucket);
    out.push('/');
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The partition of a region (for ARNs).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn bucket_arn(region: &str, bucket: &str) -> String {
    format!("arn:{}:s3:::{bucket}", partition_of(region))
}

fn object_arn(region: &str, bucket: &str, key: &str) -> String {
    format!("arn:{}:s3:::{bucket}/{key}", partition_of(region))
}

// ------------------------------------------------------------------------------------------------
// Answers
// ------------------------------------------------------------------------------------------------

/// What a rule change did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleOutcome {
    /// The bucket whose configuration this is.
    pub bucket: String,
    /// `present` (nothing to do), `added`, `enabled`, `roleChanged`, `removed`, `disabled`,
    /// `absent` (nothing to remove or disable), `skipped` (ungraceful: the primary is not called),
    /// `unreachable` (best effort failed or timed out).
    pub change: String,
    /// Ids of the rules looked at or changed.
    pub rule_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RuleOutcome {
    fn changed(&self) -> bool {
        matches!(
            self.change.as_str(),
            "added" | "enabled" | "roleChanged" | "removed" | "disabled"
        )
    }
}

/// One object of the standby the primary lacks (or has older and different).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreplicatedObject {
    pub key: String,
    pub etag: String,
    pub size: i64,
    pub last_modified: String,
    pub replication: Replication,
}

/// An object left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedObject {
    pub key: String,
    pub reason: String,
}

/// The listing of the objects written in the standby that have not replicated back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreplicatedListing {
    /// `listUnreplicated` (the report lists this answer's `resources`: the objects to copy); absent
    /// in a `copyBack` answer, whose own `resources` are the objects it copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// `done` when objects were found (the operator has something to copy), `alreadyDone` when
    /// every object in the window is in the primary.
    pub status: StepStatus,
    pub name: String,
    /// The window's start (RFC 3339), `null` for the whole bucket.
    pub since: Option<String>,
    pub since_source: SinceSource,
    pub standby_bucket: String,
    pub primary_bucket: String,
    pub count: usize,
    pub objects: Vec<UnreplicatedObject>,
    pub skipped: Vec<SkippedObject>,
    /// Objects in the window examined.
    pub examined: usize,
    /// More objects remain after `nextStartAfter`: call again with `startAfter`.
    pub truncated: bool,
    /// Always present (`null` when not truncated), so a state machine can pass it on.
    pub next_start_after: Option<String>,
    /// ARNs of the unreplicated standby objects.
    pub resources: Vec<String>,
}

/// The answer of every action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwitchReplicationOutput {
    pub action: Action,
    pub status: StepStatus,
    pub name: String,
    pub primary_bucket: String,
    pub standby_bucket: String,
    /// `failover`: the failover's mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Versioning turned on by this run on the source bucket (`failover`: standby; `failback`:
    /// primary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning_enabled: Option<bool>,
    /// `failover`: the standby → primary rule; `failback`: the primary → standby rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_rule: Option<RuleOutcome>,
    /// `failover`: the primary's rule to the standby (disabled, best effort); `failback`: the
    /// standby's reverse rule (removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_rule: Option<RuleOutcome>,
    /// `failback`, `listUnreplicated`, `copyBack`: what has not replicated back (before copying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreplicated: Option<UnreplicatedListing>,
    /// `copyBack`: the keys copied into the primary bucket by this call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied: Option<Vec<String>>,
    /// `failback`, `listUnreplicated`, `copyBack`: the window's start (RFC 3339), to pass on to the
    /// next call; `null` when unknown (the whole standby bucket is compared).
    pub since: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

// ------------------------------------------------------------------------------------------------
// The handler
// ------------------------------------------------------------------------------------------------

/// Handles one invocation.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let input: SwitchReplicationInput = parse_step_input(event, ACTIONS)?;
    validate(&input)?;
    let started_at = Timestamp::now();
    tracing::info!(
        action = ?input.action,
        pair = %input.replication.name,
        execution_id = input.execution_id.as_deref().unwrap_or(""),
        "switch-replication"
    );
    let mut out = match input.action {
        Action::Failover => failover(&input, clients).await?,
        Action::Failback => failback(&input, clients).await?,
        Action::ListUnreplicated => list_only(&input, clients).await?,
        Action::CopyBack => copy_back(&input, clients).await?,
    };
    out.started_at = started_at;
    out.finished_at = Timestamp::now();
    Ok(out)
}

fn validate(input: &SwitchReplicationInput) -> Result<(), PilotLightError> {
    let invalid = |field: &str, reason: &str| PilotLightError::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    };
    for (field, region) in [
        ("primaryRegion", &input.primary_region),
        ("standbyRegion", &input.standby_region),
    ] {
        pilot_light_core::clients::validate_region(region)
            .map_err(|reason| invalid(field, &reason))?;
    }
    if input.primary_region == input.standby_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: "primaryRegion and standbyRegion are the same region: no cross-region replication to switch".into(),
        });
    }
    // The configuration document was validated when loaded; the slice is checked again here so a
    // hand-made input cannot reuse the one-way role.
    let mut document = serde_json::json!({
        "env": "check",
        "regions": {"primary": input.primary_region, "standby": input.standby_region},
    });
    document["s3Replication"] = serde_json::json!([input.replication]);
    pilot_light_core::PilotLightConfig::from_json(document).map_err(|err| match err {
        PilotLightError::ConfigInvalid { field, reason } => PilotLightError::InvalidInput {
            field: field.replacen("s3Replication[0]", "replication", 1),
            reason,
        },
        other => other,
    })?;
    if input.max_objects == Some(0) {
        return Err(invalid("maxObjects", "must be at least 1"));
    }
    if input.primary_timeout_seconds == Some(0) {
        return Err(invalid("primaryTimeoutSeconds", "must be at least 1"));
    }
    Ok(())
}

fn parse_since(input: &SwitchReplicationInput) -> Result<Option<i64>, PilotLightError> {
    let from_state = input
        .run_state
        .as_ref()
        .and_then(|state| state.get("since"))
        .and_then(serde_json::Value::as_str);
    input
        .since
        .as_deref()
        .or(from_state)
        .filter(|s| !s.is_empty())
        .map(|text| {
            DateTime::from_str(text, Format::DateTime)
                .ok()
                .and_then(|d| d.to_millis().ok())
                .ok_or_else(|| PilotLightError::InvalidInput {
                    field: "since".into(),
                    reason: format!("`{text}` is not an RFC 3339 time"),
                })
        })
        .transpose()
}

fn format_millis(millis: i64) -> String {
    DateTime::from_millis(millis)
        .fmt(Format::DateTime)
        .unwrap_or_default()
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn base_output(input: &SwitchReplicationInput) -> SwitchReplicationOutput {
    SwitchReplicationOutput {
        action: input.action,
        status: StepStatus::AlreadyDone,
        name: input.replication.name.clone(),
        primary_bucket: input.replication.primary_bucket.clone(),
        standby_bucket: input.replication.standby_bucket.clone(),
        mode: None,
        versioning_enabled: None,
        replication_rule: None,
        old_rule: None,
        unreplicated: None,
        copied: None,
        since: None,
        started_at: Timestamp::now(),
        finished_at: Timestamp::now(),
        resources: vec![
            bucket_arn(&input.primary_region, &input.replication.primary_bucket),
            bucket_arn(&input.standby_region, &input.replication.standby_bucket),
        ],
    }
}

fn missing_bucket(bucket: &str, region: &str) -> impl FnOnce() -> PilotLightError {
    let (bucket, region) = (bucket.to_string(), region.to_string());
    move || PilotLightError::ResourceNotFound {
        kind: "Bucket".into(),
        id: bucket,
        region,
    }
}

fn is_no_such_bucket<E: ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("NoSuchBucket")
}

/// Turns versioning on when it is not (`true`: this call turned it on).
async fn ensure_versioning(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> Result<bool, PilotLightError> {
    let current = s3
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "GetBucketVersioning",
                &e,
                is_no_such_bucket,
                missing_bucket(bucket, region),
            )
        })?;
    if current.status() == Some(&BucketVersioningStatus::Enabled) {
        return Ok(false);
    }
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "PutBucketVersioning",
                &e,
                is_no_such_bucket,
                missing_bucket(bucket, region),
            )
        })?;
    Ok(true)
}

/// The bucket's replication configuration; `None` when it has none.
async fn read_replication(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> Result<Option<ReplicationConfiguration>, PilotLightError> {
    match s3.get_bucket_replication().bucket(bucket).send().await {
        Ok(out) => Ok(out.replication_configuration().cloned()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.code() == Some("ReplicationConfigurationNotFoundError")) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk_or_missing(
            "GetBucketReplication",
            &err,
            is_no_such_bucket,
            missing_bucket(bucket, region),
        )),
    }
}

async fn write_replication(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    config: ReplicationConfiguration,
) -> Result<(), PilotLightError> {
    s3.put_bucket_replication()
        .bucket(bucket)
        .replication_configuration(config)
        .send()
        .await
        .map_err(|e| {
            PilotLightError::from_sdk_or_missing(
                "PutBucketReplication",
                &e,
                is_no_such_bucket,
                missing_bucket(bucket, region),
            )
        })?;
    Ok(())
}

fn build_error(what: &str, err: impl std::fmt::Display) -> PilotLightError {
    PilotLightError::InvalidInput {
        field: what.into(),
        reason: err.to_string(),
    }
}

/// A whole-bucket rule to `destination_arn`, enabled, delete markers replicated too.
fn new_rule(
    id: String,
    priority: i32,
    destination_arn: &str,
) -> Result<ReplicationRule, PilotLightError> {
    ReplicationRule::builder()
        .id(id)
        .priority(priority)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .status(ReplicationRuleStatus::Enabled)
        .delete_marker_replication(
            DeleteMarkerReplication::builder()
                .status(DeleteMarkerReplicationStatus::Enabled)
                .build(),
        )
        .destination(
            Destination::builder()
                .bucket(destination_arn)
                .build()
                .map_err(|e| build_error("destination", e))?,
        )
        .build()
        .map_err(|e| build_error("rule", e))
}

/// Applies an [`EnsureRule::Put`] to the current configuration: the new configuration.
fn ensured_configuration(
    current: Option<&ReplicationConfiguration>,
    role: &str,
    enable: &[usize],
    add: Option<ReplicationRule>,
) -> Result<ReplicationConfiguration, PilotLightError> {
    let mut rules: Vec<ReplicationRule> = current.map(|c| c.rules().to_vec()).unwrap_or_default();
    for &i in enable {
        if let Some(rule) = rules.get_mut(i) {
            rule.status = ReplicationRuleStatus::Enabled;
        }
    }
    rules.extend(add);
    ReplicationConfiguration::builder()
        .role(role)
        .set_rules(Some(rules))
        .build()
        .map_err(|e| build_error("replicationConfiguration", e))
}

fn next_priority(current: Option<&ReplicationConfiguration>) -> i32 {
    current
        .map(|c| {
            c.rules()
                .iter()
                .filter_map(|r| r.priority())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
        + 1
}

/// Makes `bucket` replicate into `destination_bucket` under `role`.
async fn ensure_rule(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
    role: &str,
    destination_bucket: &str,
    destination_region: &str,
    new_rule_id: String,
) -> Result<RuleOutcome, PilotLightError> {
    let current = read_replication(s3, bucket, region).await?;
    let view = current.as_ref().map(ReplicationView::from_sdk);
    let decision = decide_ensure(view.as_ref(), role, destination_bucket).map_err(|reason| {
        PilotLightError::UnsafeOperation {
            reason: format!("{bucket}: {reason}"),
        }
    })?;
    let ids = |indices: &[usize]| -> Vec<String> {
        indices
            .iter()
            .filter_map(|&i| view.as_ref()?.rules.get(i)?.id.clone())
            .collect()
    };
    match decision {
        EnsureRule::Present { index } => Ok(RuleOutcome {
            bucket: bucket.to_string(),
            change: "present".into(),
            rule_ids: ids(&[index]),
            role: Some(role.to_string()),
            error: None,
        }),
        EnsureRule::Put {
            role_changed,
            enable,
            add,
        } => {
            let added = if add {
                Some(new_rule(
                    new_rule_id.clone(),
                    next_priority(current.as_ref()),
                    &bucket_arn(destination_region, destination_bucket),
                )?)
            } else {
                None
            };
            let config = ensured_configuration(current.as_ref(), role, &enable, added)?;
            write_replication(s3, bucket, region, config).await?;
            let mut rule_ids = ids(&enable);
            if add {
                rule_ids.push(new_rule_id);
            }
            let change = if add {
                "added"
            } else if role_changed {
                "roleChanged"
            } else {
                "enabled"
            };
            Ok(RuleOutcome {
                bucket: bucket.to_string(),
                change: change.into(),
                rule_ids,
                role: Some(role.to_string()),
                error: None,
            })
        }
    }
}

/// Graceful failover: the primary's enabled rules to the standby are disabled (kept, with all their
/// settings, for the failback to enable again).
async fn disable_primary_rule(
    s3: &aws_sdk_s3::Client,
    input: &SwitchReplicationInput,
) -> Result<RuleOutcome, PilotLightError> {
    let pair = &input.replication;
    let current = read_replication(s3, &pair.primary_bucket, &input.primary_region).await?;
    let view = current.as_ref().map(ReplicationView::from_sdk);
    let disable = decide_disable(view.as_ref(), &pair.standby_bucket);
    let rule_ids: Vec<String> = disable
        .iter()
        .filter_map(|&i| view.as_ref()?.rules.get(i)?.id.clone())
        .collect();
    let Some(current) = current.filter(|_| !disable.is_empty()) else {
        return Ok(RuleOutcome {
            bucket: pair.primary_bucket.clone(),
            change: "absent".into(),
            rule_ids,
            role: None,
            error: None,
        });
    };
    let mut rules = current.rules().to_vec();
    for &i in &disable {
        rules[i].status = ReplicationRuleStatus::Disabled;
    }
    let config = ReplicationConfiguration::builder()
        .role(current.role())
        .set_rules(Some(rules))
        .build()
        .map_err(|e| build_error("replicationConfiguration", e))?;
    write_replication(s3, &pair.primary_bucket, &input.primary_region, config).await?;
    Ok(RuleOutcome {
        bucket: pair.primary_bucket.clone(),
        change: "disabled".into(),
        rule_ids,
        role: Some(current.role().to_string()),
        error: None,
    })
}

async fn failover(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let mode = input.mode.unwrap_or_default();
    let mut out = base_output(input);
    out.mode = Some(mode);

    // The standby bucket becomes the replication source: versioning first (S3 requires it).
    let versioning =
        ensure_versioning(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let reverse = ensure_rule(
        &standby,
        &pair.standby_bucket,
        &input.standby_region,
        &pair.reverse_role_arn,
        &pair.primary_bucket,
        &input.primary_region,
        reverse_rule_id(&pair.name, now_millis()),
    )
    .await?;

    let old = match mode {
        Mode::Ungraceful => RuleOutcome {
            bucket: pair.primary_bucket.clone(),
            change: "skipped".into(),
            rule_ids: vec![],
            role: None,
            error: None,
        },
        Mode::Graceful => {
            let seconds = input
                .primary_timeout_seconds
                .unwrap_or(DEFAULT_PRIMARY_TIMEOUT_SECONDS);
            let attempt = async {
                let primary = clients.s3.get(&input.primary_region)?;
                disable_primary_rule(&primary, input).await
            };
            let unreachable = |error: String| RuleOutcome {
                bucket: pair.primary_bucket.clone(),
                change: "unreachable".into(),
                rule_ids: vec![],
                role: None,
                error: Some(error),
            };
            match tokio::time::timeout(Duration::from_secs(seconds), attempt).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "the primary's replication rule was not disabled (best effort)");
                    unreachable(format!("{}: {err}", err.error_type()))
                }
                Err(_) => {
                    tracing::warn!(
                        seconds,
                        "the primary region did not answer in time (best effort)"
                    );
                    unreachable(format!("no answer within {seconds} s"))
                }
            }
        }
    };
    if versioning || reverse.changed() || old.changed() {
        out.status = StepStatus::Done;
    }
    out.versioning_enabled = Some(versioning);
    out.replication_rule = Some(reverse);
    out.old_rule = Some(old);
    Ok(out)
}

async fn failback(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let primary = clients.s3.get(&input.primary_region)?;
    let mut out = base_output(input);

    // Observe the reverse rule first: its id says when the standby took over.
    let standby_config =
        read_replication(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let standby_view = standby_config.as_ref().map(ReplicationView::from_sdk);
    let rule_since = reverse_rule_since(standby_view.as_ref(), pair);

    // The primary is the source again: versioning, then its rule to the standby.
    let versioning =
        ensure_versioning(&primary, &pair.primary_bucket, &input.primary_region).await?;
    let forward = ensure_rule(
        &primary,
        &pair.primary_bucket,
        &input.primary_region,
        &pair.primary_role_arn,
        &pair.standby_bucket,
        &input.standby_region,
        format!("{FORWARD_RULE_PREFIX}{}", pair.name),
    )
    .await?;

    // Then the standby stops replicating into the primary.
    let removal = decide_remove(standby_view.as_ref(), &pair.primary_bucket);
    let removed_ids: Vec<String> = standby_view
        .as_ref()
        .map(|v| {
            v.to(&pair.primary_bucket)
                .into_iter()
                .filter_map(|i| v.rules[i].id.clone())
                .collect()
        })
        .unwrap_or_default();
    let change = match (&removal, &standby_config) {
        (RemoveRules::Nothing, _) | (_, None) => "absent",
        (RemoveRules::DeleteConfiguration, Some(_)) => {
            standby
                .delete_bucket_replication()
                .bucket(&pair.standby_bucket)
                .send()
                .await
                .map_err(|e| {
                    PilotLightError::from_sdk_or_missing(
                        "DeleteBucketReplication",
                        &e,
                        is_no_such_bucket,
                        missing_bucket(&pair.standby_bucket, &input.standby_region),
                    )
                })?;
            "removed"
        }
        (RemoveRules::Keep { keep }, Some(config)) => {
            let rules: Vec<ReplicationRule> =
                keep.iter().map(|&i| config.rules()[i].clone()).collect();
            let config = ReplicationConfiguration::builder()
                .role(config.role())
                .set_rules(Some(rules))
                .build()
                .map_err(|e| build_error("replicationConfiguration", e))?;
            write_replication(
                &standby,
                &pair.standby_bucket,
                &input.standby_region,
                config,
            )
            .await?;
            "removed"
        }
    };
    let old = RuleOutcome {
        bucket: pair.standby_bucket.clone(),
        change: change.into(),
        rule_ids: removed_ids,
        role: None,
        error: None,
    };

    let listing = list_unreplicated(input, &standby, &primary, rule_since).await?;
    if versioning || forward.changed() || old.changed() {
        out.status = StepStatus::Done;
    }
    out.since = listing.since.clone();
    out.versioning_enabled = Some(versioning);
    out.replication_rule = Some(forward);
    out.old_rule = Some(old);
    out.unreplicated = Some(listing);
    Ok(out)
}

/// The earliest time a reverse rule of this pair records (rules to the primary bucket only).
fn reverse_rule_since(view: Option<&ReplicationView>, pair: &S3ReplicationConfig) -> Option<i64> {
    let view = view?;
    view.to(&pair.primary_bucket)
        .into_iter()
        .filter_map(|i| since_from_rule_id(&pair.name, view.rules[i].id.as_deref()?))
        .min()
}

async fn list_only(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let primary = clients.s3.get(&input.primary_region)?;
    let config = read_replication(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let rule_since = reverse_rule_since(
        config.as_ref().map(ReplicationView::from_sdk).as_ref(),
        pair,
    );
    let listing = list_unreplicated(input, &standby, &primary, rule_since).await?;
    let mut out = base_output(input);
    out.status = StepStatus::AlreadyDone;
    out.since = listing.since.clone();
    out.unreplicated = Some(listing);
    Ok(out)
}

/// Lists the standby objects in the window (last modified at or after `since`) and compares each
/// with the primary's object under its key.
async fn list_unreplicated(
    input: &SwitchReplicationInput,
    standby: &aws_sdk_s3::Client,
    primary: &aws_sdk_s3::Client,
    rule_since: Option<i64>,
) -> Result<UnreplicatedListing, PilotLightError> {
    let pair = &input.replication;
    let (since, since_source) = choose_since(parse_since(input)?, rule_since);
    let max_objects = input.max_objects.unwrap_or(DEFAULT_MAX_OBJECTS);

    let mut window = Vec::new();
    let mut truncated = false;
    let mut last_key: Option<String> = None;
    let mut token: Option<String> = None;
    let mut pages = 0;
    'pages: loop {
        let page = standby
            .list_objects_v2()
            .bucket(&pair.standby_bucket)
            .set_start_after(if token.is_none() {
                input.start_after.clone()
            } else {
                None
            })
            .set_continuation_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                PilotLightError::from_sdk_or_missing(
                    "ListObjectsV2",
                    &e,
                    |e| e.is_no_such_bucket(),
                    missing_bucket(&pair.standby_bucket, &input.standby_region),
                )
            })?;
        pages += 1;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let last_modified = object
                .last_modified()
                .and_then(|d| d.to_millis().ok())
                .unwrap_or(0);
            if since.is_none_or(|s| last_modified >= s) {
                if window.len() == max_objects {
                    truncated = true;
                    break 'pages;
                }
                window.push(StandbyObject {
                    key: key.to_string(),
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    size: object.size().unwrap_or(0),
                    last_modified_millis: last_modified,
                });
            }
            last_key = Some(key.to_string());
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        if pages >= MAX_LIST_PAGES {
            truncated = true;
            break;
        }
    }

    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for object in &window {
        let theirs = head_primary(primary, input, &object.key).await?;
        match classify(object, theirs.as_ref()) {
            Replication::Replicated => {}
            Replication::PrimaryNewer => skipped.push(SkippedObject {
                key: object.key.clone(),
                reason:
                    "primaryNewer: the primary's object was written after the standby's; it is kept"
                        .into(),
            }),
            replication => objects.push(UnreplicatedObject {
                key: object.key.clone(),
                etag: object.etag.clone(),
                size: object.size,
                last_modified: format_millis(object.last_modified_millis),
                replication,
            }),
        }
    }
    Ok(UnreplicatedListing {
        action: Some(Action::ListUnreplicated),
        status: if objects.is_empty() {
            StepStatus::AlreadyDone
        } else {
            StepStatus::Done
        },
        name: pair.name.clone(),
        since: since.map(format_millis),
        since_source,
        standby_bucket: pair.standby_bucket.clone(),
        primary_bucket: pair.primary_bucket.clone(),
        count: objects.len(),
        resources: objects
            .iter()
            .map(|o| object_arn(&input.standby_region, &pair.standby_bucket, &o.key))
            .collect(),
        objects,
        skipped,
        examined: window.len(),
        truncated,
        next_start_after: if truncated { last_key } else { None },
    })
}

/// The primary's object under `key`; `None` when there is none.
async fn head_primary(
    primary: &aws_sdk_s3::Client,
    input: &SwitchReplicationInput,
    key: &str,
) -> Result<Option<PrimaryObject>, PilotLightError> {
    let pair = &input.replication;
    match primary
        .head_object()
        .bucket(&pair.primary_bucket)
        .key(key)
        .send()
        .await
    {
        Ok(head) => Ok(Some(PrimaryObject {
            etag: head.e_tag().unwrap_or_default().to_string(),
            last_modified_millis: head
                .last_modified()
                .and_then(|d| d.to_millis().ok())
                .unwrap_or(0),
            source_etag: head
                .metadata()
                .and_then(|m| m.get(SOURCE_ETAG_METADATA))
                .cloned(),
        })),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
        Err(err) => Err(PilotLightError::from_sdk("HeadObject", &err)),
    }
}

async fn copy_back(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let primary = clients.s3.get(&input.primary_region)?;
    let config = read_replication(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let rule_since = reverse_rule_since(
        config.as_ref().map(ReplicationView::from_sdk).as_ref(),
        pair,
    );
    let mut listing = list_unreplicated(input, &standby, &primary, rule_since).await?;
    listing.action = None;

    let mut copied = Vec::new();
    for object in &listing.objects {
        if object.size > MAX_COPY_BYTES {
            listing.skipped.push(SkippedObject {
                key: object.key.clone(),
                reason: "tooLarge: over 5 GiB, copy it with a multipart copy (aws s3 cp)".into(),
            });
            continue;
        }
        match copy_object(&standby, &primary, input, object).await? {
            true => copied.push(object.key.clone()),
            false => listing.skipped.push(SkippedObject {
                key: object.key.clone(),
                reason: "changed: the standby object changed while copying; run copyBack again"
                    .into(),
            }),
        }
    }
    let mut out = base_output(input);
    out.status = if listing.truncated {
        StepStatus::InProgress
    } else if copied.is_empty() {
        StepStatus::AlreadyDone
    } else {
        StepStatus::Done
    };
    out.resources.extend(
        copied
            .iter()
            .map(|key| object_arn(&input.primary_region, &pair.primary_bucket, key)),
    );
    out.since = listing.since.clone();
    out.copied = Some(copied);
    out.unreplicated = Some(listing);
    Ok(out)
}

/// Copies one standby object into the primary bucket with its metadata, marked with the standby
/// ETag. `false`: the standby object changed since it was listed (nothing copied).
async fn copy_object(
    standby: &aws_sdk_s3::Client,
    primary: &aws_sdk_s3::Client,
    input: &SwitchReplicationInput,
    object: &UnreplicatedObject,
) -> Result<bool, PilotLightError> {
    let pair = &input.replication;
    let source = match standby
        .head_object()
        .bucket(&pair.standby_bucket)
        .key(&object.key)
        .if_match(&object.etag)
        .send()
        .await
    {
        Ok(head) => head,
        Err(err)
            if err.as_service_error().is_some_and(|e| e.is_not_found())
                || err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 412) =>
        {
            return Ok(false)
        }
        Err(err) => return Err(PilotLightError::from_sdk("HeadObject", &err)),
    };
    let mut metadata: HashMap<String, String> = source.metadata().cloned().unwrap_or_default();
    metadata.insert(
        SOURCE_ETAG_METADATA.to_string(),
        object.etag.trim_matches('"').to_string(),
    );
    let copied = primary
        .copy_object()
        .bucket(&pair.primary_bucket)
        .key(&object.key)
        .copy_source(copy_source(&pair.standby_bucket, &object.key))
        .copy_source_if_match(&object.etag)
        .metadata_directive(MetadataDirective::Replace)
        .set_metadata(Some(metadata))
        .set_content_type(source.content_type().map(str::to_string))
        .set_cache_control(source.cache_control().map(str::to_string))
        .set_content_disposition(source.content_disposition().map(str::to_string))
        .set_content_encoding(source.content_encoding().map(str::to_string))
        .set_content_language(source.content_language().map(str::to_string))
        .send()
        .await;
    match copied {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .raw_response()
                .is_some_and(|r| r.status().as_u16() == 412) =>
        {
            Ok(false)
        }
        Err(err) => Err(PilotLightError::from_sdk("CopyObject", &err)),
    }
}

#[cfg(test)]
mod tests;
