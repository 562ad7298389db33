//! `sync-ssm`: keeps the configured Parameter Store paths (`ssmSync.paths` of the configuration
//! document) equal between the two regions, from the active region to the other one.
//!
//! * **Trigger.** A schedule (every path) and `Parameter Store Change` events (one parameter). The
//!   input is `{env?, region?, parameterName?, full?, force?}`, or the EventBridge event itself
//!   (`Scheduled Event` → every path; `Parameter Store Change` → that parameter); `env` defaults to
//!   the function's `PILOT_LIGHT_ENV`.
//! * **How much it reads** ([`scan`]). A sync of every path reads only what the source changed
//!   since the last sync (incremental), and compares every parameter of both regions (full) when
//!   asked (`full: true`), on the first run, after the direction changed, and once a day
//!   (`ssmSync.fullSyncEverySeconds`).
//! * **What it reads.** The configuration document and the run state in the handler's own region
//!   (the standby, where the stack runs); the direction follows the run state's `activeRegion`
//!   (`pilot_light_core::direction`): primary → standby normally, standby → primary after a failover.
//!   A full scan reads each path in both regions with `GetParametersByPath` (recursive, decrypted,
//!   10 a page) for values and `DescribeParameters` (50 a page) for description, tier, KMS key and
//!   modification time; an incremental one describes the source's paths and reads the values of
//!   the changed parameters in both regions with `GetParameters` (10 names a call).
//! * **What it writes.** Only what differs ([`plan::plan_sync`]): value, type, description, tier
//!   (never downgraded), and the KMS key of a SecureString, which is always written with the target
//!   region's key (`ssmSync.standbyKmsKeyId` / `primaryKmsKeyId`; default: SSM's own key). Deletes only
//!   in `mirror` mode, and never all of a path at once. pilot-light's own parameters
//!   (`/pilot-light/…`) are never read as sync candidates, written or deleted.
//! * **Throttling.** Writes are sequential, and the SSM clients use the SDK's *adaptive* retry mode
//!   (client-side rate limiting that backs off when SSM throttles). Throttling that outlasts the
//!   retries ends the run with `Throttled`; the next run continues where this one stopped (every run
//!   diffs afresh, so it is idempotent).
//! * **Logs.** Names, counts and differences; never a value (values are [`plan::ParameterValue`],
//!   whose `Debug` hides them, and AWS error messages are redacted).

pub use pilot_light_core::ssm_plan as plan;
pub mod scan;

