//! User hooks: Lambda functions of the team's own that failover and failback invoke at fixed points
//! ("install and configure any non-AMI-driven systems": warm caches, rotate a secret, tell a partner).
//!
//! Points, in the order a run passes them:
//!
//! | failover         | failback         | runs                                                     |
//! |------------------|------------------|----------------------------------------------------------|
//! | `beforeFailover` | `beforeFailback` | after the lock is taken, before anything changes         |
//! | `afterDatabases` | `afterDatabases` | once every database serves (and is resized, unless in background) |
//! | `afterCompute`   | `afterCompute`   | once every group is healthy and the functions are switched |
//! | `afterTraffic`   | `afterTraffic`   | once the records point at the new active region and the state says so |
//!
//! Hooks of one point run one after the other, in the order listed. Every hook has a timeout (at
//! most 900 s, the Lambda limit) and says what its failure means: `abort` stops the run on its
//! failure path (alert, lock released), `report` carries on and puts the failure in the report.
//! The state machine's role may invoke only the functions the stack was given
//! (`HookFunctionArns`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::error::PilotLightError;

/// What a hook's failure (error, timeout) does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HookFailure {
    /// Stop the run on its failure path (`HookFailed`).
    Abort,
    /// Carry on; the failure is in the report.
    Report,
}

/// One hook: a Lambda function invoked synchronously at one point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hook {
    /// Logical name (reports, the hook's input).
    pub name: String,
    /// Function name (in the stack's region) or function ARN, optionally with a qualifier.
    pub function_name: String,
    /// Longest the invocation may take, 1–900 s. Default 300.
    #[serde(default = "default_hook_timeout_seconds")]
    pub timeout_seconds: u32,
    /// `abort` or `report`: no default, every team decides.
    pub on_failure: HookFailure,
}

fn default_hook_timeout_seconds() -> u32 {
    300
}

/// The hooks of a failover. Every list is always serialized (the state machine maps over them).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailoverHooks {
    #[serde(default)]
    pub before_failover: Vec<Hook>,
    #[serde(default)]
    pub after_databases: Vec<Hook>,
    #[serde(default)]
    pub after_compute: Vec<Hook>,
    #[serde(default)]
    pub after_traffic: Vec<Hook>,
}

/// The hooks of a failback.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailbackHooks {
    #[serde(default)]
    pub before_failback: Vec<Hook>,
    #[serde(default)]
    pub after_databases: Vec<Hook>,
    #[serde(default)]
    pub after_compute: Vec<Hook>,
    #[serde(default)]
    pub after_traffic: Vec<Hook>,
}

/// All hooks of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub failover: FailoverHooks,
    #[serde(default)]
    pub failback: FailbackHooks,
}

/// The most hooks at one point.
pub const MAX_HOOKS_PER_POINT: usize = 10;

impl FailoverHooks {
    /// `(point, hooks)` in run order.
    pub fn points(&self) -> [(&'static str, &[Hook]); 4] {
        [
            ("beforeFailover", &self.before_failover),
            ("afterDatabases", &self.after_databases),
            ("afterCompute", &self.after_compute),
            ("afterTraffic", &self.after_traffic),
        ]
    }
}

impl FailbackHooks {
    /// `(point, hooks)` in run order.
    pub fn points(&self) -> [(&'static str, &[Hook]); 4] {
        [
            ("beforeFailback", &self.before_failback),
            ("afterDatabases", &self.after_databases),
            ("afterCompute", &self.after_compute),
            ("afterTraffic", &self.after_traffic),
        ]
    }
}

impl Hooks {
    /// Every hook with its field path (`hooks.failover.afterTraffic[0]`).
    pub fn all(&self) -> Vec<(String, &Hook)> {
        let mut out = Vec::new();
        for (kind, points) in [
            ("failover", self.failover.points()),
            ("failback", self.failback.points()),
        ] {
            for (point, hooks) in points {
                for (i, hook) in hooks.iter().enumerate() {
                    out.push((format!("hooks.{kind}.{point}[{i}]"), hook));
                }
            }
        }
        out
    }

