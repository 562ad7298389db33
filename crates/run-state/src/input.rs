//! Decoding and validating an event, without calling AWS: the action picks the input type, then
//! every field that becomes part of a parameter name or a lock owner is checked.

use crate::{RunStateAction, RunStateInput, ACTIONS};
use pilot_light_core::clients::validate_region;
use pilot_light_core::step::ActionOnly;
use pilot_light_core::{parse_step_input, EnvName, PilotLightError};
use std::collections::BTreeMap;

impl RunStateInput {
    pub fn action(&self) -> RunStateAction {
        match self {
            Self::BeginFailover(_) => RunStateAction::BeginFailover,
            Self::BeginFailback(_) => RunStateAction::BeginFailback,
            Self::MarkActive(_) => RunStateAction::MarkActive,
            Self::Release(_) => RunStateAction::Release,
            Self::RecordCapacity(_) => RunStateAction::RecordCapacity,
            Self::RecordPrimaryCapacity(_) => RunStateAction::RecordPrimaryCapacity,
            Self::RecordDatabases(_) => RunStateAction::RecordDatabases,
            Self::PromotionRequested(_) => RunStateAction::PromotionRequested,
            Self::ReversePromotionRequested(_) => RunStateAction::ReversePromotionRequested,
            Self::StandbyUnfenced(_) => RunStateAction::StandbyUnfenced,
            Self::RequestApproval(_) => RunStateAction::RequestApproval,
            Self::CheckApproval(_) => RunStateAction::CheckApproval,
        }
    }

    pub fn env(&self) -> &EnvName {
        match self {
            Self::BeginFailover(i) => &i.env,
            Self::BeginFailback(i) => &i.env,
            Self::MarkActive(i) => &i.env,
            Self::Release(i) => &i.env,
            Self::RecordCapacity(i) => &i.env,
            Self::RecordPrimaryCapacity(i) => &i.env,
            Self::RecordDatabases(i) => &i.env,
            Self::PromotionRequested(i)
            | Self::ReversePromotionRequested(i)
            | Self::StandbyUnfenced(i) => &i.env,
            Self::RequestApproval(i) => &i.env,
            Self::CheckApproval(i) => &i.env,
        }
    }

    /// The region asked for, if any (else the handler's own).
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::BeginFailover(i) => i.region.as_deref(),
            Self::BeginFailback(i) => i.region.as_deref(),
            Self::MarkActive(i) => i.region.as_deref(),
            Self::Release(i) => i.region.as_deref(),
            Self::RecordCapacity(i) => i.region.as_deref(),
            Self::RecordPrimaryCapacity(i) => i.region.as_deref(),
            Self::RecordDatabases(i) => i.region.as_deref(),
            Self::PromotionRequested(i)
            | Self::ReversePromotionRequested(i)
            | Self::StandbyUnfenced(i) => i.region.as_deref(),
            Self::RequestApproval(i) => i.region.as_deref(),
            Self::CheckApproval(i) => i.region.as_deref(),
        }
    }
}

/// Decodes and validates an event without calling AWS: `UnknownAction`, or `InvalidInput` naming the
/// field (`executionId`, `capacities.web`, …).
pub fn parse_input(event: serde_json::Value) -> Result<RunStateInput, PilotLightError> {
    let ActionOnly::<RunStateAction> { action } = parse_step_input(event.clone(), ACTIONS)?;
    let input = match action {
        RunStateAction::BeginFailover => {
            RunStateInput::BeginFailover(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::BeginFailback => {
            RunStateInput::BeginFailback(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::MarkActive => RunStateInput::MarkActive(parse_step_input(event, ACTIONS)?),
        RunStateAction::Release => RunStateInput::Release(parse_step_input(event, ACTIONS)?),
        RunStateAction::RecordCapacity => {
            RunStateInput::RecordCapacity(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::RecordPrimaryCapacity => {
            RunStateInput::RecordPrimaryCapacity(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::RecordDatabases => {
            RunStateInput::RecordDatabases(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::PromotionRequested => {
            RunStateInput::PromotionRequested(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::ReversePromotionRequested => {
            RunStateInput::ReversePromotionRequested(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::StandbyUnfenced => {
            RunStateInput::StandbyUnfenced(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::RequestApproval => {
            RunStateInput::RequestApproval(parse_step_input(event, ACTIONS)?)
        }
        RunStateAction::CheckApproval => {
            RunStateInput::CheckApproval(parse_step_input(event, ACTIONS)?)
        }
    };
    if let Some(region) = input.region() {
        check_region("region", region)?;
    }
    match &input {
        RunStateInput::BeginFailover(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::BeginFailback(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::Release(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::MarkActive(i) => {
            check_execution_id(&i.execution_id)?;
            check_region("activeRegion", &i.active_region)?;
        }
        RunStateInput::RecordCapacity(i) => check_group_names(&i.capacities)?,
        RunStateInput::RecordDatabases(_) | RunStateInput::RecordPrimaryCapacity(_) => {}
        RunStateInput::PromotionRequested(i)
        | RunStateInput::ReversePromotionRequested(i)
        | RunStateInput::StandbyUnfenced(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::RequestApproval(i) => check_execution_id(&i.execution_id)?,
        RunStateInput::CheckApproval(i) => check_execution_id(&i.execution_id)?,
    }
    Ok(input)
}

fn check_execution_id(execution_id: &str) -> Result<(), PilotLightError> {
    if execution_id.trim().is_empty() || execution_id.len() > 1024 {
        Err(PilotLightError::InvalidInput {
            field: "executionId".into(),
            reason: "must be a non-empty execution id of at most 1024 characters".into(),
        })
    } else {
        Ok(())
    }
}

fn check_region(field: &str, region: &str) -> Result<(), PilotLightError> {
    validate_region(region).map_err(|reason| PilotLightError::InvalidInput {
        field: field.into(),
        reason,
    })
}

fn check_group_names(capacities: &BTreeMap<String, u32>) -> Result<(), PilotLightError> {
    for name in capacities.keys() {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(PilotLightError::InvalidInput {
                field: format!("capacities.{name}"),
                reason: "group names are 1–64 letters, digits, `-` or `_`".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The env rule is core's ([`pilot_light_core::env_name`]): a bad name is refused as the event
    /// is decoded.
    #[test]
    fn env_names() {
        let event = |env: &str| json!({"action": "release", "env": env, "executionId": "arn:aws:states:us-west-2:1:execution:m:e"});
        for good in ["prod", "e2e-ab12", "a"] {
            assert_eq!(parse_input(event(good)).unwrap().env(), good);
        }
        for bad in ["", "Prod", "prod/../x", "-x", "a b", &"x".repeat(33)] {
            let err = parse_input(event(bad)).unwrap_err();
            assert_eq!(err.error_type(), "InvalidInput", "{bad}");
            assert!(
                matches!(&err, PilotLightError::InvalidInput { field, .. } if field == "env"),
                "{bad}: {err}"
            );
        }
    }
}