use aws_config::SdkConfig;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType};
use pilot_light_core::config::{
    config_parameter_name, lock_parameter_name, state_parameter_name, Side, SsmSyncMode,
};
use pilot_light_core::direction::{active_region_in_state, copy_direction};
use pilot_light_core::env_name::check_env;
use pilot_light_core::lock::{held_lock, standing_aside};
use pilot_light_core::step::now_millis;
use pilot_light_core::{
    parse_step_input, PilotLightConfig, PilotLightError, Regional, StepStatus, Timestamp,
};
use plan::{
    check_mirror_deletions, check_mirror_is_safe, decide_change, plan_sync, redact_value,
    ChangeDecision, Difference, ParameterCopy, ParameterKind, ParameterValue, PutSpec, Scope,
    Skipped, SyncPlan, Tier, Write,
};
use scan::{
    changed_since, decide_scan, mark_parameter_name, next_mark, parse_mark, Scan, SyncMark,
    ThisSync,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The one action of this handler.
pub const ACTIONS: &[&str] = &["sync"];

/// Attempts per SSM call (adaptive retry mode: the SDK also slows its own request rate down).
pub const SSM_MAX_ATTEMPTS: u32 = 8;

/// `GetParametersByPath` answers at most 10 parameters a page.
const VALUES_PAGE_SIZE: i32 = 10;
/// `DescribeParameters` answers at most 50 a page.
const METADATA_PAGE_SIZE: i32 = 50;
/// `GetParameters` takes at most 10 names.
const NAMES_PER_GET: usize = 10;
/// A `DescribeParameters` filter takes at most 50 values.
const VALUES_PER_FILTER: usize = 50;
/// A bound on pages of one path, so a service that always answers a next token cannot loop forever.
const MAX_PAGES: usize = 20_000;

/// The CloudWatch namespace of the metrics (as the other handlers).
const METRIC_NAMESPACE: &str = "PilotLight";

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub ssm: Regional<aws_sdk_ssm::Client>,
    /// The region this handler runs in (the standby, where the configuration and run state live).
    pub home_region: Option<String>,
    /// The environment when the input names none (`PILOT_LIGHT_ENV`, set by the stack).
    pub default_env: Option<String>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`); the home region is `AWS_REGION`.
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        let env = std::env::var("PILOT_LIGHT_ENV")
            .ok()
            .filter(|e| !e.is_empty());
        Self::from_config(base, env)
    }

    /// Clients made from `base` (its region is the home region), with adaptive retry.
    pub fn from_config(base: SdkConfig, default_env: Option<String>) -> Self {
        let home_region = base.region().map(|r| r.to_string());
        Self {
            ssm: Regional::new(base, ssm_client),
            home_region,
            default_env,
        }
    }
}

/// An SSM client whose retries are throttle-aware: adaptive mode rate-limits the client itself when
/// SSM answers with throttling errors, on top of the usual exponential backoff.
pub fn ssm_client(config: &SdkConfig) -> aws_sdk_ssm::Client {
    let conf = aws_sdk_ssm::config::Builder::from(config)
        .retry_config(RetryConfig::adaptive().with_max_attempts(SSM_MAX_ATTEMPTS))
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

// ------------------------------------------------------------------------------------------------
// Input

/// The plain input (a manual run, or a schedule with an explicit `Input`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlainInput {
    #[serde(default)]
    #[allow(dead_code)]
    action: Option<String>,
    #[serde(default)]
    env: Option<String>,
    /// Where the configuration and run state are (default: the handler's own region).
    #[serde(default)]
    region: Option<String>,
    /// Sync only this parameter.
    #[serde(default)]
    parameter_name: Option<String>,
    /// Lift `mirror` mode's deletion brake for this run (a person who checked what it deletes).
    #[serde(default)]
    force: bool,
    /// Compare every parameter of both regions, not only what the source changed since the last sync.
    #[serde(default)]
    full: bool,
}

/// The parts of an EventBridge event this handler reads.
#[derive(Debug, Clone, Deserialize)]
struct EventBridgeEvent {
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    detail: Value,
}

/// `detail` of a `Parameter Store Change` event.
#[derive(Debug, Clone, Deserialize)]
struct ParameterChangeDetail {
    name: String,
    operation: String,
}

/// What started this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    /// A plain input.
    Manual,
    /// An EventBridge `Scheduled Event`.
    Schedule,
    /// An EventBridge `Parameter Store Change` event.
    ParameterChange,
}

/// What to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every configured path.
    All,
    /// One parameter (`operation` from a change event: `Create`, `Update`, `Delete`, …).
    One {
        name: String,
        operation: String,
        event_region: Option<String>,
    },
}

/// A decoded, validated input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub env: String,
    pub region: Option<String>,
    pub trigger: Trigger,
    pub selection: Selection,
    /// Lifts `mirror` mode's deletion brake (plain input `force: true` only).
    pub force: bool,
    /// Compares everything even when an incremental scan would do (plain input `full: true` only).
    pub full: bool,
}

/// Decodes an event without calling AWS. `InvalidInput` names the bad field; an EventBridge event of
/// another kind is `InvalidInput` at `detail-type`.
pub fn parse_input(
    event: Value,
    default_env: Option<&str>,
) -> Result<SyncRequest, PilotLightError> {
    let request = if event.get("detail-type").is_some() {
        let parsed: EventBridgeEvent = parse_step_input(event, &[])?;
        let env = env_or_default(None, default_env)?;
        match (parsed.source.as_str(), parsed.detail_type.as_str()) {
            (_, "Scheduled Event") => SyncRequest {
                env,
                region: None,
                trigger: Trigger::Schedule,
                selection: Selection::All,
                force: false,
                full: false,
            },
            ("aws.ssm", "Parameter Store Change") => {
                let detail: ParameterChangeDetail = serde_json::from_value(parsed.detail)
                    .map_err(|e| PilotLightError::InvalidInput {
                        field: "detail".into(),
                        reason: e.to_string(),
                    })?;
                SyncRequest {
                    env,
                    region: None,
                    trigger: Trigger::ParameterChange,
                    selection: Selection::One {
                        name: detail.name,
                        operation: detail.operation,
                        event_region: parsed.region,
                    },
                    force: false,
                    full: false,
                }
            }
            (source, kind) => {
                return Err(PilotLightError::InvalidInput {
                    field: "detail-type".into(),
                    reason: format!(
                        "`{kind}` from `{source}` is not a trigger of sync-ssm (expected a Scheduled Event or an aws.ssm Parameter Store Change)"
                    ),
                })
            }
        }
    } else {
        let plain: PlainInput = parse_step_input(event, ACTIONS)?;
        let env = env_or_default(plain.env, default_env)?;
        SyncRequest {
            env,
            region: plain.region,
            trigger: Trigger::Manual,
            selection: match plain.parameter_name {
                None => Selection::All,
                Some(name) => Selection::One {
                    name,
                    operation: "Update".into(),
                    event_region: None,
                },
            },
            force: plain.force,
            full: plain.full,
        }
    };
    check_env(&request.env)?;
    if let Some(region) = &request.region {
        pilot_light_core::clients::validate_region(region).map_err(|reason| {
            PilotLightError::InvalidInput {
                field: "region".into(),
                reason,
            }
        })?;
    }
    if let Selection::One { name, .. } = &request.selection {
        if !name.starts_with('/') || name.len() > 2048 {
            return Err(PilotLightError::InvalidInput {
                field: "parameterName".into(),
                reason: "a synced parameter's name is a path (`/app/prod/db/url`)".into(),
            });
        }
    }
    Ok(request)
}

fn env_or_default(
    env: Option<String>,
    default_env: Option<&str>,
) -> Result<String, PilotLightError> {
    env.or_else(|| default_env.map(str::to_string))
        .ok_or_else(|| PilotLightError::InvalidInput {
            field: "env".into(),
            reason: "no `env` in the input and no PILOT_LIGHT_ENV in the function's environment"
                .into(),
        })
}

// ------------------------------------------------------------------------------------------------
// Output

/// One write that was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub name: String,
    /// `create`, `update` or `delete`.
    pub change: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    /// True when a type change had to delete and re-create the parameter.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replaced: bool,
}

/// One write that failed (the run went on with the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub name: String,
    pub error_type: String,
    pub message: String,
}

/// What a run found and did. Counts: `created + updated + deleted` writes were made, `unchanged`
/// parameters already were equal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOutput {
    pub action: &'static str,
    /// `done` when something was written, `alreadyDone` when nothing differed.
    pub status: StepStatus,
    pub env: String,
    pub trigger: Trigger,
    pub source_region: String,
    pub target_region: String,
    pub mode: SsmSyncMode,
    pub paths: Vec<String>,
    /// The one parameter of a change event or a `parameterName` input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_name: Option<String>,
    /// Why nothing was looked at (a change event outside the paths, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// How a sync of every path read: `{"kind": "full", "reason"}` or
    /// `{"kind": "incremental", "changedSince"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<Scan>,
    /// Parameters whose values were read in the source (all of them in a full scan, the changed
    /// ones in an incremental one).
    pub examined: usize,
    /// The mark for the next sync was written (a sync of every path with no failed write).
    pub mark_written: bool,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failure>,
    pub changes: Vec<Change>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// Names of the parameters written.
    pub resources: Vec<String>,
}

/// The CloudWatch Embedded Metric Format line of a run: `ParametersSynced` (writes made) and
/// `ParameterSyncFailures`, dimension `Env`.
pub fn emf_line(output: &SyncOutput, now_millis: i64) -> Value {
    json!({
        "_aws": {
            "Timestamp": now_millis,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["Env"]],
                "Metrics": [
                    {"Name": "ParametersSynced", "Unit": "Count"},
                    {"Name": "ParameterSyncFailures", "Unit": "Count"}
                ]
            }]
        },
        "Env": output.env,
        "SourceRegion": output.source_region,
        "TargetRegion": output.target_region,
        "ParametersSynced": output.created + output.updated + output.deleted,
        "ParameterSyncFailures": output.failed.len(),
    })
}

