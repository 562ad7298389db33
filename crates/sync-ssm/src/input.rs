//! The input of `sync-ssm`: a plain request or the EventBridge event that started it (a
//! `Scheduled Event`, a `Parameter Store Change`), decoded and checked without calling AWS.

use crate::ACTIONS;
use pilot_light_core::{parse_step_input, EnvName, PilotLightError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The plain input (a manual run, or a schedule with an explicit `Input`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PlainInput {
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) action: Option<String>,
    #[serde(default)]
    pub(crate) env: Option<EnvName>,
    /// Where the configuration and run state are (default: the handler's own region).
    #[serde(default)]
    pub(crate) region: Option<String>,
    /// Sync only this parameter.
    #[serde(default)]
    pub(crate) parameter_name: Option<String>,
    /// Lift `mirror` mode's deletion brake for this run (a person who checked what it deletes).
    #[serde(default)]
    pub(crate) force: bool,
    /// Compare every parameter of both regions, not only what the source changed since the last sync.
    #[serde(default)]
    pub(crate) full: bool,
}

/// The EventBridge event that started a run (a `Scheduled Event`, or a `Parameter Store Change`
/// whose `detail` is [`ParameterChangeDetail`]), as the ecosystem's event crate types it.
pub(crate) use aws_lambda_events::eventbridge::EventBridgeEvent;

/// `detail` of a `Parameter Store Change` event.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ParameterChangeDetail {
    pub(crate) name: String,
    pub(crate) operation: String,
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
    pub env: EnvName,
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

/// The input's `env`, else the function's default (`PILOT_LIGHT_ENV`), which must be an environment
/// name too (`InvalidInput` at `env`).
pub(crate) fn env_or_default(
    env: Option<EnvName>,
    default_env: Option<&str>,
) -> Result<EnvName, PilotLightError> {
    match (env, default_env) {
        (Some(env), _) => Ok(env),
        (None, Some(default_env)) => default_env.parse(),
        (None, None) => Err(PilotLightError::InvalidInput {
            field: "env".into(),
            reason: "no `env` in the input and no PILOT_LIGHT_ENV in the function's environment"
                .into(),
        }),
    }
}
