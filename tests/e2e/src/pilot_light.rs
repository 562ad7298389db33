//! A whole pilot light in one call: what a team has before a disaster, seeded in the emulator.
//! Primary region: databases, compute groups at their production size, consumers enabled. Standby
//! region: a cross-region read replica per database, launch templates and groups at 0, consumers
//! switched off, a newer AMI copied over (as the AMI pipeline would), DNS pointing at the primary, the
//! configuration document, and the primary's capacity recorded in the run state.

use serde_json::{json, Value};
use std::collections::BTreeMap;

use crate::application::{ApplicationTarget, LogicalDatabase};
use crate::compute::SeededGroup;
use crate::dns::SeededZone;
use crate::functions::SeededFunction;
use crate::notify::NotificationTopic;
use crate::world::SeededDatabase;
use crate::{World, PRIMARY_REGION, STANDBY_REGION};
use pilot_light_core::config::state_parameter_name;

/// What [`World::seed_pilot_light`] made.
pub struct SeededPilotLight {
    pub databases: Vec<SeededDatabase>,
    pub groups: Vec<SeededGroup>,
    /// Per group: the newest standby image (the one failover must put in the launch template).
    pub newest_standby_images: BTreeMap<String, String>,
    /// The standby consumers (switched off until failover).
    pub standby_functions: Vec<SeededFunction>,
    /// The primary consumers (running; graceful failover switches them off).
    pub primary_functions: Vec<SeededFunction>,
    pub zone: SeededZone,
    /// `(record name, primary value, standby value)` of each CNAME record.
    pub records: Vec<(String, String, String)>,
    pub topic: NotificationTopic,
    /// The primary groups' desired capacity, as the capacity schedule recorded it.
    pub recorded_capacity: BTreeMap<String, i64>,
    /// The configuration document written to SSM.
    pub config: Value,
}

impl SeededPilotLight {
    /// What the team's application writes through: the first compute group's DNS record and
    /// groups, and every database. `None` without a compute group (no front door).
    pub fn application_target(&self) -> Option<ApplicationTarget> {
        let group = self.groups.first()?;
        let (record_name, primary_value, standby_value) = self.records.first()?.clone();
        Some(ApplicationTarget {
            hosted_zone_id: self.zone.id.clone(),
            record_name,
            primary_value,
            standby_value,
            primary_group: group.primary.auto_scaling_group_name.clone(),
            standby_group: group.standby.auto_scaling_group_name.clone(),
            databases: self
                .databases
                .iter()
                .map(|db| LogicalDatabase {
                    name: db.name.clone(),
                    primary_id: db.primary_id.clone(),
                    replica_id: db.replica_id.clone(),
                })
                .collect(),
        })
    }

    /// Placeholder values for `deploy_with`: the topic reports go to.
    pub fn substitutions(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(
            "NotificationTopicArn".to_string(),
            self.topic.topic_arn.clone(),
        )])
    }
}

impl World {
    /// What EventBridge does when a function's `Schedule` event fires: invokes the deployed function
    /// (under its role) with the event's `Input` from `template.yaml`. Returns its answer; a function
    /// error fails the test.
    pub async fn fire_schedule(&self, function: &str, event: &str) -> Value {
        let scheduled = crate::template::scheduled_event(function, event, &self.env)
            .unwrap_or_else(|e| panic!("template.yaml: {e}"));
        self.invoke_function(&scheduled.crate_name, &scheduled.input)
            .await
    }

