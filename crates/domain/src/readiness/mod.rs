//! Readiness: whether the next move (failover while the primary serves, failback while the standby
//! does) would work right now. The scheduled `readiness` function and `pilot-light status` run the
//! same code: [`run_checks`] observes (read-only describe calls) and [`checks`] decides, one
//! [`Check`] per resource: pass, warn or fail, the evidence and what to do.

pub mod capacity_record;
pub mod checks;
pub mod failback;
pub mod run_lock;

use aws_config::SdkConfig;
use pilot_light_core::capacity_record::{capacity_parameter_name, CapacityRecord};
use pilot_light_core::config::{
    config_parameter_name, lock_parameter_name, state_parameter_name, PilotLightConfig,
};
use pilot_light_core::direction::{active_region_in_state, copy_direction};
use pilot_light_core::images::find_own_tagged_images;
use pilot_light_core::lock::held_lock;
use pilot_light_core::ssm_plan::{
    plan_sync, ParameterCopy, ParameterKind, ParameterValue, Scope, Tier, TEXT_DATA_TYPE,
};
use pilot_light_core::{PilotLightError, Regional, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::SystemTime;

pub use checks::{Check, CheckStatus, NextMove};

/// The CloudWatch namespace of the EMF metrics.
pub const METRIC_NAMESPACE: &str = "PilotLight";

/// At most this many pages of one paginated call are read.
const MAX_PAGES: usize = 50;

/// The failover state machine's name in the stack (`template.yaml`).
pub fn failover_state_machine_name(env: &str) -> String {
    format!("pilot-light-{env}-failover")
}

/// The failback state machine's name in the stack (`template.yaml`).
pub fn failback_state_machine_name(env: &str) -> String {
    format!("pilot-light-{env}-failback")
}

/// Where the scheduled check keeps its last overall result.
pub fn readiness_parameter_name(env: &str) -> String {
    format!("/pilot-light/{env}/readiness")
}

/// The clients the checks use, one per region on demand.
pub struct Clients {
    /// The region of the stack (the standby), where the configuration is.
    pub home_region: Option<String>,
    /// The stack's topic (`NOTIFICATION_TOPIC_ARN`), for the handler's notifications.
    pub topic_arn: Option<String>,
    /// The function's environment (`PILOT_LIGHT_ENV`), when the event names none.
    pub default_env: Option<String>,
    pub rds: Regional<aws_sdk_rds::Client>,
    pub cloudwatch: Regional<aws_sdk_cloudwatch::Client>,
    pub ec2: Regional<aws_sdk_ec2::Client>,
    pub autoscaling: Regional<aws_sdk_autoscaling::Client>,
    pub ssm: Regional<aws_sdk_ssm::Client>,
    pub kms: Regional<aws_sdk_kms::Client>,
    pub lambda: Regional<aws_sdk_lambda::Client>,
    pub eventbridge: Regional<aws_sdk_eventbridge::Client>,
    pub route53: Regional<aws_sdk_route53::Client>,
    pub sfn: Regional<aws_sdk_sfn::Client>,
    pub sns: Regional<aws_sdk_sns::Client>,
}

impl Clients {
    /// Clients from the Lambda environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        let mut clients = Self::from_config(base);
        clients.topic_arn = std::env::var("NOTIFICATION_TOPIC_ARN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        clients.default_env = std::env::var("PILOT_LIGHT_ENV")
            .ok()
            .filter(|e| !e.trim().is_empty());
        clients
    }

    /// Clients made from one SDK configuration (the CLI's, or a test's).
    pub fn from_config(base: SdkConfig) -> Self {
        Self {
            home_region: base.region().map(|r| r.to_string()),
            topic_arn: None,
            default_env: None,
            rds: Regional::new(base.clone(), aws_sdk_rds::Client::new),
            cloudwatch: Regional::new(base.clone(), aws_sdk_cloudwatch::Client::new),
            ec2: Regional::new(base.clone(), aws_sdk_ec2::Client::new),
            autoscaling: Regional::new(base.clone(), aws_sdk_autoscaling::Client::new),
            ssm: Regional::new(base.clone(), aws_sdk_ssm::Client::new),
            kms: Regional::new(base.clone(), aws_sdk_kms::Client::new),
            lambda: Regional::new(base.clone(), aws_sdk_lambda::Client::new),
            eventbridge: Regional::new(base.clone(), aws_sdk_eventbridge::Client::new),
            route53: Regional::new(base.clone(), aws_sdk_route53::Client::new),
            sfn: Regional::new(base.clone(), aws_sdk_sfn::Client::new),
            sns: Regional::new(base, aws_sdk_sns::Client::new),
        }
    }
}

/// What the checks found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessReport {
    pub env: String,
    pub primary_region: String,
    pub standby_region: String,
    /// The run state's active region (`None`: never recorded; the primary serves).
    pub active_region: Option<String>,
    /// What the checks prepare for: `failover` while the primary serves, `failback` while the
    /// standby does.
    pub next_move: NextMove,
    pub overall: CheckStatus,
    pub checks: Vec<Check>,
    pub checked_at: Timestamp,
}

