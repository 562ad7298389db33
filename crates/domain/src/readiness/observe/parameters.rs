//! Observations of the configuration copies readiness checks: the SSM sync's pending writes and
//! the KMS keys the copies use.

use crate::readiness::checks::{self, Check};
use crate::readiness::Clients;
use pilot_light_core::config::PilotLightConfig;
use pilot_light_core::direction::copy_direction;
use pilot_light_core::ssm_plan::{plan_sync, ParameterCopy, Scope};
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
    let ssm = clients.ssm.get(region)?;
    pilot_light_core::ssm_read::read_scope(&ssm, scope).await
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
