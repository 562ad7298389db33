//! The Parameter Store reads of `sync-ssm`: the configuration, a path's parameters with their
//! values and metadata, what changed since a time, named parameters.

use crate::plan;
use crate::plan::{ParameterCopy, ParameterKind, ParameterValue, Scope, Tier};
use crate::scan::changed_since;
use crate::MAX_PAGES;
use crate::METADATA_PAGE_SIZE;
use crate::NAMES_PER_GET;
use crate::VALUES_PAGE_SIZE;
use crate::VALUES_PER_FILTER;
use aws_sdk_ssm::types::ParameterStringFilter;
use pilot_light_core::{PilotLightConfig, PilotLightError};
use std::collections::BTreeMap;

pub(crate) async fn load_config(
    ssm: &aws_sdk_ssm::Client,
    env: &str,
    region: &str,
) -> Result<PilotLightConfig, PilotLightError> {
    pilot_light_core::parameters::load_config(ssm, env, region).await
}

/// The metadata `DescribeParameters` gives and `GetParametersByPath` does not.
#[derive(Debug, Clone, Default)]
pub(crate) struct Metadata {
    pub(crate) description: Option<String>,
    pub(crate) tier: Option<String>,
    pub(crate) key_id: Option<String>,
    /// `LastModifiedDate`, in seconds since the epoch.
    pub(crate) modified_epoch_seconds: Option<f64>,
}

/// A value as `GetParametersByPath` / `GetParameter` give it.
pub(crate) struct Valued {
    pub(crate) kind: ParameterKind,
    pub(crate) value: ParameterValue,
    pub(crate) data_type: String,
}

pub(crate) fn valued(parameter: &aws_sdk_ssm::types::Parameter) -> Option<(String, Valued)> {
    let name = parameter.name()?.to_string();
    let kind = ParameterKind::from_aws(parameter.r#type()?.as_str())?;
    Some((
        name,
        Valued {
            kind,
            value: ParameterValue::new(parameter.value().unwrap_or_default()),
            data_type: parameter
                .data_type()
                .filter(|d| !d.is_empty())
                .unwrap_or(plan::TEXT_DATA_TYPE)
                .to_string(),
        },
    ))
}

pub(crate) fn joined(
    values: BTreeMap<String, Valued>,
    mut metadata: BTreeMap<String, Metadata>,
) -> BTreeMap<String, ParameterCopy> {
    values
        .into_iter()
        .map(|(name, v)| {
            let meta = metadata.remove(&name).unwrap_or_default();
            let copy = ParameterCopy {
                name: name.clone(),
                kind: v.kind,
                value: v.value,
                description: meta.description.filter(|d| !d.is_empty()),
                tier: Tier::from_aws(meta.tier.as_deref()),
                key_id: meta.key_id,
                data_type: v.data_type,
            };
            (name, copy)
        })
        .collect()
}

/// Every parameter of one region under the scope's paths (pilot-light's own left out).
pub(crate) async fn read_scope(
    ssm: &aws_sdk_ssm::Client,
    scope: &Scope,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let mut all = BTreeMap::new();
    for path in scope.paths() {
        all.extend(read_path(ssm, path).await?);
    }
    all.retain(|name, _| scope.contains(name));
    Ok(all)
}

pub(crate) async fn read_path(
    ssm: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    let mut values = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .with_decryption(true)
            .max_results(VALUES_PAGE_SIZE)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("GetParametersByPath", &e))?;
        values.extend(page.parameters().iter().filter_map(valued));
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let metadata = describe(ssm, path_filter(path)?).await?;
    Ok(joined(values, metadata))
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

/// The `DescribeParameters` filter of every parameter under `path`.
pub(crate) fn path_filter(path: &str) -> Result<ParameterStringFilter, PilotLightError> {
    ParameterStringFilter::builder()
        .key("Path")
        .option("Recursive")
        .values(path)
        .build()
        .map_err(|e| PilotLightError::InvalidInput {
            field: "ssmSync.paths".into(),
            reason: e.to_string(),
        })
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

pub(crate) async fn describe(
    ssm: &aws_sdk_ssm::Client,
    filter: ParameterStringFilter,
) -> Result<BTreeMap<String, Metadata>, PilotLightError> {
    let mut metadata = BTreeMap::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ssm
            .describe_parameters()
            .parameter_filters(filter.clone())
            .max_results(METADATA_PAGE_SIZE)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("DescribeParameters", &e))?;
        for p in page.parameters() {
            if let Some(name) = p.name() {
                metadata.insert(
                    name.to_string(),
                    Metadata {
                        description: p.description().map(str::to_string),
                        tier: p.tier().map(|t| t.as_str().to_string()),
                        key_id: p.key_id().map(str::to_string),
                        modified_epoch_seconds: p.last_modified_date().map(|d| d.as_secs_f64()),
                    },
                );
            }
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(metadata)
}
