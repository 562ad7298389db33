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

/// One function's side, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FunctionState {
    /// Mappings `Enabled`, rules enabled, concurrency not 0.
    Enabled,
    /// Mappings `Disabled`, rules `DISABLED`, reserved concurrency 0.
    Disabled,
    /// Some settings on, some off.
    Mixed,
    /// A mapping is between two states (`Enabling`, `Disabling`, `Creating`, `Updating`, `Deleting`).
    Transitioning,
}

/// An event source mapping as described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingObservation {
    pub uuid: String,
    /// `Enabled`, `Disabled`, `Enabling`, `Disabling`, `Creating`, `Updating` or `Deleting`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The function the mapping feeds (may carry a qualifier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
}

/// An EventBridge rule as described.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleObservation {
    pub name: String,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// What the describe calls tell about one function's side, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionObservation {
    /// Logical function name from the configuration.
    pub function: String,
    pub function_name: String,
    pub function_arn: String,
    /// `None`: unreserved.
    pub reserved_concurrency: Option<i32>,
    pub event_source_mappings: Vec<MappingObservation>,
    pub rules: Vec<RuleObservation>,
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

/// The state a function's side should be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Event sources on; reserved concurrency this value, or none.
    Enabled { reserved_concurrency: Option<i32> },
    /// Event sources off; reserved concurrency 0.
    Disabled,
}

/// One call that brings a setting to the wanted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToggleStep {
    SetMapping {
        uuid: String,
        enabled: bool,
        from: String,
    },
    PutConcurrency {
        to: i32,
        from: Option<i32>,
    },
    DeleteConcurrency {
        from: i32,
    },
    SetRule {
        name: String,
        enabled: bool,
        from: String,
    },
}

/// What `enable` / `disable` must do for one function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TogglePlan {
    /// The calls to make, in order.
    pub steps: Vec<ToggleStep>,
    /// Mappings between two states that cannot be changed now (run the action again later).
    pub waiting: Vec<String>,
}

const ENABLED: &str = "Enabled";
const DISABLED: &str = "Disabled";
const RULE_ENABLED: &str = "ENABLED";
const RULE_DISABLED: &str = "DISABLED";
const RULE_ENABLED_CLOUDTRAIL: &str = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS";
/// How an absent reservation is written in `from` / `to`.
pub const UNRESERVED: &str = "unreserved";

/// Mapping states that settle by themselves.
fn is_transitional(state: &str) -> bool {
    matches!(
        state,
        "Creating" | "Enabling" | "Disabling" | "Updating" | "Deleting"
    )
}

fn rule_is_enabled(state: &str) -> bool {
    state == RULE_ENABLED || state == RULE_ENABLED_CLOUDTRAIL
}

/// The reserved concurrency as `from` / `to` show it.
pub fn concurrency_text(value: Option<i32>) -> String {
    value.map_or_else(|| UNRESERVED.to_string(), |n| n.to_string())
}

