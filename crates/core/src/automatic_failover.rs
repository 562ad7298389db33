//! How an automatic failover may start: which AWS Health events concern this configuration, and the
//! **approval window** an automatic start waits in before it changes anything.
//!
//! The stack's EventBridge rules start the failover state machine on a health alarm or on an open,
//! public, regional AWS Health operational issue of the services in `HealthEventServices`. The rule
//! cannot read the configuration, so `beginFailover` judges a Health trigger again against it
//! ([`judge_health_trigger`]): an event of a service the configuration does not use, of another
//! region, or naming one Availability Zone is refused (`TriggerNotRelevant`) before the lock, and
//! the on-call is told. An automatic start that passes the flap guard then waits for a person
//! ([`ApprovalPolicy::Required`], the default) for `approvalWindowSeconds`: `pilot-light approve`
//! lets it go on, `pilot-light deny` ends it, and nobody answering ends it as
//! [`WhenUnanswered`] says (by default `abandon`: no failover without a person).

use crate::config::PilotLightConfig;
use crate::{EnvName, PilotLightError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// `automaticFailover` in the configuration document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutomaticFailoverConfig {
    /// Whether an automatic start waits for a person's answer. Default `required`.
    #[serde(default)]
    pub approval: ApprovalPolicy,
    /// How long an automatic start waits for `pilot-light approve|deny`. Default 900 (15 minutes).
    #[serde(default = "default_approval_window_seconds")]
    pub approval_window_seconds: u64,
    /// What happens when nobody answers within the window. Default `abandon`.
    #[serde(default)]
    pub when_unanswered: WhenUnanswered,
    /// How often the waiting state machine looks for an answer. Default 15.
    #[serde(default = "default_approval_poll_seconds")]
    pub approval_poll_seconds: u64,
    /// AWS Health `service` codes whose issues may start a failover. Default: the services the
    /// configuration uses ([`services_in_use`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_services: Option<Vec<String>>,
}

impl Default for AutomaticFailoverConfig {
    fn default() -> Self {
        Self {
            approval: ApprovalPolicy::default(),
            approval_window_seconds: default_approval_window_seconds(),
            when_unanswered: WhenUnanswered::default(),
            approval_poll_seconds: default_approval_poll_seconds(),
            health_services: None,
        }
    }
}

fn default_approval_window_seconds() -> u64 {
    900
}
fn default_approval_poll_seconds() -> u64 {
    15
}

/// The longest approval window accepted (one day).
pub const MAX_APPROVAL_WINDOW_SECONDS: u64 = 24 * 3600;
/// The longest pause between two looks for an answer.
pub const MAX_APPROVAL_POLL_SECONDS: u64 = 300;

/// Whether an automatic failover waits for a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalPolicy {
    /// An automatic start waits for `pilot-light approve` (or the window's end).
    #[default]
    Required,
    /// An automatic start that passes the flap guard goes ahead at once.
    None,
}

/// What an automatic failover does when nobody answered within the approval window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WhenUnanswered {
    /// End without changing anything; the alert names the command that fails over by hand.
    #[default]
    Abandon,
    /// Go ahead, and say so in an alert.
    Proceed,
}

impl AutomaticFailoverConfig {
    /// Checks the bounds a type cannot.
    pub fn validate(&self) -> Result<(), PilotLightError> {
        if !(1..=MAX_APPROVAL_WINDOW_SECONDS).contains(&self.approval_window_seconds) {
            return Err(PilotLightError::config(
                "automaticFailover.approvalWindowSeconds",
                format!("must be between 1 and {MAX_APPROVAL_WINDOW_SECONDS} (one day)"),
            ));
        }
        if !(1..=MAX_APPROVAL_POLL_SECONDS).contains(&self.approval_poll_seconds) {
            return Err(PilotLightError::config(
                "automaticFailover.approvalPollSeconds",
                format!("must be between 1 and {MAX_APPROVAL_POLL_SECONDS}"),
            ));
        }
        if let Some(services) = &self.health_services {
            if services.is_empty() {
                return Err(PilotLightError::config(
                    "automaticFailover.healthServices",
                    "an empty list would refuse every Health event; leave it out to use the services the configuration uses, or set the stack's AutomaticFailover to DISABLED",
                ));
            }
            if let Some(bad) = services.iter().find(|s| !is_service_code(s)) {
                return Err(PilotLightError::config(
                    "automaticFailover.healthServices",
                    format!("`{bad}` is not an AWS Health service code (upper case letters, digits, `_`; e.g. RDS, EC2)"),
                ));
            }
        }
        Ok(())
    }
}