// ------------------------------------------------------------------------------------------------
// The handler

/// The Lambda handler: decode, load the configuration and the direction, read both regions, write
/// what differs.
pub async fn handler(event: Value, clients: &Clients) -> Result<SyncOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let request = parse_input(event, clients.default_env.as_deref())?;
    let home_region = request
        .region
        .clone()
        .or_else(|| clients.home_region.clone())
        .ok_or_else(|| PilotLightError::InvalidInput {
            field: "region".into(),
            reason: "the handler's own region is unknown: set AWS_REGION or pass `region`".into(),
        })?;
    let home = clients.ssm.get(&home_region)?;
    let config = load_config(&home, &request.env, &home_region).await?;
    let state = get_value(&home, &state_parameter_name(&request.env)).await?;
    let active = active_region_in_state(state.as_deref())?;
    let direction = copy_direction(&config.regions, active.as_deref())?;
    // Read at the moment the sync would act: a run holding the lock is moving production, and the
    // direction is about to flip (copying now could undo the new production region's changes).
    let lock = held_lock(
        get_value(&home, &lock_parameter_name(&request.env))
            .await?
            .as_deref(),
    );
    let sync = &config.ssm_sync;
    let target_key = match direction.target_side {
        Side::Standby => sync.standby_kms_key_id.as_deref(),
        Side::Primary => sync.primary_kms_key_id.as_deref(),
    };
    let scope = Scope::new(&sync.paths);

    let mut output = SyncOutput {
        action: "sync",
        status: StepStatus::AlreadyDone,
        env: request.env.clone(),
        trigger: request.trigger,
        source_region: direction.source_region.clone(),
        target_region: direction.target_region.clone(),
        mode: sync.mode,
        paths: scope.paths().to_vec(),
        parameter_name: None,
        ignored: None,
        scan: None,
        examined: 0,
        mark_written: false,
        created: 0,
        updated: 0,
        deleted: 0,
        unchanged: 0,
        skipped: Vec::new(),
        failed: Vec::new(),
        changes: Vec::new(),
        started_at,
        finished_at: Timestamp::now(),
        resources: Vec::new(),
    };

    if let Some(lock) = &lock {
        let notice = standing_aside("sync-ssm", &request.env, lock);
        tracing::warn!(env = %request.env, notice = %notice, "sync-ssm");
        output.ignored = Some(notice);
        output.finished_at = Timestamp::now();
        return Ok(output);
    }
    let source = clients.ssm.get(&direction.source_region)?;
    let target = clients.ssm.get(&direction.target_region)?;
    let mut mark: Option<SyncMark> = None;
    let this_sync = ThisSync {
        source_region: &direction.source_region,
        target_region: &direction.target_region,
        paths: scope.paths(),
        mode: sync.mode,
    };
    let plan = match &request.selection {
        Selection::All => {
            if scope.is_empty() {
                output.ignored = Some("no ssmSync.paths configured".into());
                None
            } else {
                mark = parse_mark(
                    get_value(&home, &mark_parameter_name(&request.env))
                        .await?
                        .as_deref(),
                );
                let scan = decide_scan(
                    mark.as_ref(),
                    this_sync,
                    now_millis() as f64 / 1000.0,
                    // Only a full scan deletes, so lifting the deletion brake asks for one.
                    request.full || request.force,
                    sync.full_sync_every_seconds(),
                );
                output.scan = Some(scan.clone());
                if let Scan::Incremental {
                    since_epoch_seconds,
                    ..
                } = scan
                {
                    let source_params = read_changed(&source, &scope, since_epoch_seconds).await?;
                    let names: Vec<String> = source_params.keys().cloned().collect();
                    let target_params = read_named(&target, &names).await?;
                    output.examined = source_params.len();
                    // Never deletes: a parameter gone from the source leaves no change to see.
                    Some(plan_sync(
                        &source_params,
                        &target_params,
                        &scope,
                        SsmSyncMode::Update,
                        target_key,
                    ))
                } else {
                    Some(
                        full_plan(
                            &FullScan {
                                source: &source,
                                target: &target,
                                scope: &scope,
                                sync,
                                target_key,
                                force: request.force,
                                source_region: &direction.source_region,
                                target_region: &direction.target_region,
                            },
                            &mut output,
                        )
                        .await?,
                    )
                }
            }
        }
        Selection::One {
            name,
            operation,
            event_region,
        } => {
            output.parameter_name = Some(name.clone());
            match decide_change(&scope, name, operation) {
                ChangeDecision::Ignore { reason } => {
                    tracing::info!(
                        env = %request.env,
                        parameter = %name,
                        operation = %operation,
                        event_region = event_region.as_deref().unwrap_or(""),
                        reason = %reason,
                        "sync-ssm: change ignored"
                    );
                    output.ignored = Some(reason);
                    None
                }
                ChangeDecision::Sync => {
                    let source_params = read_one(&source, name).await?;
                    let target_params = read_one(&target, name).await?;
                    Some(plan_sync(
                        &source_params,
                        &target_params,
                        &scope,
                        sync.mode,
                        target_key,
                    ))
                }
            }
        }
    };

    if let Some(plan) = plan {
        apply_plan(&target, &direction.target_region, plan, &mut output).await?;
    }
    if let Some(scan) = &output.scan {
        if output.failed.is_empty() {
            let next = next_mark(mark.as_ref(), scan, this_sync, &output.started_at);
            output.mark_written = write_mark(&home, &request.env, &next).await;
        }
    }
    output.status = if output.created + output.updated + output.deleted > 0 {
        StepStatus::Done
    } else {
        StepStatus::AlreadyDone
    };
    output.finished_at = Timestamp::now();
    log_summary(&output);
    println!("{}", emf_line(&output, now_millis()));
    Ok(output)
}