impl ReadinessReport {
    /// The report of `checks`, made now; the overall result is the worst check's.
    pub fn new(
        env: &str,
        regions: (&str, &str),
        active_region: Option<String>,
        next_move: NextMove,
        checks: Vec<Check>,
    ) -> Self {
        let (primary, standby) = regions;
        Self {
            env: env.to_string(),
            primary_region: primary.to_string(),
            standby_region: standby.to_string(),
            active_region,
            next_move,
            overall: checks::overall(&checks),
            checks,
            checked_at: Timestamp::now(),
        }
    }

    /// The names of the checks that failed.
    pub fn failing(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| c.name.as_str())
            .collect()
    }

    pub fn count(&self, status: CheckStatus) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

/// The report as text: one line per check (result, name, evidence) and, under a warning or a
/// failure, what to do; then the summary.
pub fn render_text(report: &ReadinessReport) -> String {
    let width = report
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = format!(
        "pilot-light {}: primary {}, standby {}, active {}\n\n",
        report.env,
        report.primary_region,
        report.standby_region,
        report
            .active_region
            .as_deref()
            .unwrap_or(&report.primary_region)
    );
    for check in &report.checks {
        text.push_str(&format!(
            "{:<4}  {:<width$}  {}\n",
            check.status.name().to_uppercase(),
            check.name,
            check.evidence
        ));
        if let Some(action) = &check.action {
            text.push_str(&format!("      {:<width$}  → {action}\n", ""));
        }
    }
    let ready = match (report.overall, report.next_move) {
        (CheckStatus::Pass, NextMove::Failover) => "READY",
        (CheckStatus::Warn, NextMove::Failover) => "READY (with warnings)",
        (CheckStatus::Fail, NextMove::Failover) => "NOT READY",
        (CheckStatus::Pass, NextMove::Failback) => "READY TO FAIL BACK",
        (CheckStatus::Warn, NextMove::Failback) => "READY TO FAIL BACK (with warnings)",
        (CheckStatus::Fail, NextMove::Failback) => "NOT READY TO FAIL BACK",
    };
    text.push_str(&format!(
        "\n{ready}: {} passed, {} warned, {} failed\n",
        report.count(CheckStatus::Pass),
        report.count(CheckStatus::Warn),
        report.count(CheckStatus::Fail),
    ));
    text
}

// ------------------------------------------------------------------------------------------------
// Observing

pub use pilot_light_core::parameters::get_parameter_value as get_parameter;