fn is_service_code(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The AWS Health service codes of what the configuration fails over: RDS for databases, EC2 and
/// AUTOSCALING for compute groups, ELASTICLOADBALANCING when a group names a target group, LAMBDA
/// for functions, S3 for replicated buckets.
pub fn services_in_use(config: &PilotLightConfig) -> BTreeSet<String> {
    let mut services = BTreeSet::new();
    if !config.databases.is_empty() {
        services.insert("RDS");
    }
    if !config.compute_groups.is_empty() {
        services.extend(["EC2", "AUTOSCALING"]);
    }
    if config
        .compute_groups
        .iter()
        .any(|g| g.primary.target_group_arn.is_some() || g.standby.target_group_arn.is_some())
    {
        services.insert("ELASTICLOADBALANCING");
    }
    if !config.functions.is_empty() {
        services.insert("LAMBDA");
    }
    if !config.s3_replication.is_empty() {
        services.insert("S3");
    }
    services.into_iter().map(str::to_string).collect()
}

/// The Health services whose issues may start a failover of this configuration: the configured
/// override, else [`services_in_use`].
pub fn health_services(config: &PilotLightConfig) -> BTreeSet<String> {
    match &config.automatic_failover.health_services {
        Some(services) => services.iter().cloned().collect(),
        None => services_in_use(config),
    }
}

/// Whether a Health trigger's event concerns this configuration's primary region as a whole:
/// `Err(reason)` when it does not. `event` is the `triggerEvent` the rule made (`service`,
/// `eventRegion`, and `availabilityZone` or `eventScopeCode` when the event carried them).
pub fn judge_health_trigger(config: &PilotLightConfig, event: &Value) -> Result<(), String> {
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("").trim();
    let service = field("service").to_ascii_uppercase();
    let services = health_services(config);
    if service.is_empty() {
        return Err("the Health event names no service".into());
    }
    if !services.contains(&service) {
        return Err(format!(
            "the Health event is about {service}, a service this configuration does not use (it uses {})",
            services.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let region = field("eventRegion");
    if region != config.regions.primary {
        return Err(format!(
            "the Health event is about region `{region}`, not the primary region {}",
            config.regions.primary
        ));
    }
    let zone = field("availabilityZone");
    if !zone.is_empty() {
        return Err(format!(
            "the Health event names one Availability Zone ({zone}): a zonal issue is for the application's Multi-AZ design, not a regional failover"
        ));
    }
    let scope = field("eventScopeCode");
    if !scope.is_empty() && scope != "PUBLIC" {
        return Err(format!(
            "the Health event's scope is {scope}, not PUBLIC: it concerns some resources of the account, not the region"
        ));
    }
    Ok(())
}

/// The approval a `beginFailover` asks the state machine to wait for (`required: false` for a
/// manual start, or with `approval: none`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPlan {
    pub required: bool,
    pub window_seconds: u64,
    pub poll_seconds: u64,
    pub when_unanswered: WhenUnanswered,
    /// The most looks for an answer the state machine makes: a few more than the window holds, a
    /// bound that ends the wait even if the deadline could never be judged.
    pub max_checks: u64,
}

/// What the approval window is for a start: only automatic starts wait, and only with
/// `approval: required`.
pub fn approval_plan(config: &AutomaticFailoverConfig, automatic: bool) -> ApprovalPlan {
    ApprovalPlan {
        required: automatic && config.approval == ApprovalPolicy::Required,
        window_seconds: config.approval_window_seconds,
        poll_seconds: config.approval_poll_seconds,
        when_unanswered: config.when_unanswered,
        max_checks: config
            .approval_window_seconds
            .div_ceil(config.approval_poll_seconds.max(1))
            + 5,
    }
}

/// Parameter name of an environment's approval request (the newest automatic failover's).
pub fn approval_parameter_name(env: &EnvName) -> String {
    format!("/pilot-light/{env}/approval")
}

/// `/pilot-light/<env>/approval`: what an automatic failover waits for. `run-state
/// requestApproval` writes it (once per execution); `pilot-light approve|deny` answers it;
/// `run-state checkApproval` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    /// The waiting failover execution (its ARN).
    pub execution_id: String,
    /// `alarm` or `health`.
    pub trigger: String,
    /// The event that started it, as the rule passed it: the evidence a person judges.
    #[serde(default)]
    pub trigger_event: Value,
    pub requested_at: String,
    /// The end of the window (RFC 3339).
    pub deadline: String,
    pub when_unanswered: WhenUnanswered,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ApprovalAnswer>,
}

/// A person's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalAnswer {
    pub decision: ApprovalDecision,
    /// Who answered (the CLI's caller identity or `--by`).
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub answered_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalDecision {
    Approved,
    Denied,
}

/// Where a waiting failover stands; the state machine's Choice reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalOutcome {
    /// A person approved: go on.
    Approved,
    /// A person denied: end, changing nothing.
    Denied,
    /// No answer yet, and the window is open: look again later.
    Waiting,
    /// Nobody answered in time and `whenUnanswered: proceed`: go on, and say so.
    ProceedUnanswered,
    /// Nobody answered in time and `whenUnanswered: abandon`: end, changing nothing.
    AbandonUnanswered,
}

/// Where the approval of `execution_id` stands at `now` (epoch seconds). A request of another
/// execution (or none) is [`ApprovalOutcome::Waiting`]'s opposite: the caller must write its own
/// request first, so it is `None` here.
pub fn approval_outcome(
    request: Option<&ApprovalRequest>,
    execution_id: &str,
    now: f64,
) -> Option<ApprovalOutcome> {
    let request = request.filter(|r| r.execution_id == execution_id)?;
    Some(match &request.answer {
        Some(answer) if answer.decision == ApprovalDecision::Approved => ApprovalOutcome::Approved,
        Some(_) => ApprovalOutcome::Denied,
        None => {
            // A deadline that cannot be read has passed: nothing waits forever.
            let open = crate::step::epoch_seconds(&request.deadline).is_some_and(|d| now < d);
            match (open, request.when_unanswered) {
                (true, _) => ApprovalOutcome::Waiting,
                (false, WhenUnanswered::Proceed) => ApprovalOutcome::ProceedUnanswered,
                (false, WhenUnanswered::Abandon) => ApprovalOutcome::AbandonUnanswered,
            }
        }
    })
}

/// Whether `execution` (an ARN, or the execution's name) names the request's execution.
pub fn names_execution(request: &ApprovalRequest, execution: &str) -> bool {
    let execution = execution.trim();
    !execution.is_empty()
        && (request.execution_id == execution
            || request.execution_id.rsplit(':').next() == Some(execution))
}

/// The request with a person's answer, or why it cannot take one: another execution waits (or
/// none), the window closed, or it was answered otherwise already. The same answer again is
/// accepted unchanged (a person may run `approve` twice).
pub fn answer_request(
    request: Option<&ApprovalRequest>,
    execution: &str,
    answer: ApprovalAnswer,
    now: f64,
) -> Result<ApprovalRequest, String> {
    let Some(request) = request else {
        return Err("no automatic failover is waiting for approval".into());
    };
    if !names_execution(request, execution) {
        return Err(format!(
            "the failover waiting for approval is {}, not {execution}",
            request.execution_id
        ));
    }
    if let Some(given) = &request.answer {
        if given.decision == answer.decision {
            return Ok(request.clone());
        }
        return Err(format!(
            "it was already {} by {} at {}",
            match given.decision {
                ApprovalDecision::Approved => "approved",
                ApprovalDecision::Denied => "denied",
            },
            given.by,
            given.answered_at
        ));
    }
    let open = crate::step::epoch_seconds(&request.deadline).is_some_and(|d| now < d);
    if !open {
        return Err(format!(
            "its approval window closed at {} (nobody answered: it {})",
            request.deadline,
            match request.when_unanswered {
                WhenUnanswered::Proceed => "went ahead",
                WhenUnanswered::Abandon => "was abandoned",
            }
        ));
    }
    Ok(ApprovalRequest {
        answer: Some(answer),
        ..request.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ComputeGroupConfig, DatabaseConfig};
    use serde_json::json;

    fn config(databases: bool, groups: bool) -> PilotLightConfig {
        let mut c: PilotLightConfig = serde_json::from_value(json!({
            "env": "prod",
            "regions": {"primary": "us-east-1", "standby": "us-west-2"},
        }))
        .unwrap();
        if databases {
            c.databases.push(DatabaseConfig::identifiers_only(
                "orders",
                "orders-primary",
                "orders-replica",
            ));
        }
        if groups {
            let group: ComputeGroupConfig = serde_json::from_value(json!({
                "name": "web",
                "primary": {"autoScalingGroupName": "web-p", "launchTemplateName": "web-p"},
                "standby": {"autoScalingGroupName": "web-s", "launchTemplateName": "web-s"},
                "amiTag": {"key": "app", "value": "web"},
            }))
            .unwrap();
            c.compute_groups.push(group);
        }
        c
    }

    fn event(service: &str, region: &str) -> Value {
        json!({"source": "aws.health", "service": service, "eventRegion": region,
               "eventTypeCode": format!("AWS_{service}_OPERATIONAL_ISSUE")})
    }

    #[test]
    fn the_services_in_use_follow_what_is_configured() {
        let cases = [
            (false, false, vec![]),
            (true, false, vec!["RDS"]),
            (false, true, vec!["AUTOSCALING", "EC2"]),
            (true, true, vec!["AUTOSCALING", "EC2", "RDS"]),
        ];
        for (databases, groups, want) in cases {
            let got: Vec<String> = services_in_use(&config(databases, groups))
                .into_iter()
                .collect();
            assert_eq!(got, want, "databases {databases} groups {groups}");
        }
    }

    #[test]
    fn a_target_group_brings_in_elastic_load_balancing() {
        let mut c = config(false, true);
        c.compute_groups[0].standby.target_group_arn = Some("arn:tg".into());
        assert!(services_in_use(&c).contains("ELASTICLOADBALANCING"));
    }

    #[test]
    fn health_triggers_are_judged_against_the_configuration() {
        let c = config(true, false);
        let zonal = {
            let mut e = event("RDS", "us-east-1");
            e["availabilityZone"] = json!("us-east-1a");
            e
        };
        let account = {
            let mut e = event("RDS", "us-east-1");
            e["eventScopeCode"] = json!("ACCOUNT_SPECIFIC");
            e
        };
        let public = {
            let mut e = event("RDS", "us-east-1");
            e["eventScopeCode"] = json!("PUBLIC");
            e
        };
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("configured service", event("RDS", "us-east-1"), None),
            ("lower case service", event("rds", "us-east-1"), None),
            ("public scope", public, None),
            (
                "unrelated service",
                event("EC2", "us-east-1"),
                Some("does not use"),
            ),
            (
                "no service",
                json!({"eventRegion": "us-east-1"}),
                Some("no service"),
            ),
            (
                "other region",
                event("RDS", "eu-west-1"),
                Some("not the primary"),
            ),
            ("one zone", zonal, Some("Availability Zone")),
            ("account scope", account, Some("not PUBLIC")),
        ];
        for (name, e, refused) in cases {
            match (judge_health_trigger(&c, &e), refused) {
                (Ok(()), None) => {}
                (Err(reason), Some(word)) => assert!(reason.contains(word), "{name}: {reason}"),
                (got, want) => panic!("{name}: got {got:?}, want refusal {want:?}"),
            }
        }
    }

    #[test]
    fn an_override_replaces_the_derived_services() {
        let mut c = config(true, false);
        c.automatic_failover.health_services = Some(vec!["EC2".into()]);
        assert!(judge_health_trigger(&c, &event("EC2", "us-east-1")).is_ok());
        assert!(judge_health_trigger(&c, &event("RDS", "us-east-1")).is_err());
    }

    #[test]
    fn only_automatic_starts_wait_and_only_when_approval_is_required() {
        let required = AutomaticFailoverConfig::default();
        let none = AutomaticFailoverConfig {
            approval: ApprovalPolicy::None,
            ..AutomaticFailoverConfig::default()
        };
        for (config, automatic, want) in [
            (&required, true, true),
            (&required, false, false),
            (&none, true, false),
            (&none, false, false),
        ] {
            assert_eq!(approval_plan(config, automatic).required, want);
        }
        assert_eq!(required.when_unanswered, WhenUnanswered::Abandon);
        assert_eq!(required.approval_window_seconds, 900);
        // 900 s at one look every 15 s: 60 looks, and a few more.
        assert_eq!(approval_plan(&required, true).max_checks, 65);
    }

    #[test]
    fn bounds_are_checked() {
        let bad = [
            AutomaticFailoverConfig {
                approval_window_seconds: 0,
                ..Default::default()
            },
            AutomaticFailoverConfig {
                approval_window_seconds: MAX_APPROVAL_WINDOW_SECONDS + 1,
                ..Default::default()
            },
            AutomaticFailoverConfig {
                approval_poll_seconds: 0,
                ..Default::default()
            },
            AutomaticFailoverConfig {
                health_services: Some(vec![]),
                ..Default::default()
            },
            AutomaticFailoverConfig {
                health_services: Some(vec!["rds service".into()]),
                ..Default::default()
            },
        ];
        for config in bad {
            let err = config.validate().unwrap_err();
            assert_eq!(err.error_type(), "ConfigInvalid", "{config:?}");
        }
        assert!(AutomaticFailoverConfig::default().validate().is_ok());
    }
    fn request(deadline: &str, when: WhenUnanswered) -> ApprovalRequest {
        ApprovalRequest {
            execution_id: "arn:aws:states:us-west-2:1:execution:pl-prod-failover:alarm-7".into(),
            trigger: "alarm".into(),
            trigger_event: json!({"alarmName": "a"}),
            requested_at: "2026-12-07T03:00:00Z".into(),
            deadline: deadline.into(),
            when_unanswered: when,
            answer: None,
        }
    }

    fn answer(decision: ApprovalDecision) -> ApprovalAnswer {
        ApprovalAnswer {
            decision,
            by: "alice".into(),
            reason: None,
            answered_at: "2026-12-07T03:01:00Z".into(),
        }
    }

    const EXEC: &str = "arn:aws:states:us-west-2:1:execution:pl-prod-failover:alarm-7";

    #[test]
    fn the_outcome_follows_the_answer_and_the_clock() {
        let deadline = "2026-12-07T03:15:00Z";
        let before = crate::step::epoch_seconds("2026-12-07T03:10:00Z").unwrap();
        let after = crate::step::epoch_seconds("2026-12-07T03:15:01Z").unwrap();
        let approved = ApprovalRequest {
            answer: Some(answer(ApprovalDecision::Approved)),
            ..request(deadline, WhenUnanswered::Abandon)
        };
        let denied = ApprovalRequest {
            answer: Some(answer(ApprovalDecision::Denied)),
            ..request(deadline, WhenUnanswered::Proceed)
        };
        use ApprovalOutcome::*;
        let cases = [
            (request(deadline, WhenUnanswered::Abandon), before, Waiting),
            (
                request(deadline, WhenUnanswered::Abandon),
                after,
                AbandonUnanswered,
            ),
            (
                request(deadline, WhenUnanswered::Proceed),
                after,
                ProceedUnanswered,
            ),
            (
                request("not a time", WhenUnanswered::Proceed),
                before,
                ProceedUnanswered,
            ),
            (approved.clone(), after, Approved),
            (approved, before, Approved),
            (denied, before, Denied),
        ];
        for (r, now, want) in cases {
            assert_eq!(approval_outcome(Some(&r), EXEC, now), Some(want), "{r:?}");
        }
        let r = request(deadline, WhenUnanswered::Abandon);
        assert_eq!(approval_outcome(Some(&r), "arn:other", before), None);
        assert_eq!(approval_outcome(None, EXEC, before), None);
    }

    #[test]
    fn a_person_answers_the_waiting_execution_once_while_the_window_is_open() {
        let deadline = "2026-12-07T03:15:00Z";
        let open = crate::step::epoch_seconds("2026-12-07T03:10:00Z").unwrap();
        let closed = crate::step::epoch_seconds("2026-12-07T03:16:00Z").unwrap();
        let waiting = request(deadline, WhenUnanswered::Abandon);
        let yes = answer(ApprovalDecision::Approved);
        let no = answer(ApprovalDecision::Denied);

        let by_name = answer_request(Some(&waiting), "alarm-7", yes.clone(), open).unwrap();
        assert_eq!(by_name.answer.as_ref(), Some(&yes));
        let by_arn = answer_request(Some(&waiting), EXEC, no.clone(), open).unwrap();
        assert_eq!(by_arn.answer.as_ref(), Some(&no));
        // The same answer twice is fine; the other one is refused.
        assert_eq!(
            answer_request(Some(&by_name), "alarm-7", yes.clone(), open),
            Ok(by_name.clone())
        );
        let refused = answer_request(Some(&by_name), "alarm-7", no.clone(), open).unwrap_err();
        assert!(refused.contains("already approved by alice"), "{refused}");

        let cases = [
            (None, "alarm-7", open, "no automatic failover is waiting"),
            (Some(&waiting), "alarm-8", open, "not alarm-8"),
            (Some(&waiting), "", open, "not "),
            (Some(&waiting), "alarm-7", closed, "window closed"),
        ];
        for (r, execution, now, word) in cases {
            let err = answer_request(r, execution, yes.clone(), now).unwrap_err();
            assert!(err.contains(word), "{execution}: {err}");
        }
    }
}