fn log_summary(output: &SyncOutput) {
    tracing::info!(
        env = %output.env,
        trigger = ?output.trigger,
        source_region = %output.source_region,
        target_region = %output.target_region,
        mode = ?output.mode,
        parameter = output.parameter_name.as_deref().unwrap_or(""),
        created = output.created,
        updated = output.updated,
        deleted = output.deleted,
        unchanged = output.unchanged,
        skipped = output.skipped.len(),
        failed = output.failed.len(),
        "sync-ssm"
    );
}

/// What a full scan needs.
struct FullScan<'a> {
    source: &'a aws_sdk_ssm::Client,
    target: &'a aws_sdk_ssm::Client,
    scope: &'a Scope,
    sync: &'a pilot_light_core::config::SsmSyncConfig,
    target_key: Option<&'a str>,
    force: bool,
    source_region: &'a str,
    target_region: &'a str,
}

/// Reads every parameter of both regions and plans what differs, `mirror`'s brakes included.
async fn full_plan(
    scan: &FullScan<'_>,
    output: &mut SyncOutput,
) -> Result<SyncPlan, PilotLightError> {
    let source_params = read_scope(scan.source, scan.scope).await?;
    let target_params = read_scope(scan.target, scan.scope).await?;
    output.examined = source_params.len();
    check_mirror_is_safe(
        scan.scope,
        &source_params,
        &target_params,
        scan.sync.mode,
        scan.source_region,
        scan.target_region,
    )?;
    let plan = plan_sync(
        &source_params,
        &target_params,
        scan.scope,
        scan.sync.mode,
        scan.target_key,
    );
    let in_scope = target_params
        .keys()
        .filter(|n| scan.scope.contains(n))
        .count();
    check_mirror_deletions(
        &plan,
        in_scope,
        scan.sync.allowed_mirror_deletes(in_scope),
        scan.force,
        scan.target_region,
    )?;
    Ok(plan)
}

