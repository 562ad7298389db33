//! `toggle-functions`: switches the DR side of the configured Lambda consumers on (`enable`, on
//! failover) or off (`disable`, on failback and to keep the pilot light dark), and tells where they
//! stand (`status`).
//!
//! A function is "on" when its event source mappings are `Enabled`, its EventBridge rules (default
//! bus) are `ENABLED` and its reserved concurrency is the configured value (or unreserved); it is
//! "off" when the mappings are `Disabled`, the rules `DISABLED` and the reserved concurrency 0.
//!
//! Observe, then act: every function, mapping and rule named in the input is described first, so a
//! missing one fails the step before anything is changed; then only what differs from the wanted
//! state is changed, and every change is reported with its `from` and `to`. Enabling opens the
//! concurrency first and the event sources last; disabling closes the event sources first and the
//! concurrency last, so no event is pulled into a function that cannot run. A mapping still moving
//! between states (`Disabling` while we want it enabled, `Creating`, `Updating`) is left alone and
//! the answer is `inProgress`: the state machine runs the action again after a `Wait`. Nothing here
//! waits.
//!
//! Layout: the observations of a function's side and the pure decisions (the plan of calls, the
//! state as a whole, the answers) are in `decide`, the Lambda and EventBridge calls (describe a
//! function's side, make one call of a plan) in `aws`; the handler here checks the input, observes
//! every function, then acts, one `match` over the action.

mod aws;
pub mod decide;

pub use decide::{
    concurrency_text, decide_status, decide_toggle_status, is_settled, plan_toggle, summarize,
    FunctionObservation, FunctionState, MappingObservation, RuleObservation, TogglePlan,
    ToggleStep, Wanted, UNRESERVED,
};

use crate::aws::{apply, observe_function};
use crate::decide::wanted_for;

use pilot_light_core::config::{FunctionConfig, FunctionRef};
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["enable", "disable", "status"];

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub lambda: Regional<aws_sdk_lambda::Client>,
    pub events: Regional<aws_sdk_eventbridge::Client>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        Self {
            lambda: Regional::new(base.clone(), aws_sdk_lambda::Client::new),
            events: Regional::new(base, aws_sdk_eventbridge::Client::new),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ToggleAction {
    /// Event sources on, concurrency as configured.
    Enable,
    /// Event sources off, reserved concurrency 0.
    Disable,
    /// Describe only: `done` when no event source mapping is between two states.
    Status,
}

/// Which half of each function entry to act on.
pub use pilot_light_core::config::Side;

/// Input from the state machine: the action, the region of the chosen side, and the functions.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToggleFunctionsInput {
    pub action: ToggleAction,
    pub region: String,
    pub side: Side,
    pub functions: Vec<FunctionConfig>,
    /// The Step Functions execution, for the logs.
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// What kind of setting a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    EventSourceMapping,
    Concurrency,
    Rule,
}

/// One setting this run changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionChange {
    /// Logical function name from the configuration.
    pub function: String,
    pub kind: ChangeKind,
    /// Mapping UUID, function name (concurrency) or rule name.
    pub id: String,
    /// Mapping state (`Disabled`), reserved concurrency (`0`, `unreserved`) or rule state
    /// (`DISABLED`) before the change.
    pub from: String,
    pub to: String,
}

/// One function in the answer: what it looks like after the action, and its state as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionReport {
    pub state: FunctionState,
    #[serde(flatten)]
    pub observed: FunctionObservation,
}

/// What the action found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToggleFunctionsOutput {
    pub action: ToggleAction,
    pub status: StepStatus,
    pub region: String,
    pub side: Side,
    /// Every setting changed by this run, in the order it was changed.
    pub changes: Vec<FunctionChange>,
    /// Every function acted on, as it is after this run.
    pub functions: Vec<FunctionReport>,
    /// Functions with nothing configured for this side (`primary` is optional).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// ARNs of the functions, mappings and rules looked at or changed.
    pub resources: Vec<String>,
}

/// The chosen side of the input's functions.
struct ChosenSide {
    /// (logical name, reference) of every function that has this side.
    functions: Vec<(String, FunctionRef)>,
    /// Functions with no such side.
    skipped: Vec<String>,
}