/// True when the mapping's function ARN (possibly qualified) is this function.
fn mapping_feeds(mapping_function_arn: &str, function_arn: &str) -> bool {
    mapping_function_arn == function_arn
        || mapping_function_arn
            .strip_prefix(function_arn)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// Decides the calls that bring one function's side to `wanted`. Refuses to touch a mapping that
/// feeds another function, or one that is being deleted.
pub fn plan_toggle(
    obs: &FunctionObservation,
    wanted: Wanted,
) -> Result<TogglePlan, PilotLightError> {
    let enable = matches!(wanted, Wanted::Enabled { .. });
    let mut mapping_steps = Vec::new();
    let mut waiting = Vec::new();
    for mapping in &obs.event_source_mappings {
        if let Some(feeds) = &mapping.function_arn {
            if !mapping_feeds(feeds, &obs.function_arn) {
                return Err(PilotLightError::UnsafeOperation {
                    reason: format!(
                        "event source mapping {} feeds {feeds}, not {} (function `{}`): nothing changed",
                        mapping.uuid, obs.function_arn, obs.function
                    ),
                });
            }
        }
        let (wanted_state, moving_there, other_state) = if enable {
            (ENABLED, "Enabling", DISABLED)
        } else {
            (DISABLED, "Disabling", ENABLED)
        };
        match mapping.state.as_str() {
            s if s == wanted_state || s == moving_there => {}
            s if s == other_state => mapping_steps.push(ToggleStep::SetMapping {
                uuid: mapping.uuid.clone(),
                enabled: enable,
                from: mapping.state.clone(),
            }),
            "Deleting" => {
                return Err(PilotLightError::InvalidState {
                    resource: format!("event source mapping {}", mapping.uuid),
                    state: mapping.state.clone(),
                    reason: "the mapping is being deleted".into(),
                })
            }
            s if is_transitional(s) => waiting.push(mapping.uuid.clone()),
            other => {
                return Err(PilotLightError::InvalidState {
                    resource: format!("event source mapping {}", mapping.uuid),
                    state: other.to_string(),
                    reason: "not a state pilot-light knows how to toggle".into(),
                })
            }
        }
    }

    let mut rule_steps = Vec::new();
    for rule in &obs.rules {
        if rule_is_enabled(&rule.state) != enable {
            rule_steps.push(ToggleStep::SetRule {
                name: rule.name.clone(),
                enabled: enable,
                from: rule.state.clone(),
            });
        }
    }

    let current = obs.reserved_concurrency;
    let concurrency_step = match wanted {
        Wanted::Disabled
        | Wanted::Enabled {
            reserved_concurrency: Some(_),
        } => {
            let to = match wanted {
                Wanted::Enabled {
                    reserved_concurrency: Some(n),
                } => n,
                _ => 0,
            };
            (current != Some(to)).then_some(ToggleStep::PutConcurrency { to, from: current })
        }
        Wanted::Enabled {
            reserved_concurrency: None,
        } => current.map(|from| ToggleStep::DeleteConcurrency { from }),
    };

    // Enabling: room to run first, then the sources. Disabling: sources first, the room last.
    let mut steps = Vec::new();
    if enable {
        steps.extend(concurrency_step);
        steps.extend(rule_steps);
        steps.extend(mapping_steps);
    } else {
        steps.extend(mapping_steps);
        steps.extend(rule_steps);
        steps.extend(concurrency_step);
    }
    Ok(TogglePlan { steps, waiting })
}

/// One function's side as a whole.
pub fn summarize(obs: &FunctionObservation) -> FunctionState {
    let mappings = &obs.event_source_mappings;
    if mappings.iter().any(|m| is_transitional(&m.state)) {
        return FunctionState::Transitioning;
    }
    let on = mappings.iter().all(|m| m.state == ENABLED)
        && obs.rules.iter().all(|r| rule_is_enabled(&r.state))
        && obs.reserved_concurrency != Some(0);
    let off = mappings.iter().all(|m| m.state == DISABLED)
        && obs.rules.iter().all(|r| r.state == RULE_DISABLED)
        && obs.reserved_concurrency == Some(0);
    match (on, off) {
        (true, _) => FunctionState::Enabled,
        (false, true) => FunctionState::Disabled,
        (false, false) => FunctionState::Mixed,
    }
}

/// Decides `status`: `done` unless a mapping is between two states.
pub fn decide_status(observed: &[FunctionObservation]) -> StepStatus {
    if observed
        .iter()
        .any(|o| summarize(o) == FunctionState::Transitioning)
    {
        StepStatus::InProgress
    } else {
        StepStatus::Done
    }
}

/// Decides the status of `enable` / `disable` from what it changed, what it had to leave, and
/// whether every function is now settled in the wanted state (see [`is_settled`]).
pub fn decide_toggle_status(changed: usize, waiting: usize, settled: bool) -> StepStatus {
    if waiting > 0 || !settled {
        StepStatus::InProgress
    } else if changed > 0 {
        StepStatus::Done
    } else {
        StepStatus::AlreadyDone
    }
}

/// True when a function's side is where `action` wants it, for good. A disabled consumer is one
/// that can no longer write: reserved concurrency 0, every mapping `Disabled` (a `Disabling` one
/// may still deliver a batch), every rule `DISABLED`; `disable` answers `inProgress` until then and
/// the state machine runs it again. `enable` needs no such wait (a mapping `Enabling` is on its way).
pub fn is_settled(action: ToggleAction, obs: &FunctionObservation) -> bool {
    match action {
        ToggleAction::Disable => summarize(obs) == FunctionState::Disabled,
        ToggleAction::Enable | ToggleAction::Status => true,
    }
}

/// The wanted state of one function's side for an action (`None` for `status`).
fn wanted_for(action: ToggleAction, function: &FunctionRef) -> Option<Wanted> {
    match action {
        ToggleAction::Enable => Some(Wanted::Enabled {
            reserved_concurrency: function
                .reserved_concurrency
                .map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        }),
        ToggleAction::Disable => Some(Wanted::Disabled),
        ToggleAction::Status => None,
    }
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

fn not_found(kind: &str, id: &str, region: &str) -> PilotLightError {
    PilotLightError::ResourceNotFound {
        kind: kind.to_string(),
        id: id.to_string(),
        region: region.to_string(),
    }
}

/// Describes one function's side: the function, its reserved concurrency, its mappings and rules.
async fn observe_function(
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
async fn apply(
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

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-west-2:123456789012:function:orders-usw2";

    fn obs(mappings: &[&str], rules: &[&str], concurrency: Option<i32>) -> FunctionObservation {
        FunctionObservation {
            function: "orders".into(),
            function_name: "orders-usw2".into(),
            function_arn: ARN.into(),
            reserved_concurrency: concurrency,
            event_source_mappings: mappings
                .iter()
                .enumerate()
                .map(|(i, state)| MappingObservation {
                    uuid: format!("m{i}"),
                    state: state.to_string(),
                    arn: None,
                    function_arn: Some(ARN.into()),
                })
                .collect(),
            rules: rules
                .iter()
                .enumerate()
                .map(|(i, state)| RuleObservation {
                    name: format!("r{i}"),
                    state: state.to_string(),
                    arn: None,
                })
                .collect(),
        }
    }

    fn mapping(i: usize, enabled: bool, from: &str) -> ToggleStep {
        ToggleStep::SetMapping {
            uuid: format!("m{i}"),
            enabled,
            from: from.into(),
        }
    }

    fn rule(i: usize, enabled: bool, from: &str) -> ToggleStep {
        ToggleStep::SetRule {
            name: format!("r{i}"),
            enabled,
            from: from.into(),
        }
    }

    fn enabled(n: Option<i32>) -> Wanted {
        Wanted::Enabled {
            reserved_concurrency: n,
        }
    }

    #[test]
    fn toggle_plans() {
        use ToggleStep::*;
        type Case = (
            FunctionObservation,
            Wanted,
            Vec<ToggleStep>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            // The pilot light, switched on: concurrency first, then the rule, the mapping last.
            (
                obs(&["Disabled"], &["DISABLED"], Some(0)),
                enabled(Some(20)),
                vec![
                    PutConcurrency {
                        to: 20,
                        from: Some(0),
                    },
                    rule(0, true, "DISABLED"),
                    mapping(0, true, "Disabled"),
                ],
                vec![],
            ),
            // No configured value: the reservation is removed.
            (
                obs(&["Disabled"], &[], Some(0)),
                enabled(None),
                vec![DeleteConcurrency { from: 0 }, mapping(0, true, "Disabled")],
                vec![],
            ),
            (
                obs(&["Enabled"], &["ENABLED"], None),
                enabled(None),
                vec![],
                vec![],
            ),
            (
                obs(&["Enabled"], &["ENABLED"], Some(20)),
                enabled(Some(20)),
                vec![],
                vec![],
            ),
            // A different reservation is corrected.
            (
                obs(&["Enabled"], &[], Some(5)),
                enabled(Some(20)),
                vec![PutConcurrency {
                    to: 20,
                    from: Some(5),
                }],
                vec![],
            ),
            (
                obs(&[], &[], None),
                enabled(Some(20)),
                vec![PutConcurrency { to: 20, from: None }],
                vec![],
            ),
            // Already on its way, or on with CloudTrail events: nothing to do.
            (
                obs(
                    &["Enabling"],
                    &["ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"],
                    None,
                ),
                enabled(None),
                vec![],
                vec![],
            ),
            // Moving the other way or busy: left for the next run, the rest still done.
            (
                obs(&["Disabling", "Creating", "Disabled"], &[], None),
                enabled(None),
                vec![mapping(2, true, "Disabled")],
                vec!["m0", "m1"],
            ),
            // Switched off: the mapping first, then the rule, the concurrency last.
            (
                obs(&["Enabled"], &["ENABLED"], Some(20)),
                Wanted::Disabled,
                vec![
                    mapping(0, false, "Enabled"),
                    rule(0, false, "ENABLED"),
                    PutConcurrency {
                        to: 0,
                        from: Some(20),
                    },
                ],
                vec![],
            ),
            (
                obs(&["Enabled"], &[], None),
                Wanted::Disabled,
                vec![
                    mapping(0, false, "Enabled"),
                    PutConcurrency { to: 0, from: None },
                ],
                vec![],
            ),
            (
                obs(&["Disabled", "Disabling"], &["DISABLED"], Some(0)),
                Wanted::Disabled,
                vec![],
                vec![],
            ),
            (
                obs(&["Updating"], &["DISABLED"], Some(0)),
                Wanted::Disabled,
                vec![],
                vec!["m0"],
            ),
        ];
        for (observation, wanted, steps, waiting) in cases {
            let plan = plan_toggle(&observation, wanted).unwrap();
            assert_eq!(plan.steps, steps, "{observation:?} → {wanted:?}");
            assert_eq!(plan.waiting, waiting, "{observation:?} → {wanted:?}");
        }
    }

    #[test]
    fn toggle_refusals() {
        let mut foreign = obs(&["Disabled"], &[], Some(0));
        foreign.event_source_mappings[0].function_arn =
            Some("arn:aws:lambda:us-west-2:123456789012:function:someone-else".into());
        // A prefix of the name is not the same function.
        let mut prefix = obs(&["Disabled"], &[], Some(0));
        prefix.event_source_mappings[0].function_arn = Some(format!("{ARN}-v2"));
        let cases: Vec<(FunctionObservation, Wanted, &str)> = vec![
            (foreign.clone(), enabled(None), "UnsafeOperation"),
            (foreign, Wanted::Disabled, "UnsafeOperation"),
            (prefix, enabled(None), "UnsafeOperation"),
            (obs(&["Deleting"], &[], None), enabled(None), "InvalidState"),
            (
                obs(&["Deleting"], &[], None),
                Wanted::Disabled,
                "InvalidState",
            ),
            (obs(&["Broken"], &[], None), enabled(None), "InvalidState"),
        ];
        for (observation, wanted, error_type) in cases {
            let got = plan_toggle(&observation, wanted).map_err(|e| e.error_type());
            assert_eq!(got, Err(error_type), "{observation:?} → {wanted:?}");
        }
    }

    #[test]
    fn a_mapping_of_a_qualified_arn_of_the_same_function_is_ours() {
        let mut aliased = obs(&["Disabled"], &[], Some(0));
        aliased.event_source_mappings[0].function_arn = Some(format!("{ARN}:live"));
        let plan = plan_toggle(&aliased, enabled(None)).unwrap();
        assert_eq!(plan.steps.len(), 2);
    }

    #[test]
    fn function_states() {
        use FunctionState::*;
        let cases = vec![
            (obs(&["Enabled"], &["ENABLED"], None), Enabled),
            (obs(&["Enabled"], &["ENABLED"], Some(20)), Enabled),
            (obs(&[], &[], None), Enabled),
            (obs(&["Disabled"], &["DISABLED"], Some(0)), Disabled),
            (obs(&[], &[], Some(0)), Disabled),
            // Sources off but still free to run: not the pilot light's "off".
            (obs(&["Disabled"], &["DISABLED"], None), Mixed),
            (obs(&["Enabled"], &["ENABLED"], Some(0)), Mixed),
            (obs(&["Enabled", "Disabled"], &[], None), Mixed),
            (obs(&["Enabled"], &["DISABLED"], None), Mixed),
            (obs(&["Enabling"], &["ENABLED"], None), Transitioning),
            (obs(&["Disabled", "Disabling"], &[], Some(0)), Transitioning),
        ];
        for (observation, expected) in cases {
            assert_eq!(summarize(&observation), expected, "{observation:?}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(
            decide_status(&[obs(&["Enabled"], &[], None), obs(&[], &[], Some(0))]),
            StepStatus::Done
        );
        assert_eq!(
            decide_status(&[obs(&["Enabled"], &[], None), obs(&["Enabling"], &[], None)]),
            StepStatus::InProgress
        );
        assert_eq!(decide_status(&[]), StepStatus::Done);
        let cases = [
            (0, 0, true, StepStatus::AlreadyDone),
            (3, 0, true, StepStatus::Done),
            (3, 1, true, StepStatus::InProgress),
            (0, 1, true, StepStatus::InProgress),
            // Changed, but not settled yet (a mapping still `Disabling`): run it again.
            (3, 0, false, StepStatus::InProgress),
            (0, 0, false, StepStatus::InProgress),
        ];
        for (changed, waiting, settled, expected) in cases {
            assert_eq!(
                decide_toggle_status(changed, waiting, settled),
                expected,
                "{changed} {waiting} {settled}"
            );
        }
    }

    #[test]
    fn a_disabled_consumer_is_settled_only_when_nothing_can_run_it() {
        use ToggleAction::*;
        let cases = [
            (obs(&["Disabled"], &["DISABLED"], Some(0)), true),
            // A mapping still disabling may deliver one more batch.
            (obs(&["Disabling"], &["DISABLED"], Some(0)), false),
            // Room to run is still there.
            (obs(&["Disabled"], &["DISABLED"], Some(5)), false),
            (obs(&["Disabled"], &["DISABLED"], None), false),
            (obs(&["Disabled"], &["ENABLED"], Some(0)), false),
            (obs(&[], &[], Some(0)), true),
        ];
        for (observation, expected) in cases {
            assert_eq!(
                is_settled(Disable, &observation),
                expected,
                "{observation:?}"
            );
        }
        // Enabling does not wait for a mapping that is on its way.
        assert!(is_settled(Enable, &obs(&["Enabling"], &[], Some(5))));
    }

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

    #[test]
    fn concurrency_texts() {
        assert_eq!(concurrency_text(None), "unreserved");
        assert_eq!(concurrency_text(Some(0)), "0");
        assert_eq!(concurrency_text(Some(20)), "20");
    }
}
