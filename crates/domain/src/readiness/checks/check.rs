//! The check itself: [`Check`] and its [`CheckStatus`], the [`NextMove`] readiness prepares for,
//! the overall result and when to notify, the active region, and the generic existence check.

use pilot_light_core::config::Side;
use serde::{Deserialize, Serialize};

/// The result of one check. Ordered: `pass < warn < fail`, so the overall result is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

impl CheckStatus {
    /// `pass`, `warn`, `fail`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// One check: its stable name (`replica:orders`), the result, what was seen, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub evidence: String,
    /// What to do about a warning or a failure (`None` when the check passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Check {
    pub fn pass(name: impl Into<String>, evidence: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: CheckStatus::Pass,
            evidence: evidence.into(),
            action: None,
        }
    }

    pub fn warn(
        name: impl Into<String>,
        evidence: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: CheckStatus::Warn,
            evidence: evidence.into(),
            action: Some(action.into()),
        }
    }

    pub fn fail(
        name: impl Into<String>,
        evidence: impl Into<String>,
        action: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: CheckStatus::Fail,
            evidence: evidence.into(),
            action: Some(action.into()),
        }
    }

    /// A check that could not be made (AWS answered with an error): a failure, since nothing says
    /// the failover would work.
    pub fn unknown(name: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Self::fail(
            name,
            format!("could not check: {error}"),
            "fix access to the resource (credentials, permissions, region), then check again",
        )
    }
}

/// The move readiness prepares for, from the active region: a failover while the primary serves
/// (the standby's side must be able to come up), a failback while the standby serves (the
/// primary's side must).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NextMove {
    Failover,
    Failback,
}

impl NextMove {
    /// The move with `standby_serves` (the run state names the standby as active).
    pub fn from_standby_serving(standby_serves: bool) -> Self {
        if standby_serves {
            Self::Failback
        } else {
            Self::Failover
        }
    }

    /// `failover`, `failback`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Failover => "failover",
            Self::Failback => "failback",
        }
    }

    /// The side the move brings up.
    pub fn target_side(self) -> Side {
        match self {
            Self::Failover => Side::Standby,
            Self::Failback => Side::Primary,
        }
    }
}

/// The overall result: the worst check (`pass` when there is none).
pub fn overall(checks: &[Check]) -> CheckStatus {
    checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Pass)
}

/// True when the scheduled check must notify: the overall result differs from the last one
/// recorded (no record counts as `pass`: a first run that passes says nothing).
pub fn should_notify(previous: Option<CheckStatus>, now: CheckStatus) -> bool {
    previous.unwrap_or(CheckStatus::Pass) != now
}

/// The active region, as a check: the primary serving is what readiness expects; the standby serving
/// means a failover already happened (the other checks describe a pilot light that is now in use).
pub fn check_active_region(
    env: &str,
    primary: &str,
    standby: &str,
    active: Option<&str>,
    since: Option<&str>,
    made_active_by: Option<&str>,
) -> Check {
    const NAME: &str = "active-region";
    match active {
        None => Check::pass(
            NAME,
            format!("no run state recorded: {primary} (primary) serves"),
        ),
        Some(r) if r == primary => Check::pass(NAME, format!("{primary} (primary) serves")),
        Some(r) if r == standby => Check::warn(
            NAME,
            format!(
                "{standby} (standby) serves since {}, made active by {}: the checks below are the failback's",
                since.unwrap_or("an unrecorded time"),
                made_active_by.unwrap_or("an unrecorded execution")
            ),
            format!("fail back when the primary region is healthy: pilot-light failback --env {env}"),
        ),
        Some(other) => Check::fail(
            NAME,
            format!("the run state names {other}, neither {primary} nor {standby}"),
            "fix or delete the run-state parameter by hand",
        ),
    }
}

/// Something the configuration names that must exist (a function, its mappings and rules, a DNS
/// record, the failover state machine): `missing` lists what does not.
pub fn check_exists(name: String, what: &str, missing: &[String], fix: &str) -> Check {
    if missing.is_empty() {
        Check::pass(name, format!("{what} exist(s)"))
    } else {
        Check::fail(name, format!("not found: {}", missing.join(", ")), fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_and_notification() {
        let checks = [Check::pass("a", "ok"), Check::warn("b", "meh", "look")];
        assert_eq!(overall(&checks), CheckStatus::Warn);
        assert_eq!(overall(&[]), CheckStatus::Pass);
        let cases = [
            (None, CheckStatus::Pass, false),
            (None, CheckStatus::Fail, true),
            (Some(CheckStatus::Pass), CheckStatus::Pass, false),
            (Some(CheckStatus::Pass), CheckStatus::Warn, true),
            (Some(CheckStatus::Fail), CheckStatus::Fail, false),
            (Some(CheckStatus::Fail), CheckStatus::Pass, true),
        ];
        for (previous, now, notify) in cases {
            assert_eq!(
                should_notify(previous, now),
                notify,
                "{previous:?} → {now:?}"
            );
        }
    }

    #[test]
    fn active_region_decisions() {
        let check = |a| {
            check_active_region(
                "prod",
                "us-east-1",
                "us-west-2",
                a,
                Some("2026-12-01T03:00:00Z"),
                Some("arn:aws:states:us-west-2:1:execution:m:failover-prod-INC-1"),
            )
        };
        assert_eq!(check(None).status, CheckStatus::Pass);
        assert_eq!(check(Some("us-east-1")).status, CheckStatus::Pass);
        let standby = check(Some("us-west-2"));
        assert_eq!(standby.status, CheckStatus::Warn);
        assert!(standby.evidence.contains("since 2026-12-01T03:00:00Z"));
        assert!(standby.evidence.contains("failover-prod-INC-1"));
        assert!(standby
            .action
            .unwrap()
            .contains("pilot-light failback --env prod"));
        assert_eq!(check(Some("eu-west-1")).status, CheckStatus::Fail);
    }

    #[test]
    fn thresholds_come_from_the_configuration() {
        use pilot_light_core::PilotLightConfig;
        let doc = |readiness: serde_json::Value| {
            serde_json::json!({
                "env": "prod",
                "regions": {"primary": "us-east-1", "standby": "us-west-2"},
                "readiness": readiness,
            })
        };
        let defaults = PilotLightConfig::from_json(doc(serde_json::json!({}))).unwrap();
        assert_eq!(defaults.readiness.max_replica_lag_seconds, 300);
        assert_eq!(defaults.readiness.max_ami_age_seconds, 7 * 86_400);
        let set = PilotLightConfig::from_json(doc(
            serde_json::json!({"maxReplicaLagSeconds": 5, "maxAmiAgeSeconds": 3600}),
        ))
        .unwrap();
        assert_eq!(set.readiness.max_replica_lag_seconds, 5);
        assert_eq!(set.readiness.max_ami_age_seconds, 3600);
        for bad in [
            serde_json::json!({"maxAmiAgeSeconds": 0}),
            serde_json::json!({"maxAmiAge": 5}),
        ] {
            let err = PilotLightConfig::from_json(doc(bad)).unwrap_err();
            assert_eq!(err.error_type(), "ConfigInvalid");
            assert!(err.to_string().contains("readiness"), "{err}");
        }
    }
}
