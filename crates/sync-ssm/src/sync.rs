//! One sync once the handler has the direction and the scan: the full plan of both regions, the
//! writes of a plan (sequential, values never logged) and the mark the next incremental scan starts
//! from.

use crate::log_summary;
use crate::plan::{
    check_mirror_deletions, check_mirror_is_safe, plan_sync, Scope, SyncPlan, Write,
};
use crate::read::read_scope;
use crate::scan::{mark_parameter_name, SyncMark};
use crate::write::create;
use crate::write::delete;
use crate::write::update;
use crate::Change;
use crate::Failure;
use crate::SyncOutput;
use aws_sdk_ssm::types::ParameterType;
use pilot_light_core::{EnvName, PilotLightError};

/// What a full scan needs.
pub(crate) struct FullScan<'a> {
    pub(crate) source: &'a aws_sdk_ssm::Client,
    pub(crate) target: &'a aws_sdk_ssm::Client,
    pub(crate) scope: &'a Scope,
    pub(crate) sync: &'a pilot_light_core::config::SsmSyncConfig,
    pub(crate) target_key: Option<&'a str>,
    pub(crate) force: bool,
    pub(crate) source_region: &'a str,
    pub(crate) target_region: &'a str,
}

/// Reads every parameter of both regions and plans what differs, `mirror`'s brakes included.
pub(crate) async fn full_plan(
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
pub(crate) async fn write_mark(home: &aws_sdk_ssm::Client, env: &EnvName, mark: &SyncMark) -> bool {
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
pub(crate) async fn apply_plan(
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
