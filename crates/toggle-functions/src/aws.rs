//! The Lambda and EventBridge calls of `toggle-functions`: describe one function's side (the
//! function, its reserved concurrency, its mappings and rules) and make one call of a plan, with SDK
//! errors mapped to `PilotLightError`. No decisions here.

use crate::decide::{
    concurrency_text, FunctionObservation, MappingObservation, RuleObservation, ToggleStep,
    DISABLED, ENABLED, RULE_DISABLED, RULE_ENABLED,
};
use crate::{ChangeKind, FunctionChange};
use pilot_light_core::config::FunctionRef;
use pilot_light_core::PilotLightError;
use std::collections::BTreeSet;

fn not_found(kind: &str, id: &str, region: &str) -> PilotLightError {
    PilotLightError::ResourceNotFound {
        kind: kind.to_string(),
        id: id.to_string(),
        region: region.to_string(),
    }
}

/// Describes one function's side: the function, its reserved concurrency, its mappings and rules.
pub(crate) async fn observe_function(
    lambda: &aws_sdk_lambda::Client,
    events: &aws_sdk_eventbridge::Client,
    name: &str,
    reference: &FunctionRef,
    region: &str,
) -> Result<FunctionObservation, PilotLightError> {
    let function_name = reference.function_name.as_str();
    let missing_function = || not_found("Function", function_name, region);
    let configuration = lambda
        .get_function_configuration()
        .function_name(function_name)
        .send()
        .await
        .map_err(|err| {
            PilotLightError::from_sdk_or_missing(
                "GetFunctionConfiguration",
                &err,
                |e| e.is_resource_not_found_exception(),
                missing_function,
            )
        })?;
    let function_arn = configuration
        .function_arn()
        .unwrap_or(function_name)
        .to_string();
    // GetFunctionConcurrency, not GetFunction: it is the call that reports a reservation of 0.
    let concurrency = lambda
        .get_function_concurrency()
        .function_name(function_name)
        .send()
        .await
        .map_err(|err| {
            PilotLightError::from_sdk_or_missing(
                "GetFunctionConcurrency",
                &err,
                |e| e.is_resource_not_found_exception(),
                missing_function,
            )
        })?;

    let mut seen = BTreeSet::new();
    let mut mappings = Vec::new();
    for uuid in &reference.event_source_mapping_uuids {
        if !seen.insert(uuid.as_str()) {
            continue;
        }
        let mapping = lambda
            .get_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .map_err(|err| {
                PilotLightError::from_sdk_or_missing(
                    "GetEventSourceMapping",
                    &err,
                    |e| e.is_resource_not_found_exception(),
                    || not_found("EventSourceMapping", uuid, region),
                )
            })?;
        mappings.push(MappingObservation {
            uuid: uuid.clone(),
            state: mapping.state().unwrap_or("unknown").to_string(),
            arn: mapping.event_source_mapping_arn().map(str::to_string),
            function_arn: mapping.function_arn().map(str::to_string),
        });
    }

    let mut seen = BTreeSet::new();
    let mut rules = Vec::new();
    for rule_name in &reference.event_bridge_rules {
        if !seen.insert(rule_name.as_str()) {
            continue;
        }
        let rule = events
            .describe_rule()
            .name(rule_name)
            .send()
            .await
            .map_err(|err| {
                PilotLightError::from_sdk_or_missing(
                    "DescribeRule",
                    &err,
                    |e| e.is_resource_not_found_exception(),
                    || not_found("Rule", rule_name, region),
                )
            })?;
        rules.push(RuleObservation {
            name: rule_name.clone(),
            state: rule
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "unknown".into()),
            arn: rule.arn().map(str::to_string),
        });
    }

    Ok(FunctionObservation {
        function: name.to_string(),
        function_name: function_name.to_string(),
        function_arn,
        reserved_concurrency: concurrency.reserved_concurrent_executions(),
        event_source_mappings: mappings,
        rules,
    })
}

