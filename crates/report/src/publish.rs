//! The `publish` action: describe the execution and read its history, find a failback's kept old
//! primaries, build the report, write its EMF lines, publish it.

use crate::aws::{db_instances, failover_history, send};
use crate::changes::summarise_changes;
use crate::hooks::hook_outcomes;
use crate::input::{check_arn, topic};
use crate::kept::{kept_old_primary, promotion_requested_at, KeptOldPrimary, OutputEvent};
use crate::render::{
    emf_lines, recovery_time_seconds, report_message, report_subject, traffic_switched_seconds,
};
use crate::{capacity, Clients, ConfigScope, PublishInput, PublishOutput, Report, ReportAction};
use aws_sdk_sfn::types::ExecutionStatus;
use pilot_light_core::config::Side;
use pilot_light_core::execution_history::describe_execution;
use pilot_light_core::execution_history::{build_timeline, read_history, timestamp_from_millis};
use pilot_light_core::kept::classify_kept;
use pilot_light_core::{PilotLightError, StepStatus};
use std::collections::HashMap;

pub(crate) async fn publish(
    input: PublishInput,
    clients: &Clients,
) -> Result<PublishOutput, PilotLightError> {
    let region = check_arn("executionArn", &input.execution_arn, "states")?;
    let topic = topic(input.topic_arn.as_deref())?;
    let sfn = clients.sfn.get(region)?;

    let execution = describe_execution(&sfn, &input.execution_arn, region, "executionArn").await?;
    let events = read_history(&sfn, &input.execution_arn, region).await?;

    let now = pilot_light_core::step::now_millis();
    let running = *execution.status() == ExecutionStatus::Running;
    let started = execution.start_date().to_millis().unwrap_or_default();
    let finished = match execution.stop_date().and_then(|d| d.to_millis().ok()) {
        Some(stopped) if !running => stopped,
        _ => now,
    };
    let kept_old_primaries = match &input.config {
        Some(config) => Some(find_kept_old_primaries(clients, &input.env, config).await?),
        None => None,
    };
    let steps = build_timeline(&events);
    let report = Report {
        env: input.env.clone(),
        kind: input.kind.clone(),
        outcome: input.outcome.clone(),
        execution_arn: input.execution_arn.clone(),
        execution_status: execution.status().as_str().to_string(),
        started_at: timestamp_from_millis(started),
        finished_at: timestamp_from_millis(finished),
        rto_seconds: recovery_time_seconds(started, finished),
        traffic_switched_seconds: traffic_switched_seconds(started, &steps),
        steps,
        changes: input
            .results
            .as_ref()
            .map(summarise_changes)
            .unwrap_or_default(),
        steps_omitted: None,
        drill: input.drill.clone(),
        hooks: input.hooks.as_ref().map(hook_outcomes).unwrap_or_default(),
        kept_old_primaries,
        capacity: input.results.as_ref().and_then(capacity::capacity_asked),
    };
    for line in emf_lines(&report, now) {
        // EMF: one JSON document per line on stdout; CloudWatch Logs extracts the metrics.
        println!("{line}");
    }

    let mut resources = vec![input.execution_arn.clone()];
    let published = match topic {
        None => None,
        Some((topic_arn, topic_region)) => {
            let subject = report_subject(
                &report.env,
                &report.kind,
                &report.outcome,
                report.rto_seconds,
            );
            let message = report_message(&report)?;
            let attributes = [
                ("type", "report"),
                ("env", report.env.as_str()),
                ("kind", report.kind.as_str()),
                ("outcome", report.outcome.as_str()),
            ];
            resources.push(topic_arn.to_string());
            Some(
                send(
                    clients,
                    topic_arn,
                    topic_region,
                    &subject,
                    &message,
                    &attributes,
                )
                .await?,
            )
        }
    };
    tracing::info!(
        env = %report.env,
        kind = %report.kind,
        outcome = %report.outcome,
        execution_arn = %report.execution_arn,
        rto_seconds = report.rto_seconds,
        steps = report.steps.len(),
        kept_old_primaries = report.kept_old_primaries.as_ref().map(Vec::len),
        published = published.is_some(),
        "report published"
    );
    Ok(PublishOutput {
        action: ReportAction::Publish,
        status: StepStatus::Done,
        report,
        published,
        resources,
    })
}

/// The kept old primaries of `env`: every instance in the primary region that
/// [`classify_kept`] says a failback renamed aside from a configured primary identifier, each with
/// the time the failover that cut replication from it asked for the promotion. Sorted by database,
/// then identifier.
async fn find_kept_old_primaries(
    clients: &Clients,
    env: &str,
    config: &ConfigScope,
) -> Result<Vec<KeptOldPrimary>, PilotLightError> {
    let primary = config.regions.primary.as_str();
    let databases = config.database_configs();
    let mut histories: HashMap<String, Vec<OutputEvent>> = HashMap::new();
    let mut found = Vec::new();
    for instance in db_instances(clients, primary).await? {
        let Some(kept) =
            classify_kept(&instance, env, primary, &config.regions.standby, &databases)
        else {
            continue;
        };
        let (Some(Side::Primary), Some(database)) = (kept.side, kept.database.as_deref()) else {
            continue;
        };
        let cut = match kept.replication_cut_by.as_deref() {
            Some(execution) => {
                if !histories.contains_key(execution) {
                    let events = failover_history(clients, execution).await?;
                    histories.insert(execution.to_string(), events);
                }
                let cut = promotion_requested_at(&histories[execution], database);
                tracing::info!(
                    instance_id = %kept.instance_id,
                    failover = execution,
                    cut = ?cut,
                    "kept old primary"
                );
                cut.map(|(time, _)| time)
            }
            None => None,
        };
        found.extend(kept_old_primary(&kept, cut.as_ref()));
    }
    found.sort_by(|a, b| (&a.database, &a.instance_id).cmp(&(&b.database, &b.instance_id)));
    Ok(found)
}