/// Loads and validates `/pilot-light/<env>/config` from `region` (the standby, where the stack is).
/// A missing document is `ResourceNotFound` (kind `Parameter`); a document of another env, or whose
/// standby is another region, is `ConfigInvalid`.
pub async fn load_config(
    clients: &Clients,
    env: &str,
    region: &str,
) -> Result<PilotLightConfig, PilotLightError> {
    let name = config_parameter_name(env);
    let ssm = clients.ssm.get(region)?;
    let text =
        get_parameter(&ssm, &name)
            .await?
            .ok_or_else(|| PilotLightError::ResourceNotFound {
                kind: "Parameter".into(),
                id: name.clone(),
                region: region.to_string(),
            })?;
    let config = PilotLightConfig::from_json_str(&text)?;
    if config.env != env {
        return Err(PilotLightError::config(
            "env",
            format!(
                "the document at {name} is for `{}`, not `{env}`",
                config.env
            ),
        ));
    }
    if config.regions.standby != region {
        return Err(PilotLightError::config(
            "regions.standby",
            format!(
                "the document in {region} names {} as the standby: use the standby region",
                config.regions.standby
            ),
        ));
    }
    Ok(config)
}

/// The run state's active region and recorded primary capacities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunState {
    pub active_region: Option<String>,
    /// When the active region became active (`since`).
    pub since: Option<String>,
    /// The execution that made it active (`executionId`).
    pub made_active_by: Option<String>,
    /// What a failover asks for: the capacity record's desired capacities, else the run state's
    /// `primaryCapacity` (run-state's rule).
    pub primary_capacity: BTreeMap<String, u32>,
    /// `/pilot-light/<env>/capacity` (`None`: none, or unreadable).
    pub capacity_record: Option<CapacityRecord>,
}

/// Reads `/pilot-light/<env>/state` from `region`.
pub async fn load_run_state(
    clients: &Clients,
    env: &str,
    region: &str,
) -> Result<RunState, PilotLightError> {
    let ssm = clients.ssm.get(region)?;
    let text = get_parameter(&ssm, &state_parameter_name(env)).await?;
    let active_region = active_region_in_state(text.as_deref())?;
    let document = text
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok());
    let field = |name: &str| {
        document
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (since, made_active_by) = (field("since"), field("executionId"));
    let mut primary_capacity = document
        .as_ref()
        .and_then(|v| v.get("primaryCapacity").cloned())
        .and_then(|v| serde_json::from_value::<BTreeMap<String, u32>>(v).ok())
        .unwrap_or_default();
    let capacity_record = get_parameter(&ssm, &capacity_parameter_name(env))
        .await?
        .and_then(|t| serde_json::from_str::<CapacityRecord>(&t).ok());
    if let Some(record) = &capacity_record {
        primary_capacity.extend(record.desired());
    }
    Ok(RunState {
        active_region,
        since,
        made_active_by,
        primary_capacity,
        capacity_record,
    })
}