    /// Invokes a handler (by its crate name, as the stack serves it) with `payload`, as an operator's
    /// `aws lambda invoke` would; panics on a function error. The answer.
    pub async fn invoke_function(&self, crate_name: &str, payload: &Value) -> Value {
        let answer = aws_sdk_lambda::Client::new(&self.config(STANDBY_REGION))
            .invoke()
            .function_name(crate_name)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoke {crate_name}: {e:?}"));
        let answer_json: Value =
            serde_json::from_slice(answer.payload().map(|b| b.as_ref()).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{crate_name}: the answer is not JSON: {e}"));
        assert_eq!(
            answer.function_error(),
            None,
            "{crate_name} failed: {answer_json}"
        );
        answer_json
    }

    /// Seeds a pilot light with these databases and compute groups (names), one consumer and one
    /// DNS record per compute group, and polls of 1 s in the configuration.
    pub async fn seed_pilot_light(&self, databases: &[&str], groups: &[&str]) -> SeededPilotLight {
        let mut seeded_dbs = Vec::new();
        for name in databases {
            seeded_dbs.push(self.seed_database(name).await);
        }
        let mut seeded_groups = Vec::new();
        let mut newest = BTreeMap::new();
        for name in groups {
            let group = self.seed_compute_group(name).await;
            // The AMI pipeline copied a newer image to the standby since the template was made.
            let image = self
                .create_group_image(&group, STANDBY_REGION, "copy-2")
                .await;
            newest.insert(name.to_string(), image);
            seeded_groups.push(group);
        }
        let mut standby_functions = Vec::new();
        let mut primary_functions = Vec::new();
        let mut function_configs = Vec::new();
        for name in groups {
            let standby = self
                .seed_dr_function(STANDBY_REGION, &format!("{name}-consumer"))
                .await;
            let primary = self
                .seed_dr_function(PRIMARY_REGION, &format!("{name}-consumer"))
                .await;
            self.enable_function(&primary).await;
            let mut entry =
                self.function_config_entry(&format!("{name}-consumer"), &standby, Some(5));
            entry["primary"] = json!({
                "functionName": primary.function_name,
                "eventSourceMappingUuids": [primary.mapping_uuid],
                "eventBridgeRules": [primary.rule_name],
                "reservedConcurrency": 5,
            });
            function_configs.push(entry);
            standby_functions.push(standby);
            primary_functions.push(primary);
        }
        let zone = self.seed_hosted_zone().await;
        let mut records = Vec::new();
        let mut record_configs = Vec::new();
        for name in groups {
            let record = zone.record_name(name);
            let (primary, standby) = (
                format!("{name}.{PRIMARY_REGION}.lb.example.com"),
                format!("{name}.{STANDBY_REGION}.lb.example.com"),
            );
            self.seed_cname(&zone, &record, &primary, 60, None).await;
            record_configs.push(self.cname_record_config(&zone, &record, &primary, &standby, None));
            records.push((record, primary, standby));
        }
        let topic = self.seed_notification_topic(STANDBY_REGION).await;
        self.delete_run_state_at_teardown();

        let db_refs: Vec<&SeededDatabase> = seeded_dbs.iter().collect();
        let mut config = self.config_document(&db_refs);
        config["computeGroups"] = Value::Array(seeded_groups.iter().map(|g| g.config()).collect());
        config["functions"] = Value::Array(function_configs);
        config["dnsRecords"] = Value::Array(record_configs);
        config["poll"] = json!({
            "promotion": {"intervalSeconds": 1, "maxAttempts": 60},
            "compute": {"intervalSeconds": 1, "maxAttempts": 60},
            "snapshot": {"intervalSeconds": 1, "maxAttempts": 60},
        });
        self.write_config(&config).await;

        // The primary is active, and the stack's capacity schedule has recorded its groups' sizes.
        let state = json!({"activeRegion": PRIMARY_REGION});
        self.put_parameter(
            STANDBY_REGION,
            &state_parameter_name(&self.env),
            &state.to_string(),
        )
        .await;
        let recorded = self
            .fire_schedule("RunStateFunction", "CapacityRecord")
            .await;
        let recorded_capacity: BTreeMap<String, i64> = recorded["record"]["groups"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, group)| Some((name.clone(), group["desired"].as_i64()?)))
            .collect();
        assert_eq!(
            recorded_capacity.len(),
            groups.len(),
            "the capacity record has every primary group: {recorded}"
        );

        let pilot = SeededPilotLight {
            databases: seeded_dbs,
            groups: seeded_groups,
            newest_standby_images: newest,
            standby_functions,
            primary_functions,
            zone,
            records,
            topic,
            recorded_capacity,
            config,
        };
        if let Some(target) = pilot.application_target() {
            self.start_application(target);
        }
        pilot
    }

