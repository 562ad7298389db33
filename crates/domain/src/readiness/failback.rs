//! Readiness while the standby serves (after a failover): the checks of the way back.
//!
//! Each configured database gets two checks instead of `replica:` and `replica-lag:`:
//! - `serving:<db>`: the standby instance the failover promoted is there, standalone and available.
//!   It is production now: no check ever advises renaming, re-creating or replacing it.
//! - `failback-database:<db>`: what a failback of it needs: the primary region answers, and an
//!   encrypted serving instance has a KMS key configured for the primary region (the failback's
//!   cross-region snapshot copy, or reverse replica, is made with it).
//!
//! The compute, function and state-machine checks follow the same move (see `run_checks`).

use super::checks::{Check, ReplicaObservation, PASSING_DB_STATES};
use super::Clients;
use pilot_light_core::config::{DatabaseConfig, PilotLightConfig};

/// What the primary region said about the configured primary instance: `Ok(None)` when it answered
/// that there is none, `Err` with the error when it did not answer.
pub type OldPrimaryObservation = Result<Option<ReplicaObservation>, String>;

/// `serving:<db>`: the promoted standby instance is there, standalone and available.
pub fn check_serving_database(
    db: &DatabaseConfig,
    env: &str,
    standby_region: &str,
    observed: Option<&ReplicaObservation>,
) -> Check {
    let name = format!("serving:{}", db.name);
    let id = &db.replica_instance_id;
    let Some(observed) = observed else {
        return Check::fail(
            name,
            format!("`{id}` not found in {standby_region}, which the run state says serves"),
            format!(
                "find out what happened to it (the RDS console; the failover's report: pilot-light report --env {env}); fail back only once production's data is accounted for"
            ),
        );
    };
    if let Some(source) = &observed.replication_source {
        return Check::fail(
            name,
            format!(
                "`{id}` still replicates from {source}: the failover that made {standby_region} active did not promote it"
            ),
            format!(
                "complete the failover: pilot-light failover --env {env} (its finished steps are found done)"
            ),
        );
    }
    let encrypted = if observed.encrypted {
        ", encrypted"
    } else {
        ""
    };
    match observed.status.as_str() {
        "available" => Check::pass(
            name,
            format!("`{id}` serves in {standby_region}: standalone, available{encrypted}"),
        ),
        state if PASSING_DB_STATES.contains(&state) => Check::warn(
            name,
            format!("`{id}` (serving) is `{state}`"),
            "wait for RDS to finish; check again in a few minutes",
        ),
        state => Check::fail(
            name,
            format!("`{id}` (serving) is `{state}`"),
            "repair it in the RDS console: it is production now, and a failback starts from it",
        ),
    }
}

/// `failback-database:<db>`: the primary region answers, and the failback can encrypt what it
/// makes there. `serving` is the standby instance (`None`: not found; `serving:` fails then).
pub fn check_failback_database(
    db: &DatabaseConfig,
    primary_region: &str,
    serving: Option<&ReplicaObservation>,
    old_primary: &OldPrimaryObservation,
) -> Check {
    let name = format!("failback-database:{}", db.name);
    let primary_id = &db.primary_instance_id;
    let old_primary = match old_primary {
        Err(error) => {
            return Check::fail(
                name,
                format!("the primary region {primary_region} does not answer: {error}"),
                "fail back only when the primary region is healthy; check again then",
            )
        }
        Ok(old) => old.as_ref(),
    };
    if serving.is_some_and(|s| s.encrypted) && db.primary_kms_key_id.is_none() {
        return Check::fail(
            name,
            format!(
                "`{}` is encrypted and databases[{}].primaryKmsKeyId is not set: the failback's copy (or reverse replica) in {primary_region} needs a KMS key there",
                db.replica_instance_id, db.name
            ),
            format!(
                "create or choose a KMS key in {primary_region} and set databases[{}].primaryKmsKeyId",
                db.name
            ),
        );
    }
    let key = match &db.primary_kms_key_id {
        Some(key) if serving.is_some_and(|s| s.encrypted) => {
            format!("; encrypted there with {key}")
        }
        _ => String::new(),
    };
    match old_primary {
        Some(old) => Check::pass(
            name,
            format!(
                "{primary_region} answers; the old primary `{primary_id}` is there (`{}`): a failback renames it aside and keeps it{key}",
                old.status
            ),
        ),
        None => Check::pass(
            name,
            format!(
                "{primary_region} answers; no `{primary_id}` there: a failback makes it under that identifier{key}"
            ),
        ),
    }
}

