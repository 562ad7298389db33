//! Readiness: whether the next move (failover while the primary serves, failback while the standby
//! does) would work right now. The scheduled `readiness` function and `pilot-light status` run the
//! same code: [`run_checks`] observes (read-only describe calls) and [`checks`] decides, one
//! [`Check`] per resource: pass, warn or fail, the evidence and what to do.

pub mod capacity_record;
pub mod checks;
pub mod failback;
mod observe;
pub mod run_lock;

use aws_config::SdkConfig;
use pilot_light_core::capacity_record::{capacity_parameter_name, CapacityRecord};
use pilot_light_core::config::{config_parameter_name, state_parameter_name, PilotLightConfig};
use pilot_light_core::images::find_own_tagged_images;
use pilot_light_core::parameters::config_of_env;
use pilot_light_core::run_state::parse_run_state;
use pilot_light_core::{EnvName, PilotLightError, Regional, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;

pub use checks::{Check, CheckStatus, NextMove};
use observe::compute::{capacity_record_check, group_sizes, observe_template};
pub(crate) use observe::databases::observe_replica;
use observe::databases::{latest_replica_lag, list_instances, production_shape};
use observe::functions::{function_check, hook_functions, record_exists, run_lock_check};
use observe::parameters::{kms_keys, ssm_drift};

/// The CloudWatch namespace of the EMF metrics.
pub use pilot_light_core::metrics::METRIC_NAMESPACE;

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

/// The drill state machine's name in the stack (`template.yaml`).
pub fn drill_state_machine_name(env: &str) -> String {
    format!("pilot-light-{env}-drill")
}

/// Where the scheduled check keeps its last overall result.
pub fn readiness_parameter_name(env: &EnvName) -> String {
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
    pub env: EnvName,
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
        env: &EnvName,
        regions: (&str, &str),
        active_region: Option<String>,
        next_move: NextMove,
        checks: Vec<Check>,
    ) -> Self {
        let (primary, standby) = regions;
        Self {
            env: env.clone(),
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
    env: &EnvName,
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
    let config = config_of_env(&text, env, &name)?;
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
    env: &EnvName,
    region: &str,
) -> Result<RunState, PilotLightError> {
    let ssm = clients.ssm.get(region)?;
    let text = get_parameter(&ssm, &state_parameter_name(env)).await?;
    let state = parse_run_state(text.as_deref())?.unwrap_or_default();
    let mut primary_capacity = state.primary_capacity;
    let capacity_record = get_parameter(&ssm, &capacity_parameter_name(env))
        .await?
        .and_then(|t| serde_json::from_str::<CapacityRecord>(&t).ok());
    if let Some(record) = &capacity_record {
        primary_capacity.extend(record.desired());
    }
    Ok(RunState {
        active_region: state.active_region,
        since: state.since.map(|t| t.0),
        made_active_by: state.execution_id,
        primary_capacity,
        capacity_record,
    })
}

/// Runs every check of `env`, whose stack (and configuration) is in `region`. Only loading the
/// configuration and the run state can fail the whole run; a check that cannot be made fails alone.
pub async fn run_checks(
    clients: &Clients,
    env: &EnvName,
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
        token = pilot_light_core::step::next_page_token(page.next_token());
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
        let env = "prod".parse().unwrap();
        ReadinessReport::new(&env, regions, None, NextMove::Failover, checks.collect())
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
