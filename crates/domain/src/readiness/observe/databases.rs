//! Observations of the databases readiness checks: replicas, their lag, the production shape's
//! orderability and parameter group family.

use crate::readiness::checks::{self, Check};
use crate::readiness::{Clients, MAX_PAGES};
use pilot_light_core::config::PilotLightConfig;
use pilot_light_core::db_instances::describe_instance;
use pilot_light_core::db_instances::{instance_status, replication_source};
use pilot_light_core::replica_lag::{newest_maximum, replica_lag_datapoints};
use pilot_light_core::PilotLightError;
use std::time::SystemTime;

pub(crate) async fn observe_replica(
    clients: &Clients,
    region: &str,
    instance_id: &str,
) -> Result<Option<checks::ReplicaObservation>, PilotLightError> {
    let rds = clients.rds.get(region)?;
    Ok(describe_instance(&rds, instance_id)
        .await?
        .map(|i| checks::ReplicaObservation {
            status: instance_status(&i),
            replication_source: replication_source(&i),
            encrypted: i.storage_encrypted().unwrap_or(false),
        }))
}

/// Every DB instance of `region`, with its tags (for the kept instances a failback renamed).
pub(crate) async fn list_instances(
    clients: &Clients,
    region: &str,
) -> Result<Vec<pilot_light_core::kept::ListedInstance>, PilotLightError> {
    let rds = clients.rds.get(region)?;
    pilot_light_core::db_instances::list_instances(&rds, region, MAX_PAGES).await
}

/// The newest `ReplicaLag` datapoint of the last ten minutes (Maximum per minute).
pub(crate) async fn latest_replica_lag(
    clients: &Clients,
    region: &str,
    instance_id: &str,
) -> Result<Option<f64>, PilotLightError> {
    let cloudwatch = clients.cloudwatch.get(region)?;
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let datapoints =
        replica_lag_datapoints(&cloudwatch, instance_id, now - 600.0, now + 60.0).await?;
    Ok(newest_maximum(&datapoints))
}

/// The production shape of `db` against its engine: read the replica's engine and version, ask RDS
/// whether the class is orderable (standby region), and find the parameter group in both regions.
pub(crate) async fn production_shape(
    clients: &Clients,
    config: &PilotLightConfig,
    db: &pilot_light_core::config::DatabaseConfig,
    shape: &pilot_light_core::config::ProductionShape,
) -> Check {
    let name = format!("production-shape:{}", db.name);
    let standby = &config.regions.standby;
    let observed = async {
        let rds = clients.rds.get(standby)?;
        let instance = describe_instance(&rds, &db.replica_instance_id)
            .await?
            .ok_or_else(|| PilotLightError::ResourceNotFound {
                kind: "DBInstance".into(),
                id: db.replica_instance_id.clone(),
                region: standby.to_string(),
            })?;
        let (engine, version) = (
            instance.engine().unwrap_or_default().to_string(),
            instance.engine_version().unwrap_or_default().to_string(),
        );
        let orderable = match &shape.instance_class {
            None => None,
            Some(class) => Some(orderable(&rds, &engine, &version, class).await?),
        };
        let mut groups = Vec::new();
        if let Some(group) = &shape.db_parameter_group_name {
            for region in [&config.regions.primary, standby] {
                groups.push((
                    region.to_string(),
                    parameter_group_family(&clients.rds.get(region)?, group).await?,
                ));
            }
        }
        Ok::<_, PilotLightError>((engine, version, orderable, groups))
    };
    match observed.await {
        Ok((engine, version, orderable, groups)) => {
            checks::check_production_shape(db, shape, &engine, &version, orderable, &groups)
        }
        Err(err) => Check::unknown(name, err),
    }
}

pub(crate) async fn orderable(
    rds: &aws_sdk_rds::Client,
    engine: &str,
    version: &str,
    class: &str,
) -> Result<checks::Orderable, PilotLightError> {
    let ask = |class: Option<&str>| {
        rds.describe_orderable_db_instance_options()
            .engine(engine)
            .engine_version(version)
            .set_db_instance_class(class.map(str::to_string))
            .max_records(20)
            .send()
    };
    let for_class = ask(Some(class))
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeOrderableDBInstanceOptions", &err))?;
    let options = for_class.orderable_db_instance_options();
    if !options.is_empty() {
        return Ok(checks::Orderable::Yes {
            multi_az_capable: options.iter().any(|o| o.multi_az_capable() == Some(true)),
        });
    }
    let any = ask(None)
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeOrderableDBInstanceOptions", &err))?;
    Ok(if any.orderable_db_instance_options().is_empty() {
        checks::Orderable::NothingListed
    } else {
        checks::Orderable::NotThisClass
    })
}

/// The family of a DB parameter group, `None` when it does not exist.
pub(crate) async fn parameter_group_family(
    rds: &aws_sdk_rds::Client,
    group: &str,
) -> Result<Option<String>, PilotLightError> {
    match rds
        .describe_db_parameter_groups()
        .db_parameter_group_name(group)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_parameter_groups().first().map(|g| {
            g.db_parameter_group_family()
                .unwrap_or_default()
                .to_string()
        })),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_db_parameter_group_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("DescribeDBParameterGroups", &err)),
    }
}
