//! The Parameter Store reads of `sync-ssm`: the configuration, a path's parameters with their
//! values and metadata, what changed since a time, named parameters.

use crate::plan::{ParameterCopy, Scope};
use crate::scan::changed_since;
use crate::NAMES_PER_GET;
use crate::VALUES_PER_FILTER;
use aws_sdk_ssm::types::ParameterStringFilter;
pub(crate) use pilot_light_core::ssm_read::{
    describe, joined, path_filter, read_scope, valued, Valued,
};
use pilot_light_core::{EnvName, PilotLightConfig, PilotLightError};
use std::collections::BTreeMap;

pub(crate) async fn load_config(
    ssm: &aws_sdk_ssm::Client,
    env: &EnvName,
    region: &str,
) -> Result<PilotLightConfig, PilotLightError> {
    pilot_light_core::parameters::load_config(ssm, env, region).await
}

/// Incremental: the parameters under the scope's paths that the region changed at or after
/// `since_epoch_seconds` (by `DescribeParameters`' `LastModifiedDate`), with their values.
pub(crate) async fn read_changed(
    ssm: &aws_sdk_ssm::Client,
    scope: &Scope,
    since_epoch_seconds: f64,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let mut metadata = BTreeMap::new();
    for path in scope.paths() {
        metadata.extend(describe(ssm, path_filter(path)?).await?);
    }
    metadata.retain(|name, meta| {
        scope.contains(name) && changed_since(meta.modified_epoch_seconds, since_epoch_seconds)
    });
    let names: Vec<String> = metadata.keys().cloned().collect();
    let values = read_values(ssm, &names).await?;
    Ok(joined(values, metadata))
}

/// The named parameters of one region that exist, with their values and metadata.
pub(crate) async fn read_named(
    ssm: &aws_sdk_ssm::Client,
    names: &[String],
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let values = read_values(ssm, names).await?;
    let found: Vec<String> = values.keys().cloned().collect();
    let mut metadata = BTreeMap::new();
    for chunk in found.chunks(VALUES_PER_FILTER) {
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .set_values(Some(chunk.to_vec()))
            .build()
            .map_err(|e| PilotLightError::InvalidInput {
                field: "ssmSync.paths".into(),
                reason: e.to_string(),
            })?;
        metadata.extend(describe(ssm, filter).await?);
    }
    Ok(joined(values, metadata))
}

/// Values of the named parameters, 10 a `GetParameters` call (names that do not exist are left out).
pub(crate) async fn read_values(
    ssm: &aws_sdk_ssm::Client,
    names: &[String],
) -> Result<BTreeMap<String, Valued>, PilotLightError> {
    let mut values = BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_GET) {
        let out = ssm
            .get_parameters()
            .set_names(Some(chunk.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("GetParameters", &e))?;
        values.extend(out.parameters().iter().filter_map(valued));
    }
    Ok(values)
}

/// One parameter of one region (empty when it does not exist).
pub(crate) async fn read_one(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let found = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => out.parameter().and_then(valued),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            None
        }
        Err(err) => return Err(PilotLightError::from_sdk("GetParameter", &err)),
    };
    let Some((found_name, value)) = found else {
        return Ok(BTreeMap::new());
    };
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| PilotLightError::InvalidInput {
            field: "parameterName".into(),
            reason: e.to_string(),
        })?;
    let metadata = describe(ssm, filter).await?;
    Ok(joined([(found_name, value)].into(), metadata))
}
