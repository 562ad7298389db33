//! Reading a region's parameters as the SSM sync sees them: every parameter under a path with its
//! value (decrypted, never logged: [`ParameterValue`] hides it) and the metadata only
//! `DescribeParameters` gives (description, tier, KMS key, last change). The sync and the readiness
//! `ssm-drift` check read through here, so they compare the same things.

use crate::ssm_plan::{ParameterCopy, ParameterKind, ParameterValue, Scope, Tier, TEXT_DATA_TYPE};
use crate::PilotLightError;
use aws_sdk_ssm::types::ParameterStringFilter;
use std::collections::BTreeMap;

/// `GetParametersByPath` answers at most 10 parameters a page.
pub const VALUES_PAGE_SIZE: i32 = 10;
/// `DescribeParameters` answers at most 50 a page.
pub const METADATA_PAGE_SIZE: i32 = 50;
/// A bound on pages of one path, so a service that always answers a next token cannot loop forever.
pub const MAX_PAGES: usize = 20_000;

/// The metadata `DescribeParameters` gives and `GetParametersByPath` does not.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub description: Option<String>,
    pub tier: Option<String>,
    pub key_id: Option<String>,
    /// `LastModifiedDate`, in seconds since the epoch.
    pub modified_epoch_seconds: Option<f64>,
}

/// A value as `GetParametersByPath` / `GetParameter` give it.
pub struct Valued {
    pub kind: ParameterKind,
    pub value: ParameterValue,
    pub data_type: String,
}

pub fn valued(parameter: &aws_sdk_ssm::types::Parameter) -> Option<(String, Valued)> {
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
                .unwrap_or(TEXT_DATA_TYPE)
                .to_string(),
        },
    ))
}

pub fn joined(
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
pub async fn read_scope(
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

pub async fn read_path(
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
        token = crate::step::next_page_token(page.next_token());
        if token.is_none() {
            break;
        }
    }
    let metadata = describe(ssm, path_filter(path)?).await?;
    Ok(joined(values, metadata))
}

/// The `DescribeParameters` filter of every parameter under `path`.
pub fn path_filter(path: &str) -> Result<ParameterStringFilter, PilotLightError> {
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

pub async fn describe(
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
        token = crate::step::next_page_token(page.next_token());
        if token.is_none() {
            break;
        }
    }
    Ok(metadata)
}