/// Runs every check of `env`, whose stack (and configuration) is in `region`. Only loading the
/// configuration and the run state can fail the whole run; a check that cannot be made fails alone.
pub async fn run_checks(
    clients: &Clients,
    env: &str,
    region: &str,
) -> Result<ReadinessReport, PilotLightError> {
    let config = load_config(clients, env, region).await?;
    let state = load_run_state(clients, env, region).await?;
    let primary = config.regions.primary.clone();
    let standby = config.regions.standby.clone();
    let limits = config.readiness;
    let standby_serves = state.active_region.as_deref() == Some(standby.as_str());
    let next = NextMove::from_standby_serving(standby_serves);
    let mut found = vec![checks::check_active_region(
        env,
        &primary,
        &standby,
        state.active_region.as_deref(),
        state.since.as_deref(),
        state.made_active_by.as_deref(),
    )];

    if let Some(check) = run_lock_check(clients, env, region).await {
        found.push(check);
    }

    if standby_serves {
        found.extend(failback::database_checks(clients, &config).await);
    } else {
        for db in &config.databases {
            match observe_replica(clients, &standby, &db.replica_instance_id).await {
                Ok(observed) => found.push(checks::check_replica(
                    db,
                    &primary,
                    &standby,
                    observed.as_ref(),
                )),
                Err(err) => found.push(Check::unknown(format!("replica:{}", db.name), err)),
            }
            match latest_replica_lag(clients, &standby, &db.replica_instance_id).await {
                Ok(lag) => found.push(checks::check_replica_lag(
                    db,
                    lag,
                    limits.max_replica_lag_seconds,
                )),
                Err(err) => found.push(Check::unknown(format!("replica-lag:{}", db.name), err)),
            }
        }
    }

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    for region in [&primary, &standby] {
        match list_instances(clients, region).await {
            Ok(listed) => found.extend(checks::check_kept_instances(
                &listed,
                env,
                &primary,
                &standby,
                &config.databases,
                now,
            )),
            Err(err) => found.push(checks::check_kept_listing_failed(region, err)),
        }
    }
    // The side the next move brings up: the standby's for a failover, the primary's for a failback.
    let target_region = match next {
        NextMove::Failover => &standby,
        NextMove::Failback => &primary,
    };
    for group in &config.compute_groups {
        let side = next.target_side().of_group(group);
        let images = match clients.ec2.get(target_region) {
            Ok(ec2) => find_own_tagged_images(&ec2, &group.ami_tag).await,
            Err(err) => Err(err),
        };
        match images {
            Ok(images) => found.push(checks::check_ami_age(
                group,
                target_region,
                &images,
                now,
                limits.max_ami_age_seconds,
            )),
            Err(err) => found.push(Check::unknown(format!("ami-age:{}", group.name), err)),
        }
        match observe_template(clients, target_region, &side.launch_template_name).await {
            Ok(observed) => found.push(checks::check_launch_template(
                group,
                next,
                target_region,
                &observed,
            )),
            Err(err) => found.push(Check::unknown(
                format!("launch-template:{}", group.name),
                err,
            )),
        }
        match group_sizes(clients, target_region, &side.auto_scaling_group_name).await {
            Ok(sizes) => found.push(checks::check_capacity(
                group,
                next,
                target_region,
                state.primary_capacity.get(&group.name).copied(),
                sizes.map(|s| s.max),
            )),
            Err(err) => found.push(Check::unknown(format!("capacity:{}", group.name), err)),
        }
    }

    found.push(capacity_record_check(clients, &config, &state, now).await);

    for db in &config.databases {
        if let Some(shape) = &db.production_shape {
            found.push(production_shape(clients, &config, db, shape).await);
        }
    }
    if let Some(check) = hook_functions(clients, &config).await {
        found.push(check);
    }

    found.push(ssm_drift(clients, &config, state.active_region.as_deref()).await);
    found.push(kms_keys(clients, &config).await);

    for function in &config.functions {
        found.push(function_check(clients, &config, function, next).await);
    }

    for record in &config.dns_records {
        let name = format!("dns:{}", record.record_name.trim_end_matches('.'));
        match record_exists(clients, record).await {
            Ok(true) => found.push(checks::check_exists(
                name,
                &format!("{} record {}", record.record_type, record.record_name),
                &[],
                "",
            )),
            Ok(false) => found.push(checks::check_exists(
                name,
                "record",
                &[format!(
                    "{} record {} in hosted zone {}",
                    record.record_type, record.record_name, record.hosted_zone_id
                )],
                "create the record (failover only changes records that exist), or fix dnsRecords[]",
            )),
            Err(err) => found.push(Check::unknown(name, err)),
        }
    }

    let machine = match next {
        NextMove::Failover => failover_state_machine_name(env),
        NextMove::Failback => failback_state_machine_name(env),
    };
    match find_state_machine(clients, &standby, &machine).await {
        Ok(Some(arn)) => found.push(Check::pass("state-machine", format!("{arn} exists"))),
        Ok(None) => found.push(Check::fail(
            "state-machine",
            format!("state machine `{machine}` not found in {standby}"),
            "deploy the stack in the standby region (sam deploy)",
        )),
        Err(err) => found.push(Check::unknown("state-machine", err)),
    }

    Ok(ReadinessReport::new(
        env,
        (&primary, &standby),
        state.active_region,
        next,
        found,
    ))
}

