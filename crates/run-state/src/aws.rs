//! The SSM Parameter Store calls of `run-state`: where an action works ([`Target`]), reading the
//! configuration, run state, lock and capacity record, and writing or deleting parameters, with SDK
//! errors mapped to `PilotLightError`. No decisions here.

use crate::capacity::{capacity_parameter_name, CapacityRecord};
use crate::{Clients, LockView, RunState, Touched};
use aws_sdk_ssm::types::{ParameterTier, ParameterType, Tag};
use pilot_light_core::config::{lock_parameter_name, state_parameter_name};
use pilot_light_core::parameters::get_parameter_value as get_parameter;
use pilot_light_core::{EnvName, PilotLightConfig, PilotLightError, ENV_TAG_KEY};

/// Where an action works: the environment, the region and its SSM client.
pub(crate) struct Target {
    pub(crate) env: EnvName,
    pub(crate) region: String,
    pub(crate) ssm: aws_sdk_ssm::Client,
}

impl Target {
    pub(crate) fn new(
        clients: &Clients,
        env: &EnvName,
        region: Option<&str>,
    ) -> Result<Self, PilotLightError> {
        let region = region
            .map(str::to_string)
            .or_else(|| clients.home_region.clone())
            .ok_or_else(|| PilotLightError::InvalidInput {
                field: "region".into(),
                reason: "the handler's own region is unknown: set AWS_REGION or pass `region`"
                    .into(),
            })?;
        let ssm = clients.ssm.get(&region)?;
        Ok(Self {
            env: env.clone(),
            region,
            ssm,
        })
    }

    pub(crate) fn touched(&self, names: Vec<String>) -> Touched {
        Touched {
            env: self.env.clone(),
            region: self.region.clone(),
            names,
        }
    }
}

/// Loads and validates the configuration document. Missing → `ConfigInvalid` naming the parameter;
/// invalid → `ConfigInvalid` naming the field; written for another env → `ConfigInvalid` at `env`.
pub(crate) async fn load_config(target: &Target) -> Result<PilotLightConfig, PilotLightError> {
    pilot_light_core::parameters::load_config(&target.ssm, &target.env, &target.region).await
}

pub(crate) async fn read_state(target: &Target) -> Result<Option<RunState>, PilotLightError> {
    read_document(target, &state_parameter_name(&target.env), "a run state").await
}

/// The capacity record, if it can be read. One that cannot (edited by hand, written by a newer
/// version) counts as none, with a warning: a failover then asks for the run state's capacities or
/// `capacity.minimum` instead of not starting at all, and the next recording replaces it.
/// Readiness's `capacity-record` check fails on it meanwhile. SSM errors still fail (the state
/// machine retries them).
pub(crate) async fn usable_capacity_record(
    target: &Target,
) -> Result<Option<CapacityRecord>, PilotLightError> {
    let name = capacity_parameter_name(&target.env);
    match read_document(target, &name, "a capacity record").await {
        Err(PilotLightError::InvalidState { reason, .. }) => {
            tracing::warn!(env = %target.env, parameter = %name, %reason, "capacity record ignored");
            Ok(None)
        }
        read => read,
    }
}

/// One of this env's JSON parameters (`None`: there is none); one that cannot be read as `what` is
/// `InvalidState` (fix or delete it by hand).
pub(crate) async fn read_document<T: serde::de::DeserializeOwned>(
    target: &Target,
    name: &str,
    what: &str,
) -> Result<Option<T>, PilotLightError> {
    match get_parameter(&target.ssm, name).await? {
        None => Ok(None),
        Some(text) => {
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|err| PilotLightError::InvalidState {
                    resource: format!("parameter {name} in {}", target.region),
                    state: "unreadable".into(),
                    reason: format!("not {what} ({err}); fix or delete it by hand"),
                })
        }
    }
}

pub(crate) async fn read_lock(target: &Target) -> Result<LockView, PilotLightError> {
    let text = get_parameter(&target.ssm, &lock_parameter_name(&target.env)).await?;
    Ok(LockView::from_value(text.as_deref()))
}

/// Writes the state: created (tagged) when there was none, overwritten otherwise. When another
/// writer created it first, this is `Throttled` so the state machine's Retry re-reads and merges.
pub(crate) async fn write_state(
    target: &Target,
    exists: bool,
    state: &RunState,
) -> Result<(), PilotLightError> {
    let name = state_parameter_name(&target.env);
    let value = to_json(state)?;
    match put_parameter(&target.ssm, &name, &value, exists, &target.env).await? {
        Put::Written => Ok(()),
        Put::AlreadyExists => Err(PilotLightError::Throttled {
            operation: "PutParameter".into(),
            message: format!("{name} was created concurrently; retry to merge with it"),
        }),
    }
}

pub(crate) use pilot_light_core::step::to_json_text as to_json;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Put {
    Written,
    AlreadyExists,
}

/// `PutParameter`. Without `overwrite` it creates the parameter (tagged with the env) or answers
/// [`Put::AlreadyExists`]: that is the lock's compare-and-set.
pub(crate) async fn put_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    value: &str,
    overwrite: bool,
    env: &str,
) -> Result<Put, PilotLightError> {
    let mut request = ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(overwrite);
    if !overwrite {
        // Tags are allowed only when creating; they let IAM conditions scope the parameter.
        let tag = Tag::builder()
            .key(ENV_TAG_KEY)
            .value(env)
            .build()
            .map_err(|err| PilotLightError::InvalidInput {
                field: "env".into(),
                reason: err.to_string(),
            })?;
        request = request
            .tags(tag)
            .tier(ParameterTier::Standard)
            .description("pilot-light run state (written by run-state)");
    }
    match request.send().await {
        Ok(_) => Ok(Put::Written),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_already_exists()) =>
        {
            Ok(Put::AlreadyExists)
        }
        Err(err) => Err(PilotLightError::from_sdk("PutParameter", &err)),
    }
}

/// `DeleteParameter`; false when it did not exist.
pub(crate) async fn delete_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<bool, PilotLightError> {
    match ssm.delete_parameter().name(name).send().await {
        Ok(_) => Ok(true),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            Ok(false)
        }
        Err(err) => Err(PilotLightError::from_sdk("DeleteParameter", &err)),
    }
}
