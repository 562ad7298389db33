//! `createDatabase` and `databaseStatus`: the throw-away database of a drill (a new replica of the
//! primary, or a restore of the standby's newest snapshot), and when it is ready.

use crate::decide::{
    decide_database_ready, drill_database_id, drill_owner, newest_available_snapshot,
    SnapshotCandidate,
};
use crate::detail;
use crate::invalid;
use crate::Answer;
use crate::Clients;
use crate::DatabaseInput;
use crate::DRILL_OF_TAG_KEY;
use crate::DRILL_TAG_KEY;
use aws_sdk_rds::types::{DbInstance, Tag as RdsTag};
use pilot_light_core::config::{DatabaseConfig, DrillDatabaseSource};
use pilot_light_core::db_instances::{
    instance_id, instance_status, instance_tags, replication_source,
};
use pilot_light_core::{execution_token, PilotLightError, StepStatus, ENV_TAG_KEY};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What the drill needs to know about a DB instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbView {
    pub(crate) id: String,
    pub(crate) arn: String,
    pub(crate) status: String,
    pub(crate) source: Option<String>,
    pub(crate) class: Option<String>,
    pub(crate) encrypted: bool,
    pub(crate) subnet_group: Option<String>,
    pub(crate) security_groups: Vec<String>,
    pub(crate) tags: BTreeMap<String, String>,
}

impl DbView {
    pub(crate) fn of(instance: &DbInstance) -> Self {
        Self {
            id: instance_id(instance),
            arn: instance.db_instance_arn().unwrap_or_default().to_string(),
            status: instance_status(instance),
            source: replication_source(instance),
            class: instance.db_instance_class().map(str::to_string),
            encrypted: instance.storage_encrypted().unwrap_or(false),
            subnet_group: instance
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .filter(|n| !n.is_empty() && *n != "default")
                .map(str::to_string),
            security_groups: instance
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
                .collect(),
            tags: instance_tags(instance),
        }
    }
}

pub(crate) async fn describe_db(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> Result<Option<DbView>, PilotLightError> {
    Ok(pilot_light_core::db_instances::describe_instance(rds, id)
        .await?
        .as_ref()
        .map(DbView::of))
}

pub(crate) fn check_database_input(input: &DatabaseInput) -> Result<(), PilotLightError> {
    if input.primary_region == input.standby_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "primary and standby are both {}: a drill builds in the standby region only",
                input.standby_region
            ),
        });
    }
    pilot_light_core::config::check_db_instance_id(
        "database.replicaInstanceId",
        &input.database.replica_instance_id,
    )
    .map_err(|e| match e {
        PilotLightError::ConfigInvalid { field, reason } => invalid(&field, reason),
        other => other,
    })
}

/// A drill instance named like ours must be ours: this env, this execution.
pub(crate) fn check_own_database(
    view: &DbView,
    env: &str,
    execution_id: &str,
) -> Result<(), PilotLightError> {
    let ours = drill_owner(&view.tags) == Some(execution_id)
        && view.tags.get(ENV_TAG_KEY).map(String::as_str) == Some(env);
    if ours {
        Ok(())
    } else {
        Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "DB instance {} exists and is not this drill's (tags {:?}): left alone",
                view.id, view.tags
            ),
        })
    }
}

pub(crate) fn database_detail(
    input: &DatabaseInput,
    drill_id: &str,
    status: &str,
    extra: Value,
) -> serde_json::Map<String, Value> {
    let mut map = detail(&json!({
        "database": input.database.name,
        "source": input.source,
        "region": input.standby_region,
        "drillInstanceId": drill_id,
        "dbInstanceStatus": status,
        // The live database's entry, for the next steps (they derive the drill name from it).
        "databaseConfig": input.database,
        // What `promote-replica` takes to promote the drill database (never the live replica).
        "drillDatabase": DatabaseConfig {
            replica_instance_id: drill_id.to_string(),
            ..input.database.clone()
        },
    }));
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    map
}