/// Writes the mark for the next sync in the handler's region. A mark that cannot be written is
/// logged, not fatal: the next sync then reads from the previous mark (more than needed, never less).
async fn write_mark(home: &aws_sdk_ssm::Client, env: &str, mark: &SyncMark) -> bool {
    let value = match serde_json::to_string(mark) {
        Ok(value) => value,
        Err(_) => return false,
    };
    match home
        .put_parameter()
        .name(mark_parameter_name(env))
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
    {
        Ok(_) => true,
        Err(err) => {
            let err = PilotLightError::from_sdk("PutParameter", &err);
            tracing::warn!(
                env = %env,
                error_type = err.error_type(),
                error = %err,
                "sync-ssm: the mark for the next sync was not written; it will read from the previous one"
            );
            false
        }
    }
}

/// Makes the plan's writes one after the other. A write that throttles past the SDK's retries, or
/// finds SSM unavailable, ends the run (the counts so far are logged); any other failure of one
/// parameter is recorded in `failed` and the others go on.
async fn apply_plan(
    ssm: &aws_sdk_ssm::Client,
    region: &str,
    plan: SyncPlan,
    output: &mut SyncOutput,
) -> Result<(), PilotLightError> {
    output.unchanged += plan.unchanged;
    output.skipped.extend(plan.skipped);
    for write in plan.writes {
        let name = write.name().to_string();
        let result = match &write {
            Write::Create(put) => create(ssm, put).await.map(|_| Change {
                name: name.clone(),
                change: "create",
                differences: Vec::new(),
                replaced: false,
            }),
            Write::Update { put, differences } => {
                update(ssm, put, differences).await.map(|replaced| Change {
                    name: name.clone(),
                    change: "update",
                    differences: differences.clone(),
                    replaced,
                })
            }
            Write::Delete { .. } => delete(ssm, &name).await.map(|_| Change {
                name: name.clone(),
                change: "delete",
                differences: Vec::new(),
                replaced: false,
            }),
        };
        match result {
            Ok(change) => {
                tracing::info!(
                    parameter = %change.name,
                    change = change.change,
                    differences = ?change.differences,
                    replaced = change.replaced,
                    region = %region,
                    "sync-ssm: written"
                );
                match change.change {
                    "create" => output.created += 1,
                    "update" => output.updated += 1,
                    _ => output.deleted += 1,
                }
                output.resources.push(change.name.clone());
                output.changes.push(change);
            }
            Err(err) if matches!(err.error_type(), "Throttled" | "AwsUnavailable") => {
                tracing::warn!(
                    parameter = %name,
                    error_type = err.error_type(),
                    region = %region,
                    "sync-ssm: stopped; the next run goes on from here"
                );
                log_summary(output);
                return Err(err);
            }
            Err(err) => {
                tracing::warn!(
                    parameter = %name,
                    error_type = err.error_type(),
                    error = %err,
                    region = %region,
                    "sync-ssm: write failed"
                );
                output.failed.push(Failure {
                    name,
                    error_type: err.error_type().to_string(),
                    message: err.to_string(),
                });
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Reading

async fn load_config(
    ssm: &aws_sdk_ssm::Client,
    env: &str,
    region: &str,
) -> Result<PilotLightConfig, PilotLightError> {
    let name = config_parameter_name(env);
    let text = get_value(ssm, &name).await?.ok_or_else(|| {
        PilotLightError::config(
            name.clone(),
            format!("no configuration document for `{env}` in {region}"),
        )
    })?;
    let config = PilotLightConfig::from_json_str(&text)?;
    if config.env != env {
        return Err(PilotLightError::config(
            "env",
            format!(
                "the document at {name} is for `{}`, not `{env}`",
                config.env
            ),
        ));
    }
    Ok(config)
}

use pilot_light_core::parameters::get_parameter_value as get_value;

/// The metadata `DescribeParameters` gives and `GetParametersByPath` does not.
#[derive(Debug, Clone, Default)]
struct Metadata {
    description: Option<String>,
    tier: Option<String>,
    key_id: Option<String>,
    /// `LastModifiedDate`, in seconds since the epoch.
    modified_epoch_seconds: Option<f64>,
}

/// A value as `GetParametersByPath` / `GetParameter` give it.
struct Valued {
    kind: ParameterKind,
    value: ParameterValue,
    data_type: String,
}

fn valued(parameter: &aws_sdk_ssm::types::Parameter) -> Option<(String, Valued)> {
    let name = parameter.name()?.to_string();
    let kind = ParameterKind::from_aws(parameter.r#type()?.as_str())?;
    Some((
        name,
        Valued {
            kind,
            value: ParameterValue::new(parameter.value().unwrap_or_default()),
            data_type: parameter
                .data_type()
                .filter(|d| !d.is_empty())
                .unwrap_or(plan::TEXT_DATA_TYPE)
                .to_string(),
        },
    ))
}

fn joined(
    values: BTreeMap<String, Valued>,
    mut metadata: BTreeMap<String, Metadata>,
) -> BTreeMap<String, ParameterCopy> {
    values
        .into_iter()
        .map(|(name, v)| {
            let meta = metadata.remove(&name).unwrap_or_default();
            let copy = ParameterCopy {
                name: name.clone(),
                kind: v.kind,
                value: v.value,
                description: meta.description.filter(|d| !d.is_empty()),
                tier: Tier::from_aws(meta.tier.as_deref()),
                key_id: meta.key_id,
                data_type: v.data_type,
            };
            (name, copy)
        })
        .collect()
}

/// Every parameter of one region under the scope's paths (pilot-light's own left out).
async fn read_scope(
    ssm: &aws_sdk_ssm::Client,
    scope: &Scope,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let mut all = BTreeMap::new();
    for path in scope.paths() {
        all.extend(read_path(ssm, path).await?);
    }
    all.retain(|name, _| scope.contains(name));
    Ok(all)
}

async fn read_path(
    ssm: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let mut values = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .with_decryption(true)
            .max_results(VALUES_PAGE_SIZE)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("GetParametersByPath", &e))?;
        values.extend(page.parameters().iter().filter_map(valued));
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let metadata = describe(ssm, path_filter(path)?).await?;
    Ok(joined(values, metadata))
}

/// Incremental: the parameters under the scope's paths that the region changed at or after
/// `since_epoch_seconds` (by `DescribeParameters`' `LastModifiedDate`), with their values.
async fn read_changed(
    ssm: &aws_sdk_ssm::Client,
    scope: &Scope,
    since_epoch_seconds: f64,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let mut metadata = BTreeMap::new();
    for path in scope.paths() {
        metadata.extend(describe(ssm, path_filter(path)?).await?);
    }
    metadata.retain(|name, meta| {
        scope.contains(name) && changed_since(meta.modified_epoch_seconds, since_epoch_seconds)
    });
    let names: Vec<String> = metadata.keys().cloned().collect();
    let values = read_values(ssm, &names).await?;
    Ok(joined(values, metadata))
}

/// The named parameters of one region that exist, with their values and metadata.
async fn read_named(
    ssm: &aws_sdk_ssm::Client,
    names: &[String],
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let values = read_values(ssm, names).await?;
    let found: Vec<String> = values.keys().cloned().collect();
    let mut metadata = BTreeMap::new();
    for chunk in found.chunks(VALUES_PER_FILTER) {
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(|e| PilotLightError::InvalidInput {
                field: "ssmSync.paths".into(),
                reason: e.to_string(),
            })?;
        metadata.extend(describe(ssm, filter).await?);
    }
    Ok(joined(values, metadata))
}

/// Values of the named parameters, 10 a `GetParameters` call (names that do not exist are left out).
async fn read_values(
    ssm: &aws_sdk_ssm::Client,
    names: &[String],
) -> Result<BTreeMap<String, Valued>, PilotLightError> {
    let mut values = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_GET) {
        let out = ssm
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("GetParameters", &e))?;
        values.extend(out.parameters().iter().filter_map(valued));
    }
    Ok(values)
}

/// The `DescribeParameters` filter of every parameter under `path`.
fn path_filter(path: &str) -> Result<ParameterStringFilter, PilotLightError> {
    ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(path)
        .build()
        .map_err(|e| PilotLightError::InvalidInput {
            field: "ssmSync.paths".into(),
            reason: e.to_string(),
        })
}

/// One parameter of one region (empty when it does not exist).
async fn read_one(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let found = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => out.parameter().and_then(valued),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            None
        }
        Err(err) => return Err(PilotLightError::from_sdk("GetParameter", &err)),
    };
    let Some((found_name, value)) = found else {
        return Ok(BTreeMap::new());
    };
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| PilotLightError::InvalidInput {
            field: "parameterName".into(),
            reason: e.to_string(),
        })?;
    let metadata = describe(ssm, filter).await?;
    Ok(joined([(found_name, value)].into(), metadata))
}