/// Makes one call of a plan and records its effect on `obs`. `None`: Lambda said the mapping is
/// busy (it moved between our describe and our update); the action is to be run again.
pub(crate) async fn apply(
    lambda: &aws_sdk_lambda::Client,
    events: &aws_sdk_eventbridge::Client,
    obs: &mut FunctionObservation,
    step: &ToggleStep,
    region: &str,
) -> Result<Option<FunctionChange>, PilotLightError> {
    let function_name = obs.function_name.clone();
    let function = obs.function.clone();
    let change = |kind, id: &str, from: String, to: String| FunctionChange {
        function: function.clone(),
        kind,
        id: id.to_string(),
        from,
        to,
    };
    match step {
        ToggleStep::SetMapping {
            uuid,
            enabled,
            from,
        } => {
            let updated = lambda
                .update_event_source_mapping()
                .uuid(uuid)
                .enabled(*enabled)
                .send()
                .await;
            let updated = match updated {
                Ok(out) => out,
                Err(err)
                    if err.as_service_error().is_some_and(|e| {
                        e.is_resource_in_use_exception() || e.is_resource_conflict_exception()
                    }) =>
                {
                    tracing::warn!(uuid = %uuid, "event source mapping busy; leaving it for the next run");
                    return Ok(None);
                }
                Err(err) => {
                    return Err(PilotLightError::from_sdk_or_missing(
                        "UpdateEventSourceMapping",
                        &err,
                        |e| e.is_resource_not_found_exception(),
                        || not_found("EventSourceMapping", uuid, region),
                    ))
                }
            };
            let to = if *enabled { ENABLED } else { DISABLED };
            let record = change(
                ChangeKind::EventSourceMapping,
                uuid,
                from.clone(),
                to.into(),
            );
            if let Some(m) = obs
                .event_source_mappings
                .iter_mut()
                .find(|m| &m.uuid == uuid)
            {
                m.state = updated.state().unwrap_or(to).to_string();
            }
            Ok(Some(record))
        }
        ToggleStep::PutConcurrency { to, from } => {
            let put = lambda
                .put_function_concurrency()
                .function_name(&function_name)
                .reserved_concurrent_executions(*to)
                .send()
                .await
                .map_err(|err| {
                    PilotLightError::from_sdk_or_missing(
                        "PutFunctionConcurrency",
                        &err,
                        |e| e.is_resource_not_found_exception(),
                        || not_found("Function", &function_name, region),
                    )
                })?;
            let record = change(
                ChangeKind::Concurrency,
                &function_name,
                concurrency_text(*from),
                concurrency_text(Some(*to)),
            );
            obs.reserved_concurrency = put.reserved_concurrent_executions().or(Some(*to));
            Ok(Some(record))
        }
        ToggleStep::DeleteConcurrency { from } => {
            lambda
                .delete_function_concurrency()
                .function_name(&function_name)
                .send()
                .await
                .map_err(|err| {
                    PilotLightError::from_sdk_or_missing(
                        "DeleteFunctionConcurrency",
                        &err,
                        |e| e.is_resource_not_found_exception(),
                        || not_found("Function", &function_name, region),
                    )
                })?;
            let record = change(
                ChangeKind::Concurrency,
                &function_name,
                concurrency_text(Some(*from)),
                concurrency_text(None),
            );
            obs.reserved_concurrency = None;
            Ok(Some(record))
        }
        ToggleStep::SetRule {
            name,
            enabled,
            from,
        } => {
            let missing = || not_found("Rule", name, region);
            if *enabled {
                events
                    .enable_rule()
                    .name(name)
                    .send()
                    .await
                    .map_err(|err| {
                        PilotLightError::from_sdk_or_missing(
                            "EnableRule",
                            &err,
                            |e| e.is_resource_not_found_exception(),
                            missing,
                        )
                    })?;
            } else {
                events
                    .disable_rule()
                    .name(name)
                    .send()
                    .await
                    .map_err(|err| {
                        PilotLightError::from_sdk_or_missing(
                            "DisableRule",
                            &err,
                            |e| e.is_resource_not_found_exception(),
                            missing,
                        )
                    })?;
            }
            let to = if *enabled {
                RULE_ENABLED
            } else {
                RULE_DISABLED
            };
            let record = change(ChangeKind::Rule, name, from.clone(), to.into());
            if let Some(r) = obs.rules.iter_mut().find(|r| &r.name == name) {
                r.state = to.to_string();
            }
            Ok(Some(record))
        }
    }
}