pub(crate) async fn create_database(
    input: DatabaseInput,
    clients: &Clients,
) -> Result<Answer, PilotLightError> {
    check_database_input(&input)?;
    let rds = clients.rds.get(&input.standby_region)?;
    let token = execution_token(&input.execution_id);
    let drill_id = drill_database_id(&input.database.replica_instance_id, &token);

    if let Some(existing) = describe_db(&rds, &drill_id).await? {
        check_own_database(&existing, &input.env, &input.execution_id)?;
        let status = if existing.status == "available" {
            StepStatus::AlreadyDone
        } else {
            StepStatus::InProgress
        };
        let detail = database_detail(&input, &drill_id, &existing.status, json!({}));
        return Ok((status, detail, vec![existing.arn]));
    }

    let replica_id = input.database.replica_instance_id.as_str();
    let replica =
        describe_db(&rds, replica_id)
            .await?
            .ok_or_else(|| PilotLightError::ReplicaNotFound {
                instance_id: replica_id.to_string(),
                region: input.standby_region.clone(),
            })?;
    let kms_key = match (replica.encrypted, &input.database.standby_kms_key_id) {
        (false, _) => None,
        (true, Some(key)) => Some(key.clone()),
        (true, None) => {
            return Err(PilotLightError::config(
                "databases[].standbyKmsKeyId",
                format!("{replica_id} is encrypted: give the standby region's key"),
            ))
        }
    };
    let tags = vec![
        RdsTag::builder().key(ENV_TAG_KEY).value(&input.env).build(),
        RdsTag::builder()
            .key(DRILL_TAG_KEY)
            .value(&input.execution_id)
            .build(),
        RdsTag::builder()
            .key(DRILL_OF_TAG_KEY)
            .value(replica_id)
            .build(),
    ];
    let (created, extra) = match input.source {
        DrillDatabaseSource::Replica => {
            let source = replica.source.clone().ok_or_else(|| PilotLightError::InvalidState {
                resource: format!("replica {replica_id} in {}", input.standby_region),
                state: replica.status.clone(),
                reason: "it replicates from nothing (is the standby serving?): a replica drill copies the primary the replica follows".into(),
            })?;
            if !source.starts_with(&format!("arn:aws:rds:{}:", input.primary_region))
                && !source.contains(&format!(":rds:{}:", input.primary_region))
            {
                return Err(PilotLightError::UnsafeOperation {
                    reason: format!(
                        "{replica_id} replicates from {source}, not from the primary region {}",
                        input.primary_region
                    ),
                });
            }
            let created = rds
                .create_db_instance_read_replica()
                .db_instance_identifier(&drill_id)
                .source_db_instance_identifier(&source)
                .set_db_instance_class(replica.class.clone())
                .set_kms_key_id(kms_key)
                .set_db_subnet_group_name(replica.subnet_group.clone())
                .set_vpc_security_group_ids(
                    (!replica.security_groups.is_empty()).then(|| replica.security_groups.clone()),
                )
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("CreateDBInstanceReadReplica", &err))?;
            (
                created.db_instance().map(DbView::of),
                json!({"sourceArn": source}),
            )
        }
        DrillDatabaseSource::Snapshot => {
            let snapshot = newest_snapshot(&rds, replica_id, &input.standby_region).await?;
            let created = rds
                .restore_db_instance_from_db_snapshot()
                .db_instance_identifier(&drill_id)
                .db_snapshot_identifier(&snapshot)
                .set_db_instance_class(replica.class.clone())
                .set_db_subnet_group_name(replica.subnet_group.clone())
                .set_vpc_security_group_ids(
                    (!replica.security_groups.is_empty()).then(|| replica.security_groups.clone()),
                )
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|err| {
                    PilotLightError::from_sdk("RestoreDBInstanceFromDBSnapshot", &err)
                })?;
            (
                created.db_instance().map(DbView::of),
                json!({"snapshotId": snapshot}),
            )
        }
    };
    let status = created
        .as_ref()
        .map(|v| v.status.clone())
        .unwrap_or_else(|| "creating".into());
    let arn = created.map(|v| v.arn).unwrap_or_default();
    Ok((
        StepStatus::Started,
        database_detail(&input, &drill_id, &status, extra),
        vec![arn, replica.arn],
    ))
}

/// The id of the replica's newest `available` snapshot (manual or automated).
pub(crate) async fn newest_snapshot(
    rds: &aws_sdk_rds::Client,
    replica_id: &str,
    region: &str,
) -> Result<String, PilotLightError> {
    let mut candidates = Vec::new();
    let mut marker = None;
    loop {
        let page = rds
            .describe_db_snapshots()
            .db_instance_identifier(replica_id)
            .set_marker(marker)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeDBSnapshots", &err))?;
        for s in page.db_snapshots() {
            candidates.push(SnapshotCandidate {
                id: s.db_snapshot_identifier().unwrap_or_default().to_string(),
                status: s.status().unwrap_or_default().to_string(),
                created_millis: s
                    .snapshot_create_time()
                    .and_then(|t| t.to_millis().ok())
                    .unwrap_or(0),
            });
        }
        marker = page.marker().filter(|m| !m.is_empty()).map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    newest_available_snapshot(&candidates)
        .map(|s| s.id.clone())
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "DBSnapshot".into(),
            id: format!("an available snapshot of {replica_id}"),
            region: region.to_string(),
        })
}

pub(crate) async fn database_status(
    input: DatabaseInput,
    clients: &Clients,
) -> Result<Answer, PilotLightError> {
    check_database_input(&input)?;
    let rds = clients.rds.get(&input.standby_region)?;
    let drill_id = drill_database_id(
        &input.database.replica_instance_id,
        &execution_token(&input.execution_id),
    );
    let view =
        describe_db(&rds, &drill_id)
            .await?
            .ok_or_else(|| PilotLightError::ResourceNotFound {
                kind: "DBInstance".into(),
                id: drill_id.clone(),
                region: input.standby_region.clone(),
            })?;
    check_own_database(&view, &input.env, &input.execution_id)?;
    let ready =
        decide_database_ready(&view.status).map_err(|state| PilotLightError::InvalidState {
            resource: format!("drill database {drill_id}"),
            state,
            reason: "RDS will not make it available".into(),
        })?;
    let status = if ready {
        StepStatus::Done
    } else {
        StepStatus::InProgress
    };
    Ok((
        status,
        database_detail(&input, &drill_id, &view.status, json!({})),
        vec![view.arn],
    ))
}