/// `run-lock`, when a run holds the lock: whether its execution still runs.
async fn run_lock_check(clients: &Clients, env: &str, region: &str) -> Option<Check> {
    let ssm = match clients.ssm.get(region) {
        Ok(ssm) => ssm,
        Err(err) => return Some(Check::unknown(run_lock::CHECK_NAME, err)),
    };
    let lock = match get_parameter(&ssm, &lock_parameter_name(env)).await {
        Ok(value) => held_lock(value.as_deref())?,
        Err(err) => return Some(Check::unknown(run_lock::CHECK_NAME, err)),
    };
    let holder = if lock.execution_id.starts_with("arn:") {
        let asked = async {
            let sfn = clients.sfn.get(region)?;
            Ok::<_, PilotLightError>(
                sfn.describe_execution()
                    .execution_arn(&lock.execution_id)
                    .send()
                    .await,
            )
        };
        match asked.await {
            Err(err) => run_lock::HolderSeen::Unknown(err.to_string()),
            Ok(Ok(out)) => run_lock::HolderSeen::Execution {
                status: out.status().as_str().to_string(),
                stopped_at: out.stop_date().map(|d| d.to_string()),
            },
            Ok(Err(err))
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_execution_does_not_exist()) =>
            {
                run_lock::HolderSeen::Missing
            }
            Ok(Err(err)) => run_lock::HolderSeen::Unknown(
                PilotLightError::from_sdk("DescribeExecution", &err).to_string(),
            ),
        }
    } else {
        run_lock::HolderSeen::Missing
    };
    Some(run_lock::check_run_lock(env, &lock, &holder))
}

/// `function:<name>`: the standby's consumer (and its mappings and rules) exists; before a failback
/// the primary's too, when one is configured (the failback switches it back on).
async fn function_check(
    clients: &Clients,
    config: &PilotLightConfig,
    function: &pilot_light_core::config::FunctionConfig,
    next: NextMove,
) -> Check {
    let name = format!("function:{}", function.name);
    let mut sides = vec![(&config.regions.standby, &function.standby)];
    if let (NextMove::Failback, Some(primary)) = (next, &function.primary) {
        sides.push((&config.regions.primary, primary));
    }
    let mut missing = Vec::new();
    let mut seen = Vec::new();
    for (region, side) in sides {
        match missing_function_parts(clients, region, side).await {
            Ok(parts) => missing.extend(parts.into_iter().map(|p| format!("{p} in {region}"))),
            Err(err) => return Check::unknown(name, err),
        }
        seen.push(format!(
            "`{}` ({region}), its {} mapping(s) and {} rule(s)",
            side.function_name,
            side.event_source_mapping_uuids.len(),
            side.event_bridge_rules.len()
        ));
    }
    checks::check_exists(
        name,
        &seen.join("; "),
        &missing,
        "re-create what is missing, or fix functions[] in the configuration",
    )
}

pub(crate) async fn observe_replica(
    clients: &Clients,
    region: &str,
    instance_id: &str,
) -> Result<Option<checks::ReplicaObservation>, PilotLightError> {
    let rds = clients.rds.get(region)?;
    match rds
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .db_instances()
            .first()
            .map(|i| checks::ReplicaObservation {
                status: i.db_instance_status().unwrap_or("unknown").to_string(),
                replication_source: i
                    .read_replica_source_db_instance_identifier()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                encrypted: i.storage_encrypted().unwrap_or(false),
            })),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("DescribeDBInstances", &err)),
    }
}

/// Every DB instance of `region`, with its tags (for the kept instances a failback renamed).
async fn list_instances(
    clients: &Clients,
    region: &str,
) -> Result<Vec<pilot_light_core::kept::ListedInstance>, PilotLightError> {
    let rds = clients.rds.get(region)?;
    pilot_light_core::db_instances::list_instances(&rds, region, MAX_PAGES).await
}