    /// Turns a seeded consumer on (mapping enabled, concurrency reservation removed, rule enabled),
    /// as it runs in the active region.
    pub async fn enable_function(&self, function: &SeededFunction) {
        let config = self.config(&function.region);
        let lambda = aws_sdk_lambda::Client::new(&config);
        lambda
            .update_event_source_mapping()
            .uuid(&function.mapping_uuid)
            .enabled(true)
            .send()
            .await
            .expect("enable mapping");
        lambda
            .put_function_concurrency()
            .function_name(&function.function_name)
            .reserved_concurrent_executions(5)
            .send()
            .await
            .expect("reserve concurrency");
        aws_sdk_eventbridge::Client::new(&config)
            .enable_rule()
            .name(&function.rule_name)
            .send()
            .await
            .expect("enable rule");
    }
}

/// A seeded pilot light (one database, one compute group) with the failover and failback state
/// machines deployed and every replica's `ReplicaLag` at 0: ready for a graceful failover.
pub struct FailoverAndFailback {
    pub world: World,
    pub pilot: SeededPilotLight,
    pub failover: String,
    pub failback: String,
}

impl FailoverAndFailback {
    pub async fn seed(label: &str) -> Self {
        let world = World::new(label).await;
        let pilot = world.seed_pilot_light(&["orders"], &["web"]).await;
        let failover = world.deploy_with("failover", &pilot.substitutions()).await;
        let failback = world.deploy_with("failback", &pilot.substitutions()).await;
        for db in &pilot.databases {
            world
                .replica_caught_up(STANDBY_REGION, &db.replica_id)
                .await;
        }
        Self {
            world,
            pilot,
            failover,
            failback,
        }
    }
}

impl World {
    /// Waits (bounded) until the emulator's data plane has published a `ReplicaLag` datapoint of at
    /// most a second for the replica `instance_id` (it publishes one a second from its model, as
    /// RDS publishes one a minute): the replica replicates and keeps up. While the application
    /// writes, the lag is a fraction of a second, never exactly 0: a graceful failover's lag gate
    /// waits for 0 after fencing the writers. Returns at once when `instance_id` is not a replica
    /// (nothing to wait for).
    pub async fn replica_caught_up(&self, region: &str, instance_id: &str) {
        let began = std::time::Instant::now();
        loop {
            let replicates = self
                .describe_db(region, instance_id)
                .await
                .is_some_and(|i| i.read_replica_source_db_instance_identifier().is_some());
            if !replicates {
                return;
            }
            if self
                .newest_replica_lag(region, instance_id)
                .await
                .is_some_and(|lag| lag <= 1.0)
            {
                return;
            }
            assert!(
                began.elapsed() < std::time::Duration::from_secs(30),
                "{instance_id} ({region}) never reported ReplicaLag 0"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// The newest `ReplicaLag` datapoint of `instance_id` in the last ten minutes.
    pub async fn newest_replica_lag(&self, region: &str, instance_id: &str) -> Option<f64> {
        use aws_sdk_cloudwatch::primitives::DateTime;
        use aws_sdk_cloudwatch::types::{Dimension, Statistic};
        let now = std::time::SystemTime::now();
        let out = aws_sdk_cloudwatch::Client::new(&self.config(region))
            .get_metric_statistics()
            .namespace("AWS/RDS")
            .metric_name("ReplicaLag")
            .dimensions(
                Dimension::builder()
                    .name("DBInstanceIdentifier")
                    .value(instance_id)
                    .build(),
            )
            .start_time(DateTime::from(now - std::time::Duration::from_secs(600)))
            .end_time(DateTime::from(now + std::time::Duration::from_secs(60)))
            .period(60)
            .statistics(Statistic::Maximum)
            .send()
            .await
            .expect("GetMetricStatistics");
        out.datapoints()
            .iter()
            .filter_map(|d| Some((d.timestamp()?.as_secs_f64(), d.maximum()?)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, lag)| lag)
    }

    /// A `ReplicaLag` datapoint of `seconds` for `instance_id`, timestamped now.
    pub async fn report_replica_lag(&self, region: &str, instance_id: &str, seconds: f64) {
        use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
        aws_sdk_cloudwatch::Client::new(&self.config(region))
            .put_metric_data()
            .namespace("AWS/RDS")
            .metric_data(
                MetricDatum::builder()
                    .metric_name("ReplicaLag")
                    .dimensions(
                        Dimension::builder()
                            .name("DBInstanceIdentifier")
                            .value(instance_id)
                            .build(),
                    )
                    .value(seconds)
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                        std::time::SystemTime::now(),
                    ))
                    .build(),
            )
            .send()
            .await
            .expect("put ReplicaLag");
    }
}
