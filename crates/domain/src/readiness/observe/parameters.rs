//! Observations of the configuration copies readiness checks: the SSM sync's pending writes and
//! the KMS keys the copies use.

use crate::readiness::checks::{self, Check};
use crate::readiness::{Clients, MAX_PAGES};
use pilot_light_core::config::PilotLightConfig;
use pilot_light_core::direction::copy_direction;
use pilot_light_core::ssm_plan::{
    plan_sync, ParameterCopy, ParameterKind, ParameterValue, Scope, Tier, TEXT_DATA_TYPE,
};
use pilot_light_core::PilotLightError;
use std::collections::BTreeMap;

/// The sync's plan from the active region to the other one: the names it would write.
pub(crate) async fn ssm_drift(
    clients: &Clients,
    config: &PilotLightConfig,
    active: Option<&str>,
) -> Check {
    let sync = &config.ssm_sync;
    if sync.paths.is_empty() {
        return checks::check_ssm_drift(&[], "", "", &[]);
    }
    let direction = match copy_direction(&config.regions, active) {
        Ok(d) => d,
        Err(err) => return Check::unknown("ssm-drift", err),
    };
    let target_key = match direction.target_side {
        pilot_light_core::config::Side::Standby => sync.standby_kms_key_id.as_deref(),
        pilot_light_core::config::Side::Primary => sync.primary_kms_key_id.as_deref(),
    };
    let scope = Scope::new(&sync.paths);
    let read = async {
        let source = read_scope(clients, &direction.source_region, &scope).await?;
        let target = read_scope(clients, &direction.target_region, &scope).await?;
        Ok::<_, PilotLightError>((source, target))
    };
    match read.await {
        Ok((source, target)) => {
            let plan = plan_sync(&source, &target, &scope, sync.mode, target_key);
            let pending: Vec<String> = plan.writes.iter().map(|w| w.name().to_string()).collect();
            checks::check_ssm_drift(
                scope.paths(),
                &direction.source_region,
                &direction.target_region,
                &pending,
            )
        }
        Err(err) => Check::unknown("ssm-drift", err),
    }
}

/// Every parameter under the scope's paths in `region`, as the sync reads them (values decrypted,
/// never logged: [`ParameterValue`] hides them).
pub(crate) async fn read_scope(
    clients: &Clients,
    region: &str,
    scope: &Scope,
) -> Result<BTreeMap<String, ParameterCopy>, PilotLightError> {
    use aws_sdk_ssm::types::ParameterStringFilter;
    let ssm = clients.ssm.get(region)?;
    let mut all = BTreeMap::new();
    for path in scope.paths() {
        let mut values: BTreeMap<String, (ParameterKind, ParameterValue, String)> = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = ssm
                .get_parameters_by_path()
                .path(path)
                .recursive(true)
                .with_decryption(true)
                .max_results(10)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| PilotLightError::from_sdk("GetParametersByPath", &e))?;
            for p in page.parameters() {
                let (Some(name), Some(kind)) = (
                    p.name(),
                    p.r#type().and_then(|t| ParameterKind::from_aws(t.as_str())),
                ) else {
                    continue;
                };
                let data_type = p
                    .data_type()
                    .filter(|d| !d.is_empty())
                    .unwrap_or(TEXT_DATA_TYPE)
                    .to_string();
                values.insert(
                    name.to_string(),
                    (
                        kind,
                        ParameterValue::new(p.value().unwrap_or_default()),
                        data_type,
                    ),
                );
            }
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let filter = ParameterStringFilter::builder()
            .key("Path")
            .option("Recursive")
            .values(path)
            .build()
            .map_err(|e| PilotLightError::config("ssmSync.paths", e.to_string()))?;
        let mut metadata = BTreeMap::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = ssm
                .describe_parameters()
                .parameter_filters(filter.clone())
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| PilotLightError::from_sdk("DescribeParameters", &e))?;
            for p in page.parameters() {
                if let Some(name) = p.name() {
                    metadata.insert(
                        name.to_string(),
                        (
                            p.description().map(str::to_string),
                            p.tier().map(|t| t.as_str().to_string()),
                            p.key_id().map(str::to_string),
                        ),
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
        for (name, (kind, value, data_type)) in values {
            let (description, tier, key_id) = metadata.remove(&name).unwrap_or_default();
            all.insert(
                name.clone(),
                ParameterCopy {
                    name,
                    kind,
                    value,
                    description: description.filter(|d| !d.is_empty()),
                    tier: Tier::from_aws(tier.as_deref()),
                    key_id,
                    data_type,
                },
            );
        }
    }
    all.retain(|name, _| scope.contains(name));
    Ok(all)
}

/// Every KMS key the configuration names, described in its region.
pub(crate) async fn kms_keys(clients: &Clients, config: &PilotLightConfig) -> Check {
    let (primary, standby) = (&config.regions.primary, &config.regions.standby);
    let mut wanted: Vec<(String, &str, &str)> = Vec::new();
    for (i, db) in config.databases.iter().enumerate() {
        if let Some(k) = &db.standby_kms_key_id {
            wanted.push((format!("databases[{i}].standbyKmsKeyId"), standby, k));
        }
        if let Some(k) = &db.primary_kms_key_id {
            wanted.push((format!("databases[{i}].primaryKmsKeyId"), primary, k));
        }
    }
    for (field, region, key) in [
        (
            "ssmSync.standbyKmsKeyId",
            standby,
            &config.ssm_sync.standby_kms_key_id,
        ),
        (
            "ssmSync.primaryKmsKeyId",
            primary,
            &config.ssm_sync.primary_kms_key_id,
        ),
        (
            "amiPolicy.standbyKmsKeyId",
            standby,
            &config.ami_policy.standby_kms_key_id,
        ),
        (
            "amiPolicy.primaryKmsKeyId",
            primary,
            &config.ami_policy.primary_kms_key_id,
        ),
    ] {
        if let Some(k) = key {
            wanted.push((field.to_string(), region, k));
        }
    }
    let mut observed = Vec::new();
    for (field, region, key) in wanted {
        let kms = match clients.kms.get(region) {
            Ok(k) => k,
            Err(err) => return Check::unknown("kms-keys", err),
        };
        let state = match kms.describe_key().key_id(key).send().await {
            Ok(out) => Some(
                out.key_metadata()
                    .and_then(|m| m.key_state())
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into()),
            ),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_not_found_exception()) =>
            {
                None
            }
            Err(err) => {
                return Check::unknown("kms-keys", PilotLightError::from_sdk("DescribeKey", &err))
            }
        };
        observed.push(checks::KeyObservation {
            field,
            region: region.to_string(),
            key_id: key.to_string(),
            state,
        });
    }
    checks::check_kms_keys(&observed)
}