/// The newest `ReplicaLag` datapoint of the last ten minutes (Maximum per minute).
async fn latest_replica_lag(
    clients: &Clients,
    region: &str,
    instance_id: &str,
) -> Result<Option<f64>, PilotLightError> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let cloudwatch = clients.cloudwatch.get(region)?;
    let now = SystemTime::now();
    let out = cloudwatch
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
        .map_err(|err| PilotLightError::from_sdk("GetMetricStatistics", &err))?;
    Ok(out
        .datapoints()
        .iter()
        .filter_map(|d| Some((d.timestamp()?.as_secs_f64(), d.maximum()?)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, lag)| lag))
}

async fn observe_template(
    clients: &Clients,
    region: &str,
    template_name: &str,
) -> Result<checks::TemplateObservation, PilotLightError> {
    let ec2 = clients.ec2.get(region)?;
    let versions = match ec2
        .describe_launch_template_versions()
        .launch_template_name(template_name)
        .versions("$Default")
        .send()
        .await
    {
        Ok(out) => out,
        Err(err) if is_not_found_code(err.as_service_error().and_then(|e| e.meta().code())) => {
            return Ok(checks::TemplateObservation::Missing)
        }
        Err(err) => {
            return Err(PilotLightError::from_sdk(
                "DescribeLaunchTemplateVersions",
                &err,
            ))
        }
    };
    let Some(version) = versions.launch_template_versions().first() else {
        return Ok(checks::TemplateObservation::Missing);
    };
    let image_id = version
        .launch_template_data()
        .and_then(|d| d.image_id())
        .filter(|i| !i.is_empty())
        .map(str::to_string);
    let image_state = match &image_id {
        None => None,
        Some(id) => image_state(&ec2, id).await?,
    };
    Ok(checks::TemplateObservation::Found {
        default_version: version.version_number().unwrap_or_default(),
        image_id,
        image_state,
    })
}

/// An image's state; `None` when EC2 does not know it (any more).
async fn image_state(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<Option<String>, PilotLightError> {
    match ec2.describe_images().image_ids(image_id).send().await {
        Ok(out) => Ok(out
            .images()
            .iter()
            .find(|i| i.image_id() == Some(image_id))
            .map(|i| {
                i.state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "unknown".into())
            })),
        Err(err) if is_not_found_code(err.as_service_error().and_then(|e| e.meta().code())) => {
            Ok(None)
        }
        Err(err) => Err(PilotLightError::from_sdk("DescribeImages", &err)),
    }
}

fn is_not_found_code(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.contains("NotFound") || c.contains("Malformed"))
}

/// An Auto Scaling group's sizes.
struct GroupSizes {
    desired: u32,
    max: u32,
}

/// The sizes of the Auto Scaling group `group_name` in `region` (`None`: there is none).
async fn group_sizes(
    clients: &Clients,
    region: &str,
    group_name: &str,
) -> Result<Option<GroupSizes>, PilotLightError> {
    let autoscaling = clients.autoscaling.get(region)?;
    let out = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group_name)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
    let size = |n: Option<i32>| n.unwrap_or_default().max(0) as u32;
    Ok(out
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(group_name))
        .map(|g| GroupSizes {
            desired: size(g.desired_capacity()),
            max: size(g.max_size()),
        }))
}

