//! `sweep`: removes the environment's drill resources whose drill is over (and, at teardown, this
//! drill's own); nothing without the drill tag ([`crate::decide::decide_sweep`]).

use crate::database::DbView;
use crate::decide::{
    decide_database_removal, decide_sweep, drill_owner, final_snapshot_id, DatabaseRemoval,
    ExecutionState, SweepDecision,
};
use crate::detail;
use crate::group::asg_tags;
use crate::Answer;
use crate::Clients;
use crate::SweepInput;
use crate::SweptResource;
use crate::DRILL_TAG_KEY;
use pilot_light_core::{PilotLightError, StepStatus};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// Whether the drill execution `execution_id` is still running. A malformed or unknown execution is
/// over (its resources are leftovers).
pub(crate) async fn execution_state(
    clients: &Clients,
    execution_id: &str,
    cache: &mut BTreeMap<String, ExecutionState>,
) -> Result<ExecutionState, PilotLightError> {
    if let Some(state) = cache.get(execution_id) {
        return Ok(*state);
    }
    let parts: Vec<&str> = execution_id.split(':').collect();
    let state = if parts.len() >= 8 && parts[0] == "arn" && parts[2] == "states" {
        let sfn = clients.sfn.get(parts[3])?;
        match sfn
            .describe_execution()
            .execution_arn(execution_id)
            .send()
            .await
        {
            Ok(out) if *out.status() == aws_sdk_sfn::types::ExecutionStatus::Running => {
                ExecutionState::Running
            }
            Ok(_) => ExecutionState::Stopped,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_does_not_exist() || e.is_invalid_arn()) =>
            {
                ExecutionState::Stopped
            }
            Err(err) => return Err(PilotLightError::from_sdk("DescribeExecution", &err)),
        }
    } else {
        ExecutionState::Stopped
    };
    cache.insert(execution_id.to_string(), state);
    Ok(state)
}

