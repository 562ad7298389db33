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
//! * **Layout.** `input` (the request, the event), `output` (the answer, the metric line), `read`
//!   and `write` (the Parameter Store calls), `sync` (one sync: full plan, writes, mark); the
//!   pure plan is `pilot_light_core::ssm_plan` ([`plan`]), the scan decisions [`scan`].
//! * **Logs.** Names, counts and differences; never a value (values are [`plan::ParameterValue`],
//!   whose `Debug` hides them, and AWS error messages are redacted).

pub use pilot_light_core::ssm_plan as plan;
pub mod scan;

mod input;
mod output;
mod read;
mod sync;
mod write;

pub use input::{parse_input, Selection, SyncRequest, Trigger};
pub use output::{emf_line, Change, Failure, SyncOutput};

use crate::read::load_config;
use crate::read::read_changed;
use crate::read::read_named;
use crate::read::read_one;
use crate::sync::apply_plan;
use crate::sync::full_plan;
use crate::sync::write_mark;
use crate::sync::FullScan;
use aws_config::SdkConfig;
use aws_sdk_ssm::config::retry::RetryConfig;
use pilot_light_core::config::{lock_parameter_name, state_parameter_name, Side, SsmSyncMode};
use pilot_light_core::direction::{active_region_in_state, copy_direction};
use pilot_light_core::lock::{held_lock, standing_aside};
use pilot_light_core::parameters::get_parameter_value as get_value;
use pilot_light_core::step::now_millis;
use pilot_light_core::{PilotLightError, Regional, StepStatus, Timestamp};
use plan::{decide_change, plan_sync, ChangeDecision, Scope};
use scan::{decide_scan, mark_parameter_name, next_mark, parse_mark, Scan, SyncMark, ThisSync};
use serde_json::Value;

/// The one action of this handler.
pub const ACTIONS: &[&str] = &["sync"];

/// Attempts per SSM call (adaptive retry mode: the SDK also slows its own request rate down).
pub const SSM_MAX_ATTEMPTS: u32 = 8;

/// `GetParameters` takes at most 10 names.
const NAMES_PER_GET: usize = 10;
/// A `DescribeParameters` filter takes at most 50 values.
const VALUES_PER_FILTER: usize = 50;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ParameterValue;
    use crate::write::redact_error;
    use serde_json::json;

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
            "source": "aws.events", "account": "1", "time": "2026-11-22T02:00:00Z", "region": "us-west-2",
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
            (json!({}), Some("Prod"), "InvalidInput", "env"),
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
            env: "prod".parse().unwrap(),
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