/// `capacity-record`, with each primary group's desired capacity now (a group that cannot be
/// described is left out: the record's age still counts).
async fn capacity_record_check(
    clients: &Clients,
    config: &PilotLightConfig,
    state: &RunState,
    now_epoch_seconds: i64,
) -> Check {
    let primary = &config.regions.primary;
    let primary_serves = state.active_region.as_deref().is_none_or(|a| a == primary);
    let mut live_desired = BTreeMap::new();
    if primary_serves {
        for group in &config.compute_groups {
            let asg = &group.primary.auto_scaling_group_name;
            if let Ok(sizes) = group_sizes(clients, primary, asg).await {
                live_desired.insert(group.name.clone(), sizes.map(|s| s.desired));
            }
        }
    }
    capacity_record::check_capacity_record(&capacity_record::CapacityRecordView {
        env: &config.env,
        record: state.capacity_record.as_ref(),
        primary_serves,
        live_desired: &live_desired,
        now_epoch_seconds,
        max_age_seconds: config.readiness.max_capacity_record_age_seconds,
    })
}

/// The sync's plan from the active region to the other one: the names it would write.
async fn ssm_drift(clients: &Clients, config: &PilotLightConfig, active: Option<&str>) -> Check {
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
async fn read_scope(
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
async fn kms_keys(clients: &Clients, config: &PilotLightConfig) -> Check {
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

/// The production shape of `db` against its engine: read the replica's engine and version, ask RDS
/// whether the class is orderable (standby region), and find the parameter group in both regions.
async fn production_shape(
    clients: &Clients,
    config: &PilotLightConfig,
    db: &pilot_light_core::config::DatabaseConfig,
    shape: &pilot_light_core::config::ProductionShape,
) -> Check {
    let name = format!("production-shape:{}", db.name);
    let standby = &config.regions.standby;
    let observed = async {
        let rds = clients.rds.get(standby)?;
        let described = rds
            .describe_db_instances()
            .db_instance_identifier(&db.replica_instance_id)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeDBInstances", &err))?;
        let instance = described.db_instances().first().cloned();
        let (engine, version) = instance
            .as_ref()
            .map(|i| {
                (
                    i.engine().unwrap_or_default().to_string(),
                    i.engine_version().unwrap_or_default().to_string(),
                )
            })
            .unwrap_or_default();
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

async fn orderable(
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
async fn parameter_group_family(
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

/// Every hook function exists (in its ARN's region, or the standby region for a plain name).
/// `None` when no hook is configured.
async fn hook_functions(clients: &Clients, config: &PilotLightConfig) -> Option<Check> {
    let hooks = config.hooks.all();
    if hooks.is_empty() {
        return None;
    }
    let mut functions: Vec<&str> = hooks
        .iter()
        .map(|(_, h)| h.function_name.as_str())
        .collect();
    functions.sort_unstable();
    functions.dedup();
    let mut missing = Vec::new();
    for function in &functions {
        let region = function
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(2))
            .unwrap_or(config.regions.standby.as_str());
        let lambda = match clients.lambda.get(region) {
            Ok(lambda) => lambda,
            Err(err) => return Some(Check::unknown("hooks", err)),
        };
        match lambda.get_function().function_name(*function).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                missing.push(format!("function `{function}` ({region})"))
            }
            Err(err) => {
                return Some(Check::unknown(
                    "hooks",
                    PilotLightError::from_sdk("GetFunction", &err),
                ))
            }
        }
    }
    Some(checks::check_exists(
        "hooks".to_string(),
        &format!("the {} hook function(s)", functions.len()),
        &missing,
        "deploy the hook functions (and list them in the stack's HookFunctionArns), or fix hooks in the configuration",
    ))
}

/// What of a standby function does not exist: the function, its mappings, its rules.
async fn missing_function_parts(
    clients: &Clients,
    region: &str,
    function: &pilot_light_core::config::FunctionRef,
) -> Result<Vec<String>, PilotLightError> {
    let lambda = clients.lambda.get(region)?;
    let mut missing = Vec::new();
    match lambda
        .get_function()
        .function_name(&function.function_name)
        .send()
        .await
    {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            missing.push(format!("function `{}`", function.function_name))
        }
        Err(err) => return Err(PilotLightError::from_sdk("GetFunction", &err)),
    }
    for uuid in &function.event_source_mapping_uuids {
        match lambda.get_event_source_mapping().uuid(uuid).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                missing.push(format!("event source mapping {uuid}"))
            }
            Err(err) => return Err(PilotLightError::from_sdk("GetEventSourceMapping", &err)),
        }
    }
    let events = clients.eventbridge.get(region)?;
    for rule in &function.event_bridge_rules {
        match events.describe_rule().name(rule).send().await {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                missing.push(format!("rule `{rule}`"))
            }
            Err(err) => return Err(PilotLightError::from_sdk("DescribeRule", &err)),
        }
    }
    Ok(missing)
}

