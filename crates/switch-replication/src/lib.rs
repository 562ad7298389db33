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
//!
//! Layout: the pure decisions in `decide`, the S3 calls in `aws`, one module per action
//! (`failover`, `failback`, `unreplicated`, `copy_back`), the shared rule-making in
//! `replication_rule`; the handler on mocked S3 in `tests`.

pub mod aws;
pub mod copy_back;
pub mod decide;
pub mod failback;
pub mod failover;
pub mod replication_rule;
pub mod unreplicated;

pub use aws::s3_client;
pub use decide::{
    bucket_name_of, choose_since, classify, copy_source, decide_disable, decide_ensure,
    decide_remove, partition_of, reverse_rule_id, since_from_rule_id, EnsureRule, PrimaryObject,
    RemoveRules, Replication, ReplicationView, RuleView, SinceSource, StandbyObject,
};

use aws_config::SdkConfig;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use decide::bucket_arn;
use pilot_light_core::config::S3ReplicationConfig;
use pilot_light_core::step::now_millis;
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};

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
        Action::Failover => failover::failover(&input, clients).await?,
        Action::Failback => failback::failback(&input, clients).await?,
        Action::ListUnreplicated => unreplicated::list_only(&input, clients).await?,
        Action::CopyBack => copy_back::copy_back(&input, clients).await?,
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod action_list {
    use super::{Action, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`Action`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<Action>(ACTIONS).unwrap();
        let index = |action: &Action| match action {
            Action::Failover => 0,
            Action::Failback => 1,
            Action::ListUnreplicated => 2,
            Action::CopyBack => 3,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..4).collect::<Vec<_>>());
    }
}
