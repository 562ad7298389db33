//! Fault injection through the emulator's `/pilot-light/faults` endpoint: the next N requests of an
//! operation fail as the real service fails (throttling, a 5xx, a request that hangs past the
//! handlers' attempt timeout, a request applied whose answer is lost). Rules carry the world's env as their label and are removed with it.

use serde::Deserialize;
use serde_json::json;

use crate::world::http;
use crate::World;

/// How an injected request fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// The service's throttling error (`Throttling`, `RequestLimitExceeded`, …).
    Throttle,
    /// A 5xx.
    Unavailable,
    /// The request hangs past the client's attempt timeout, then a 504.
    Timeout,
    /// The request is applied, and its answer lost: the caller gets a 5xx, and its retry meets
    /// what the first attempt did (`DBSnapshotAlreadyExists`, no replica to promote, …).
    Lost,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] = [Self::Throttle, Self::Unavailable, Self::Timeout, Self::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Lost => "lost",
        }
    }
}

impl Operation {
    pub fn new(service: &str, action: &str) -> Self {
        Self {
            service: service.to_string(),
            action: action.to_string(),
        }
    }
}

/// One operation to fail: `service` is the SigV4 signing name (`rds`, `ec2`, `autoscaling`, `ssm`,
/// `lambda`, `events`, `route53`, `s3`, …), `action` the operation name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub struct Operation {
    pub service: String,
    pub action: String,
}

/// A fault rule as the emulator reports it, with how many faults it has served.
#[derive(Clone, Debug, Deserialize)]
pub struct ServedFault {
    pub service: String,
    pub action: Option<String>,
    pub kind: String,
    pub count: u32,
    pub served: u32,
    pub label: Option<String>,
}

impl World {
    /// Makes the next `count` requests of each operation fail with `kind`.
    pub fn inject_faults(&self, operations: &[Operation], kind: FaultKind, count: u32) {
        self.add_fault_rules(operations, kind, count, None);
    }

    /// Like [`World::inject_faults`], for this world's requests only: those with a parameter that
    /// names the env (an identifier, an image name), so tests running beside it never take them.
    pub fn inject_faults_into_this_world(
        &self,
        operations: &[Operation],
        kind: FaultKind,
        count: u32,
    ) {
        self.add_fault_rules(operations, kind, count, Some(&self.env));
    }

    fn add_fault_rules(
        &self,
        operations: &[Operation],
        kind: FaultKind,
        count: u32,
        mentions: Option<&str>,
    ) {
        let rules: Vec<_> = operations
            .iter()
            .map(|op| {
                json!({
                    "service": op.service,
                    "action": op.action,
                    "kind": kind.as_str(),
                    "count": count,
                    "label": self.env,
                    "mentions": mentions,
                    // the harness's own describe calls (set-up, checks) never fail
                    "exceptUserAgent": crate::world::HARNESS_APP_NAME,
                })
            })
            .collect();
        let body = json!({ "rules": rules }).to_string();
        let (status, text) = http(
            &self.aws.moto_url,
            "POST",
            "/pilot-light/faults",
            Some(&body),
        );
        assert_eq!(status, 200, "inject faults: {text}");
    }

    /// This world's fault rules and what each has served.
    pub fn faults(&self) -> Vec<ServedFault> {
        let (status, text) = http(&self.aws.moto_url, "GET", "/pilot-light/faults", None);
        assert_eq!(status, 200, "read faults: {text}");
        let value: serde_json::Value = serde_json::from_str(&text).expect("faults JSON");
        let rules: Vec<ServedFault> =
            serde_json::from_value(value["rules"].clone()).expect("fault rules");
        rules
            .into_iter()
            .filter(|r| r.label.as_deref() == Some(self.env.as_str()))
            .collect()
    }

    /// Removes this world's fault rules.
    pub fn clear_faults(&self) {
        let _ = http(
            &self.aws.moto_url,
            "DELETE",
            &format!("/pilot-light/faults?label={}", self.env),
            None,
        );
    }

    /// The AWS operations (service, action) the handlers called after `since`: what a run used.
    /// Left out: Step Functions (the harness polls it) and Lambda `Invoke` — the emulator's Step
    /// Functions engine invoking the handlers, whose failures it reports as a bare `Exception`
    /// instead of the `Lambda.*` errors the state machines retry (see docs/emulation notes); no
    /// handler calls Invoke.
    pub fn operations_since(&self, since: u64) -> Vec<Operation> {
        let mut operations: Vec<Operation> = self
            .requests_since(since)
            .0
            .into_iter()
            .filter(|r| !r.service.is_empty() && !r.action.is_empty() && r.service != "states")
            .filter(|r| !(r.service == "lambda" && r.action == "Invoke"))
            .map(|r| Operation {
                service: r.service,
                action: r.action,
            })
            .collect();
        operations.sort();
        operations.dedup();
        operations
    }
}