/// Whether the record (name, type, set identifier) exists in its hosted zone.
async fn record_exists(
    clients: &Clients,
    record: &pilot_light_core::config::DnsRecordConfig,
) -> Result<bool, PilotLightError> {
    let route53 = clients.route53.get("us-east-1")?;
    let wanted = record
        .record_name
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let out = match route53
        .list_resource_record_sets()
        .hosted_zone_id(&record.hosted_zone_id)
        .start_record_name(&record.record_name)
        .start_record_type(aws_sdk_route53::types::RrType::from(
            record.record_type.as_str(),
        ))
        .max_items(100)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_hosted_zone()) =>
        {
            return Ok(false)
        }
        Err(err) => return Err(PilotLightError::from_sdk("ListResourceRecordSets", &err)),
    };
    Ok(out.resource_record_sets().iter().any(|set| {
        set.name()
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&wanted)
            && set.r#type().as_str() == record.record_type
            && set.set_identifier() == record.set_identifier.as_deref()
    }))
}

/// The ARN of the state machine named `name` in `region`, if there is one.
pub async fn find_state_machine(
    clients: &Clients,
    region: &str,
    name: &str,
) -> Result<Option<String>, PilotLightError> {
    let sfn = clients.sfn.get(region)?;
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = sfn
            .list_state_machines()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| PilotLightError::from_sdk("ListStateMachines", &e))?;
        if let Some(found) = page.state_machines().iter().find(|m| m.name() == name) {
            return Ok(Some(found.state_machine_arn().to_string()));
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(statuses: &[CheckStatus]) -> ReadinessReport {
        let checks = statuses.iter().enumerate().map(|(i, s)| Check {
            name: format!("c{i}"),
            status: *s,
            evidence: "seen".into(),
            action: (*s != CheckStatus::Pass).then(|| "do".to_string()),
        });
        let regions = ("us-east-1", "us-west-2");
        ReadinessReport::new("prod", regions, None, NextMove::Failover, checks.collect())
    }

    #[test]
    fn the_text_names_every_check_and_the_verdict() {
        let r = report(&[CheckStatus::Fail, CheckStatus::Pass]);
        let text = render_text(&r);
        assert!(text.contains("FAIL  c0  seen\n"), "{text}");
        assert!(text.contains("→ do"), "{text}");
        assert!(
            text.contains("NOT READY: 1 passed, 0 warned, 1 failed"),
            "{text}"
        );
        assert_eq!(r.failing(), vec!["c0"]);
        let back = ReadinessReport {
            active_region: Some("us-west-2".into()),
            next_move: NextMove::Failback,
            ..report(&[CheckStatus::Warn])
        };
        let text = render_text(&back);
        assert!(text.contains("active us-west-2"), "{text}");
        assert!(
            text.contains("READY TO FAIL BACK (with warnings): 0 passed, 1 warned, 0 failed"),
            "{text}"
        );
    }

    #[test]
    fn state_machine_names_follow_the_template() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
                .unwrap();
        assert!(template.contains("Name: !Sub pilot-light-${EnvName}-failover\n"));
        assert!(template.contains("Name: !Sub pilot-light-${EnvName}-failback\n"));
        assert_eq!(
            failover_state_machine_name("prod"),
            "pilot-light-prod-failover"
        );
        assert_eq!(
            failback_state_machine_name("prod"),
            "pilot-light-prod-failback"
        );
    }
}