    /// Checks names, function names, timeouts and counts.
    pub fn validate(&self) -> Result<(), PilotLightError> {
        for (kind, points) in [
            ("failover", self.failover.points()),
            ("failback", self.failback.points()),
        ] {
            let mut names = BTreeSet::new();
            for (point, hooks) in points {
                if hooks.len() > MAX_HOOKS_PER_POINT {
                    return Err(PilotLightError::config(
                        format!("hooks.{kind}.{point}"),
                        format!("at most {MAX_HOOKS_PER_POINT} hooks per point"),
                    ));
                }
                for (i, hook) in hooks.iter().enumerate() {
                    let at = |f: &str| format!("hooks.{kind}.{point}[{i}].{f}");
                    let name_ok = !hook.name.is_empty()
                        && hook.name.len() <= 64
                        && hook
                            .name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if !name_ok {
                        return Err(PilotLightError::config(
                            at("name"),
                            "1–64 letters, digits, `-` or `_`",
                        ));
                    }
                    if !names.insert(hook.name.as_str()) {
                        return Err(PilotLightError::config(
                            at("name"),
                            format!("duplicate hook name `{}` in the {kind} hooks", hook.name),
                        ));
                    }
                    if let Err(reason) = check_hook_function(&hook.function_name) {
                        return Err(PilotLightError::config(at("functionName"), reason));
                    }
                    if !(1..=900).contains(&hook.timeout_seconds) {
                        return Err(PilotLightError::config(
                            at("timeoutSeconds"),
                            "must be between 1 and 900 (the Lambda limit)",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A Lambda function name (`name`, `name:qualifier`) or ARN
/// (`arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]`).
pub fn check_hook_function(value: &str) -> Result<(), String> {
    let name_ok = |name: &str| {
        !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let qualifier_ok = |q: Option<&str>| {
        q.is_none_or(|q| {
            !q.is_empty()
                && q.len() <= 128
                && q.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '$')
        })
    };
    let ok = if value.starts_with("arn:") {
        let parts: Vec<&str> = value.split(':').collect();
        (7..=8).contains(&parts.len())
            && parts[1].starts_with("aws")
            && parts[2] == "lambda"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5] == "function"
            && name_ok(parts[6])
            && qualifier_ok(parts.get(7).copied())
    } else {
        match value.split_once(':') {
            Some((name, qualifier)) => name_ok(name) && qualifier_ok(Some(qualifier)),
            None => name_ok(value),
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is neither a Lambda function name nor a function ARN"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn function_names_and_arns() {
        for (value, ok) in [
            ("warm-caches", true),
            ("warm-caches:live", true),
            (
                "arn:aws:lambda:us-west-2:123456789012:function:warm-caches",
                true,
            ),
            (
                "arn:aws:lambda:us-west-2:123456789012:function:warm-caches:3",
                true,
            ),
            ("", false),
            ("warm caches", false),
            ("arn:aws:lambda:us-west-2:123:function:warm-caches", false),
            (
                "arn:aws:s3:us-west-2:123456789012:function:warm-caches",
                false,
            ),
        ] {
            assert_eq!(check_hook_function(value).is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let hooks = |doc: serde_json::Value| serde_json::from_value::<Hooks>(doc).unwrap();
        let field = |h: Hooks| match h.validate() {
            Err(PilotLightError::ConfigInvalid { field, .. }) => Some(field),
            _ => None,
        };
        let ok = json!({"name": "a", "functionName": "f", "onFailure": "abort"});
        assert_eq!(
            field(hooks(json!({"failover": {"afterTraffic": [ok]}}))),
            None
        );
        assert_eq!(
            field(hooks(
                json!({"failover": {"beforeFailover": [ok], "afterTraffic": [ok]}})
            )),
            Some("hooks.failover.afterTraffic[0].name".into())
        );
        // The same name may serve failover and failback.
        assert_eq!(
            field(hooks(
                json!({"failover": {"afterTraffic": [ok]}, "failback": {"afterTraffic": [ok]}})
            )),
            None
        );
        assert_eq!(
            field(hooks(json!({"failback": {"afterCompute": [
                {"name": "a", "functionName": "f", "onFailure": "report", "timeoutSeconds": 901}
            ]}}))),
            Some("hooks.failback.afterCompute[0].timeoutSeconds".into())
        );
        assert_eq!(
            field(hooks(json!({"failover": {"afterDatabases": [
                {"name": "a", "functionName": "no such", "onFailure": "report"}
            ]}}))),
            Some("hooks.failover.afterDatabases[0].functionName".into())
        );
        assert!(serde_json::from_value::<Hooks>(
            json!({"failover": {"afterDatabases": [{"name": "a", "functionName": "f"}]}})
        )
        .is_err());
    }

    #[test]
    fn every_point_is_serialized_even_when_empty() {
        let value = serde_json::to_value(Hooks::default()).unwrap();
        for point in [
            "beforeFailover",
            "afterDatabases",
            "afterCompute",
            "afterTraffic",
        ] {
            assert_eq!(value["failover"][point], json!([]), "{point}");
        }
        assert_eq!(value["failback"]["beforeFailback"], json!([]));
    }
}