/// Picks the chosen side of every function, checking what the types cannot.
fn chosen_side(input: &ToggleFunctionsInput) -> Result<ChosenSide, PilotLightError> {
    let side = input.side.name();
    let mut chosen = Vec::new();
    let mut skipped = Vec::new();
    let mut names = BTreeSet::new();
    for (i, function) in input.functions.iter().enumerate() {
        let at = |f: &str| format!("functions[{i}].{f}");
        let invalid = |field: String, reason: &str| PilotLightError::InvalidInput {
            field,
            reason: reason.to_string(),
        };
        if function.name.trim().is_empty() {
            return Err(invalid(at("name"), "must not be empty"));
        }
        if !names.insert(function.name.as_str()) {
            return Err(invalid(at("name"), "duplicate function name"));
        }
        let reference = input.side.of_function(function);
        let Some(reference) = reference else {
            skipped.push(function.name.clone());
            continue;
        };
        if reference.function_name.trim().is_empty() {
            return Err(invalid(
                at(&format!("{side}.functionName")),
                "must not be empty",
            ));
        }
        match reference.reserved_concurrency {
            Some(0) => {
                return Err(invalid(
                    at(&format!("{side}.reservedConcurrency")),
                    "0 would leave the function unable to run when enabled; omit it for unreserved",
                ))
            }
            Some(n) if i32::try_from(n).is_err() => {
                return Err(invalid(
                    at(&format!("{side}.reservedConcurrency")),
                    "too large",
                ))
            }
            _ => {}
        }
        for (j, uuid) in reference.event_source_mapping_uuids.iter().enumerate() {
            if uuid.trim().is_empty() {
                return Err(invalid(
                    at(&format!("{side}.eventSourceMappingUuids[{j}]")),
                    "must not be empty",
                ));
            }
        }
        for (j, rule) in reference.event_bridge_rules.iter().enumerate() {
            if rule.trim().is_empty() {
                return Err(invalid(
                    at(&format!("{side}.eventBridgeRules[{j}]")),
                    "must not be empty",
                ));
            }
        }
        chosen.push((function.name.clone(), reference.clone()));
    }
    Ok(ChosenSide {
        functions: chosen,
        skipped,
    })
}

/// The Lambda handler: decode, validate, observe everything, then act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<ToggleFunctionsOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let input: ToggleFunctionsInput = parse_step_input(event, ACTIONS)?;
    let ChosenSide {
        functions: chosen,
        skipped,
    } = chosen_side(&input)?;
    let lambda = clients.lambda.get(&input.region)?;
    let events = clients.events.get(&input.region)?;

    // Observe every function first: a missing one fails the step before anything changes.
    let mut observed = Vec::with_capacity(chosen.len());
    for (name, reference) in &chosen {
        observed.push(observe_function(&lambda, &events, name, reference, &input.region).await?);
    }

    let mut changes = Vec::new();
    let status = match input.action {
        ToggleAction::Status => decide_status(&observed),
        action => {
            let mut plans = Vec::with_capacity(observed.len());
            for (obs, (_, reference)) in observed.iter().zip(&chosen) {
                if let Some(wanted) = wanted_for(action, reference) {
                    plans.push(plan_toggle(obs, wanted)?);
                }
            }
            let mut waiting = 0;
            for (obs, plan) in observed.iter_mut().zip(plans) {
                waiting += plan.waiting.len();
                for step in plan.steps {
                    match apply(&lambda, &events, obs, &step, &input.region).await? {
                        Some(change) => changes.push(change),
                        None => waiting += 1,
                    }
                }
            }
            let settled = observed.iter().all(|obs| is_settled(action, obs));
            decide_toggle_status(changes.len(), waiting, settled)
        }
    };

    let mut resources = Vec::new();
    for obs in &observed {
        resources.push(obs.function_arn.clone());
        resources.extend(
            obs.event_source_mappings
                .iter()
                .map(|m| m.arn.clone().unwrap_or_else(|| m.uuid.clone())),
        );
        resources.extend(
            obs.rules
                .iter()
                .map(|r| r.arn.clone().unwrap_or_else(|| r.name.clone())),
        );
    }
    tracing::info!(
        action = ?input.action,
        region = %input.region,
        side = ?input.side,
        execution_id = input.execution_id.as_deref().unwrap_or(""),
        changes = changes.len(),
        status = ?status,
        "toggle-functions"
    );
    Ok(ToggleFunctionsOutput {
        action: input.action,
        status,
        region: input.region.clone(),
        side: input.side,
        changes,
        functions: observed
            .into_iter()
            .map(|observed| FunctionReport {
                state: summarize(&observed),
                observed,
            })
            .collect(),
        skipped,
        started_at,
        finished_at: Timestamp::now(),
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_event_is_valid_input() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/toggle-functions");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            let input: ToggleFunctionsInput = parse_step_input(event, ACTIONS)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let chosen = chosen_side(&input).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!chosen.functions.is_empty(), "{}", path.display());
            seen += 1;
        }
        assert!(seen > 0, "no sample event in {}", dir.display());
    }
}

#[cfg(test)]
mod action_list {
    use super::{ToggleAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`ToggleAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<ToggleAction>(ACTIONS).unwrap();
        let index = |action: &ToggleAction| match action {
            ToggleAction::Enable => 0,
            ToggleAction::Disable => 1,
            ToggleAction::Status => 2,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..3).collect::<Vec<_>>());
    }
}