async fn describe(
    ssm: &aws_sdk_ssm::Client,
    filter: ParameterStringFilter,
) -> Result<BTreeMap<String, Metadata>, PilotLightError> {
    let mut metadata = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ssm
            .describe_parameters()
            .parameter_filters(filter.clone())
            .max_results(METADATA_PAGE_SIZE)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("DescribeParameters", &e))?;
        for p in page.parameters() {
            if let Some(name) = p.name() {
                metadata.insert(
                    name.to_string(),
                    Metadata {
                        description: p.description().map(str::to_string),
                        tier: p.tier().map(|t| t.as_str().to_string()),
                        key_id: p.key_id().map(str::to_string),
                        modified_epoch_seconds: p.last_modified_date().map(|d| d.as_secs_f64()),
                    },
                );
            }
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(metadata)
}

// ------------------------------------------------------------------------------------------------
// Writing

/// Creates a parameter; when it appeared since it was read, overwrites it.
async fn create(ssm: &aws_sdk_ssm::Client, put: &PutSpec) -> Result<(), PilotLightError> {
    match put_parameter(ssm, put, false).await {
        Err(PutFailure::AlreadyExists) => put_parameter(ssm, put, true)
            .await
            .map_err(|f| f.into_error(put)),
        other => other.map_err(|f| f.into_error(put)),
    }
}

