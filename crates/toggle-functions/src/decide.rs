//! The pure part of `toggle-functions`: what the describe calls tell about a function's side, and
//! what `enable`, `disable` and `status` do given it (no AWS calls), with their table tests.

use crate::ToggleAction;
use pilot_light_core::config::FunctionRef;
use pilot_light_core::{PilotLightError, StepStatus};
use serde::{Deserialize, Serialize};

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

pub(crate) const ENABLED: &str = "Enabled";
pub(crate) const DISABLED: &str = "Disabled";
pub(crate) const RULE_ENABLED: &str = "ENABLED";
pub(crate) const RULE_DISABLED: &str = "DISABLED";
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
pub(crate) fn wanted_for(action: ToggleAction, function: &FunctionRef) -> Option<Wanted> {
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
    fn concurrency_texts() {
        assert_eq!(concurrency_text(None), "unreserved");
        assert_eq!(concurrency_text(Some(0)), "0");
        assert_eq!(concurrency_text(Some(20)), "20");
    }
}