/// Both database checks of every configured database.
pub async fn database_checks(clients: &Clients, config: &PilotLightConfig) -> Vec<Check> {
    let (primary, standby) = (&config.regions.primary, &config.regions.standby);
    let mut found = Vec::new();
    for db in &config.databases {
        let serving = match super::observe_replica(clients, standby, &db.replica_instance_id).await
        {
            Ok(observed) => observed,
            Err(err) => {
                found.push(Check::unknown(format!("serving:{}", db.name), err));
                continue;
            }
        };
        found.push(check_serving_database(
            db,
            &config.env,
            standby,
            serving.as_ref(),
        ));
        let old_primary = super::observe_replica(clients, primary, &db.primary_instance_id)
            .await
            .map_err(|err| err.to_string());
        found.push(check_failback_database(
            db,
            primary,
            serving.as_ref(),
            &old_primary,
        ));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::checks::CheckStatus;

    fn db(primary_key: Option<&str>) -> DatabaseConfig {
        serde_json::from_value(serde_json::json!({
            "name": "orders",
            "primaryInstanceId": "orders-db",
            "replicaInstanceId": "orders-db-replica",
            "primaryKmsKeyId": primary_key,
        }))
        .unwrap()
    }

    fn instance(status: &str, source: Option<&str>, encrypted: bool) -> ReplicaObservation {
        ReplicaObservation {
            status: status.into(),
            replication_source: source.map(str::to_string),
            encrypted,
        }
    }

    /// Words that would advise a change to the serving database.
    const ADVICE_ABOUT_THE_SERVING_DATABASE: &[&str] =
        &["rename", "re-create", "recreate", "delete"];

    #[test]
    fn serving_database_decisions() {
        let cases: Vec<(Option<ReplicaObservation>, CheckStatus, &str)> = vec![
            (None, CheckStatus::Fail, "not found"),
            (
                Some(instance(
                    "available",
                    Some("arn:aws:rds:us-east-1:1:db:orders-db"),
                    false,
                )),
                CheckStatus::Fail,
                "still replicates",
            ),
            (
                Some(instance("available", None, true)),
                CheckStatus::Pass,
                "standalone, available, encrypted",
            ),
            (
                Some(instance("modifying", None, false)),
                CheckStatus::Warn,
                "modifying",
            ),
            (
                Some(instance("storage-full", None, false)),
                CheckStatus::Fail,
                "storage-full",
            ),
        ];
        for (observed, status, evidence) in cases {
            let check = check_serving_database(&db(None), "prod", "us-west-2", observed.as_ref());
            assert_eq!(check.name, "serving:orders");
            assert_eq!(check.status, status, "{observed:?}: {check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
            let action = check.action.unwrap_or_default();
            for word in ADVICE_ABOUT_THE_SERVING_DATABASE {
                assert!(!action.contains(word), "{action}");
            }
        }
    }

    /// (primary key, serving, old primary, expected, evidence)
    type FailbackCase<'a> = (
        Option<&'a str>,
        Option<&'a ReplicaObservation>,
        OldPrimaryObservation,
        CheckStatus,
        &'a str,
    );

    #[test]
    fn failback_database_decisions() {
        let encrypted = instance("available", None, true);
        let plain = instance("available", None, false);
        let old = instance("stopped", None, true);
        let cases: Vec<FailbackCase> = vec![
            (
                None,
                Some(&plain),
                Ok(None),
                CheckStatus::Pass,
                "makes it under that identifier",
            ),
            (
                None,
                Some(&plain),
                Ok(Some(old.clone())),
                CheckStatus::Pass,
                "renames it aside and keeps it",
            ),
            (
                None,
                Some(&encrypted),
                Ok(None),
                CheckStatus::Fail,
                "primaryKmsKeyId is not set",
            ),
            (
                Some("k-east"),
                Some(&encrypted),
                Ok(None),
                CheckStatus::Pass,
                "encrypted there with k-east",
            ),
            (
                Some("k-east"),
                Some(&plain),
                Ok(None),
                CheckStatus::Pass,
                "that identifier",
            ),
            (
                Some("k-east"),
                Some(&encrypted),
                Err("connection refused".into()),
                CheckStatus::Fail,
                "does not answer",
            ),
            (None, None, Ok(None), CheckStatus::Pass, "answers"),
        ];
        for (key, serving, old_primary, status, evidence) in cases {
            let check = check_failback_database(&db(key), "us-east-1", serving, &old_primary);
            assert_eq!(check.name, "failback-database:orders");
            assert_eq!(
                check.status, status,
                "{key:?} {serving:?} {old_primary:?}: {check:?}"
            );
            assert!(check.evidence.contains(evidence), "{check:?}");
            let action = check.action.unwrap_or_default();
            for word in ADVICE_ABOUT_THE_SERVING_DATABASE {
                assert!(!action.contains(word), "{action}");
            }
        }
    }
}