/// Overwrites a parameter. A type change SSM refuses in place (`HierarchyTypeMismatchException`) is
/// made by deleting and re-creating the parameter. Returns true when it was re-created.
async fn update(
    ssm: &aws_sdk_ssm::Client,
    put: &PutSpec,
    differences: &[Difference],
) -> Result<bool, PilotLightError> {
    match put_parameter(ssm, put, true).await {
        Ok(()) => Ok(false),
        Err(PutFailure::TypeMismatch(_)) if differences.contains(&Difference::Type) => {
            delete(ssm, &put.name).await?;
            create(ssm, put).await?;
            Ok(true)
        }
        Err(failure) => Err(failure.into_error(put)),
    }
}

/// Deletes a parameter; one already gone is fine.
async fn delete(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<(), PilotLightError> {
    match ssm.delete_parameter().name(name).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(())
        }
        Err(err) => Err(PilotLightError::from_sdk("DeleteParameter", &err)),
    }
}

enum PutFailure {
    AlreadyExists,
    TypeMismatch(PilotLightError),
    Other(PilotLightError),
}

impl PutFailure {
    /// The error, with the value taken out of every message.
    fn into_error(self, put: &PutSpec) -> PilotLightError {
        let err = match self {
            Self::AlreadyExists => PilotLightError::InvalidState {
                resource: format!("parameter {}", put.name),
                state: "exists".into(),
                reason: "it exists although an overwrite was asked for".into(),
            },
            Self::TypeMismatch(err) | Self::Other(err) => err,
        };
        redact_error(err, &put.value)
    }
}

async fn put_parameter(
    ssm: &aws_sdk_ssm::Client,
    put: &PutSpec,
    overwrite: bool,
) -> Result<(), PutFailure> {
    let request = ssm
        .put_parameter()
        .name(&put.name)
        .value(put.value.expose())
        .r#type(ParameterType::from(put.kind.as_aws()))
        .description(&put.description)
        .tier(ParameterTier::from(put.tier.as_aws()))
        .data_type(plan::TEXT_DATA_TYPE)
        .set_key_id(put.key_id.clone())
        .overwrite(overwrite);
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err) => {
            let service = err.as_service_error();
            if service.is_some_and(|e| e.is_parameter_already_exists()) {
                Err(PutFailure::AlreadyExists)
            } else if service.is_some_and(|e| e.is_hierarchy_type_mismatch_exception()) {
                Err(PutFailure::TypeMismatch(PilotLightError::from_sdk(
                    "PutParameter",
                    &err,
                )))
            } else {
                Err(PutFailure::Other(PilotLightError::from_sdk(
                    "PutParameter",
                    &err,
                )))
            }
        }
    }
}