pub(crate) async fn sweep(input: SweepInput, clients: &Clients) -> Result<Answer, PilotLightError> {
    let rds = clients.rds.get(&input.region)?;
    let autoscaling = clients.autoscaling.get(&input.region)?;
    let ec2 = clients.ec2.get(&input.region)?;
    let protected: BTreeSet<String> = input.protected.iter().cloned().collect();
    let mut states = BTreeMap::new();
    let mut swept: Vec<SweptResource> = Vec::new();
    let mut kept: Vec<SweptResource> = Vec::new();
    let mut requested = false;
    let mut remaining = 0usize;
    let mut resources = Vec::new();

    // Decide one resource: `Some(owner)` when it is to be removed.
    macro_rules! decide {
        ($kind:expr, $id:expr, $tags:expr) => {{
            let tags: &BTreeMap<String, String> = $tags;
            match drill_owner(tags).map(str::to_string) {
                None => None,
                Some(owner) => {
                    let state = execution_state(clients, &owner, &mut states).await?;
                    let decision = decide_sweep(
                        $id,
                        tags,
                        &input.env,
                        &input.execution_id,
                        input.include_current,
                        &protected,
                        state,
                    );
                    match decision {
                        SweepDecision::Remove => Some(owner),
                        SweepDecision::KeepCurrent | SweepDecision::KeepRunning => {
                            kept.push(SweptResource {
                                kind: $kind.into(),
                                id: $id.to_string(),
                                drill: owner,
                                outcome: format!("kept: {decision:?}"),
                                final_snapshot_id: None,
                            });
                            None
                        }
                        _ => None,
                    }
                }
            }
        }};
    }

    // Auto Scaling groups (first: their instances go with them).
    let mut token = None;
    loop {
        let page = autoscaling
            .describe_auto_scaling_groups()
            .filters(
                aws_sdk_autoscaling::types::Filter::builder()
                    .name("tag-key")
                    .values(DRILL_TAG_KEY)
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
        for group in page.auto_scaling_groups() {
            let name = group.auto_scaling_group_name().unwrap_or_default();
            let Some(owner) = decide!("AutoScalingGroup", name, &asg_tags(group)) else {
                continue;
            };
            remaining += 1;
            resources.push(group.auto_scaling_group_arn().unwrap_or(name).to_string());
            let outcome = if group.status() == Some("Delete in progress") {
                "deleting".to_string()
            } else {
                match autoscaling
                    .delete_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .force_delete(true)
                    .send()
                    .await
                {
                    Ok(_) => {
                        requested = true;
                        "delete requested".to_string()
                    }
                    Err(err) => {
                        use aws_sdk_autoscaling::error::ProvideErrorMetadata;
                        match err.as_service_error().and_then(|e| e.code()) {
                            Some("ScalingActivityInProgress" | "ResourceInUse") => {
                                "waiting (busy)".to_string()
                            }
                            _ => {
                                return Err(PilotLightError::from_sdk(
                                    "DeleteAutoScalingGroup",
                                    &err,
                                ))
                            }
                        }
                    }
                }
            };
            swept.push(SweptResource {
                kind: "AutoScalingGroup".into(),
                id: name.to_string(),
                drill: owner,
                outcome,
                final_snapshot_id: None,
            });
        }
        token = pilot_light_core::step::next_page_token(page.next_token());
        if token.is_none() {
            break;
        }
    }

    // Instances a drill group launched (ForceDelete terminates them; any left are terminated).
    let mut token = None;
    let mut to_terminate = Vec::new();
    loop {
        let page = ec2
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag-key")
                    .values(DRILL_TAG_KEY)
                    .build(),
            )
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .values("stopping")
                    .values("stopped")
                    .values("shutting-down")
                    .build(),
            )
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeInstances", &err))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let id = instance.instance_id().unwrap_or_default();
            let tags: BTreeMap<String, String> = instance
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            let Some(owner) = decide!("Instance", id, &tags) else {
                continue;
            };
            remaining += 1;
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|n| n.as_str().to_string())
                .unwrap_or_default();
            let outcome = if state == "shutting-down" {
                "terminating".to_string()
            } else {
                to_terminate.push(id.to_string());
                "terminate requested".to_string()
            };
            swept.push(SweptResource {
                kind: "Instance".into(),
                id: id.to_string(),
                drill: owner,
                outcome,
                final_snapshot_id: None,
            });
        }
        token = pilot_light_core::step::next_page_token(page.next_token());
        if token.is_none() {
            break;
        }
    }
    if !to_terminate.is_empty() {
        ec2.terminate_instances()
            .set_instance_ids(Some(to_terminate.clone()))
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("TerminateInstances", &err))?;
        requested = true;
        resources.extend(to_terminate);
    }

    // Drill databases.
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_instances()
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeDBInstances", &err))?;
        for instance in page.db_instances() {
            let view = DbView::of(instance);
            let Some(owner) = decide!("DBInstance", &view.id, &view.tags) else {
                continue;
            };
            remaining += 1;
            resources.push(view.arn.clone());
            let final_id =
                final_snapshot_id(&view.id, input.keep_final_snapshot, view.source.is_some());
            let outcome = match decide_database_removal(&view.status) {
                DatabaseRemoval::Deleting => "deleting".to_string(),
                DatabaseRemoval::WaitThenDelete => format!("waiting ({})", view.status),
                DatabaseRemoval::Delete => {
                    let request = rds
                        .delete_db_instance()
                        .db_instance_identifier(&view.id)
                        .delete_automated_backups(true);
                    let request = match &final_id {
                        Some(id) => request
                            .skip_final_snapshot(false)
                            .final_db_snapshot_identifier(id),
                        None => request.skip_final_snapshot(true),
                    };
                    match request.send().await {
                        Ok(_) => {
                            requested = true;
                            "delete requested".to_string()
                        }
                        Err(err)
                            if err
                                .as_service_error()
                                .is_some_and(|e| e.is_invalid_db_instance_state_fault()) =>
                        {
                            format!("waiting ({})", view.status)
                        }
                        Err(err)
                            if err
                                .as_service_error()
                                .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
                        {
                            remaining -= 1;
                            "gone".to_string()
                        }
                        Err(err) => {
                            return Err(PilotLightError::from_sdk("DeleteDBInstance", &err))
                        }
                    }
                }
            };
            swept.push(SweptResource {
                kind: "DBInstance".into(),
                id: view.id.clone(),
                drill: owner,
                outcome,
                final_snapshot_id: final_id,
            });
        }
        marker = page.marker().filter(|m| !m.is_empty()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }

    let status = if requested {
        StepStatus::Started
    } else if remaining > 0 {
        StepStatus::InProgress
    } else {
        StepStatus::AlreadyDone
    };
    Ok((
        status,
        detail(&json!({
            "region": input.region,
            "includeCurrent": input.include_current,
            "swept": swept,
            "kept": kept,
            "remaining": remaining,
        })),
        resources,
    ))
}