/// The same error with `value` taken out of its message (some AWS validation errors quote it).
fn redact_error(err: PilotLightError, value: &ParameterValue) -> PilotLightError {
    use PilotLightError::*;
    match err {
        Throttled { operation, message } => Throttled {
            operation,
            message: redact_value(&message, value),
        },
        AwsUnavailable { operation, message } => AwsUnavailable {
            operation,
            message: redact_value(&message, value),
        },
        AwsServiceError {
            operation,
            code,
            message,
        } => AwsServiceError {
            operation,
            code,
            message: redact_value(&message, value),
        },
        InvalidState {
            resource,
            state,
            reason,
        } => InvalidState {
            resource,
            state,
            reason: redact_value(&reason, value),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs() {
        let ok = |event: Value, default_env: Option<&str>| {
            parse_input(event, default_env).unwrap_or_else(|e| panic!("{e}"))
        };
        let full = ok(json!({"env": "prod"}), None);
        assert_eq!(full.selection, Selection::All);
        assert_eq!(full.trigger, Trigger::Manual);
        assert_eq!(ok(json!({}), Some("dr")).env, "dr");
        assert_eq!(
            ok(json!({"env": "a", "action": "sync"}), Some("dr")).env,
            "a"
        );
        let one = ok(json!({"env": "prod", "parameterName": "/app/x"}), None);
        assert!(matches!(one.selection, Selection::One { ref name, .. } if name == "/app/x"));

        let scheduled = json!({"version": "0", "id": "1", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "1", "time": "t", "region": "us-west-2",
            "resources": [], "detail": {}});
        let got = ok(scheduled, Some("prod"));
        assert_eq!(
            (got.trigger, got.selection),
            (Trigger::Schedule, Selection::All)
        );

        let change = json!({"version": "0", "id": "1", "detail-type": "Parameter Store Change",
            "source": "aws.ssm", "region": "us-east-1", "resources": [],
            "detail": {"name": "/app/prod/db/url", "type": "String", "operation": "Update"}});
        let got = ok(change, Some("prod"));
        assert_eq!(got.trigger, Trigger::ParameterChange);
        assert_eq!(
            got.selection,
            Selection::One {
                name: "/app/prod/db/url".into(),
                operation: "Update".into(),
                event_region: Some("us-east-1".into())
            }
        );

        let bad: Vec<(Value, Option<&str>, &str, &str)> = vec![
            (json!({}), None, "InvalidInput", "env"),
            (json!({"env": "Prod"}), None, "InvalidInput", "env"),
            (
                json!({"env": "p", "extra": 1}),
                None,
                "InvalidInput",
                "extra",
            ),
            (
                json!({"env": "p", "action": "copy"}),
                None,
                "UnknownAction",
                "",
            ),
            (
                json!({"env": "p", "region": "nowhere"}),
                None,
                "InvalidInput",
                "region",
            ),
            (
                json!({"env": "p", "parameterName": "x"}),
                None,
                "InvalidInput",
                "parameterName",
            ),
            (
                json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}),
                Some("p"),
                "InvalidInput",
                "detail-type",
            ),
            (
                json!({"detail-type": "Parameter Store Change", "source": "aws.ssm", "detail": {"name": "/a/b"}}),
                Some("p"),
                "InvalidInput",
                "detail",
            ),
        ];
        for (event, default_env, kind, field) in bad {
            let err = parse_input(event.clone(), default_env).unwrap_err();
            assert_eq!(err.error_type(), kind, "{event}: {err}");
            if let PilotLightError::InvalidInput { field: got, .. } = &err {
                assert_eq!(got, field, "{event}");
            }
        }
    }

    #[test]
    fn the_metric_line_counts_writes_and_failures() {
        let output = SyncOutput {
            action: "sync",
            status: StepStatus::Done,
            env: "prod".into(),
            trigger: Trigger::Schedule,
            source_region: "us-east-1".into(),
            target_region: "us-west-2".into(),
            mode: SsmSyncMode::Update,
            paths: vec!["/app".into()],
            parameter_name: None,
            ignored: None,
            scan: None,
            examined: 0,
            mark_written: false,
            created: 2,
            updated: 3,
            deleted: 1,
            unchanged: 10,
            skipped: vec![],
            failed: vec![Failure {
                name: "/app/x".into(),
                error_type: "AwsServiceError".into(),
                message: "m".into(),
            }],
            changes: vec![],
            started_at: Timestamp("t".into()),
            finished_at: Timestamp("t".into()),
            resources: vec![],
        };
        let line = emf_line(&output, 7);
        assert_eq!(line["ParametersSynced"], 6);
        assert_eq!(line["ParameterSyncFailures"], 1);
        assert_eq!(line["_aws"]["Timestamp"], 7);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Env"]])
        );
        let answer = serde_json::to_value(&output).unwrap();
        assert_eq!(answer["sourceRegion"], "us-east-1");
        assert_eq!(answer["mode"], "update");
        assert_eq!(answer["failed"][0]["errorType"], "AwsServiceError");
    }

    #[test]
    fn errors_of_a_write_never_carry_the_value() {
        let value = ParameterValue::new("s3cr3t-value");
        let err = redact_error(
            PilotLightError::AwsServiceError {
                operation: "PutParameter".into(),
                code: "ValidationException".into(),
                message: "Value 's3cr3t-value' at 'value' failed to satisfy constraint".into(),
            },
            &value,
        );
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
