//! Reads `template.yaml` the way the harness needs it: which state machine file a resource deploys,
//! and what each `${Placeholder}` of its definition stands for. A placeholder bound to
//! `!GetAtt <Function>.Arn` becomes the local ARN of the function whose `CodeUri` names the crate, so
//! the ASL under test is exactly what SAM would deploy.

use serde_yaml::Value;
use std::collections::BTreeMap;

use crate::{repo_root, ACCOUNT_ID};

/// One `AWS::Serverless::StateMachine` of the template.
#[derive(Debug, Clone)]
pub struct StateMachineSpec {
    pub logical_id: String,
    /// Path relative to the repository root (`state-machines/x.asl.json`).
    pub definition_uri: String,
    /// Placeholder name → what it is bound to.
    pub substitutions: BTreeMap<String, Binding>,
}

/// What a `DefinitionSubstitutions` value refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// `!GetAtt X.Arn` of a function: the crate (binary) name from its `CodeUri`.
    Function {
        logical_id: String,
        crate_name: String,
    },
    /// Anything else, as written.
    Other(String),
}

/// Parses the template.
pub fn load() -> Result<Vec<StateMachineSpec>, String> {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text)
}

/// Parses template text (public for the cross-reference tests).
pub fn parse(text: &str) -> Result<Vec<StateMachineSpec>, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("template.yaml: {e}"))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or("template.yaml has no Resources")?;
    let functions: BTreeMap<String, String> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
        .filter_map(|(id, r)| {
            let code_uri = r.get("Properties")?.get("CodeUri")?.as_str()?;
            let crate_name = code_uri
                .trim_end_matches('/')
                .rsplit('/')
                .next()?
                .to_string();
            Some((id.as_str()?.to_string(), crate_name))
        })
        .collect();
    let mut machines = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::StateMachine") {
            continue;
        }
        let id = id.as_str().unwrap_or_default().to_string();
        let props = resource
            .get("Properties")
            .ok_or(format!("{id}: no Properties"))?;
        let definition_uri = props
            .get("DefinitionUri")
            .and_then(Value::as_str)
            .ok_or(format!("{id}: no DefinitionUri"))?
            .to_string();
        let mut substitutions = BTreeMap::new();
        if let Some(map) = props
            .get("DefinitionSubstitutions")
            .and_then(Value::as_mapping)
        {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default().to_string();
                substitutions.insert(key, binding(value, &functions));
            }
        }
        machines.push(StateMachineSpec {
            logical_id: id,
            definition_uri,
            substitutions,
        });
    }
    Ok(machines)
}

fn binding(value: &Value, functions: &BTreeMap<String, String>) -> Binding {
    if let Value::Tagged(tagged) = value {
        if tagged.tag == "!GetAtt" {
            if let Some(target) = tagged.value.as_str() {
                if let Some(logical_id) = target.strip_suffix(".Arn") {
                    if let Some(crate_name) = functions.get(logical_id) {
                        return Binding::Function {
                            logical_id: logical_id.to_string(),
                            crate_name: crate_name.clone(),
                        };
                    }
                }
            }
        }
    }
    Binding::Other(
        serde_yaml::to_string(value)
            .unwrap_or_default()
            .trim()
            .to_string(),
    )
}

/// The local ARN of a function (the bare name is what `cargo lambda watch` serves).
pub fn local_function_arn(region: &str, crate_name: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{crate_name}")
}

/// The state machine definition with every `${X}` replaced; an unknown placeholder is an error.
pub fn render(
    spec: &StateMachineSpec,
    region: &str,
    extra: &BTreeMap<String, String>,
) -> Result<String, String> {
    let path = repo_root().join(&spec.definition_uri);
    let mut text =
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (key, binding) in &spec.substitutions {
        let value = match (extra.get(key), binding) {
            (Some(v), _) => v.clone(),
            (None, Binding::Function { crate_name, .. }) => local_function_arn(region, crate_name),
            (None, Binding::Other(other)) => {
                return Err(format!("{key} = {other}: give a local value"))
            }
        };
        text = text.replace(&format!("${{{key}}}"), &value);
    }
    if let Some(start) = text.find("${") {
        let rest = &text[start..];
        let end = rest.find('}').unwrap_or(rest.len());
        return Err(format!(
            "{}: `{}` is not in DefinitionSubstitutions",
            spec.definition_uri,
            &rest[..=end.min(rest.len() - 1)]
        ));
    }
    Ok(text)
}

/// A function's `Schedule` event as the template declares it: the function (crate) it runs and the
/// constant input EventBridge sends, with `${EnvName}` replaced by `env`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledEvent {
    pub crate_name: String,
    pub input: serde_json::Value,
}

/// Reads `Resources.<function>.Properties.Events.<event>` (a `Schedule` with an `Input`).
pub fn scheduled_event(function: &str, event: &str, env: &str) -> Result<ScheduledEvent, String> {
    let path = repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Value = serde_yaml::from_str(&text).map_err(|e| format!("template.yaml: {e}"))?;
    let props = doc
        .get("Resources")
        .and_then(|r| r.get(function))
        .and_then(|f| f.get("Properties"))
        .ok_or(format!("{function}: no such function"))?;
    let crate_name = props
        .get("CodeUri")
        .and_then(Value::as_str)
        .and_then(|uri| uri.trim_end_matches('/').rsplit('/').next())
        .ok_or(format!("{function}: no CodeUri"))?
        .to_string();
    let declared = props
        .get("Events")
        .and_then(|e| e.get(event))
        .ok_or(format!("{function}: no event {event}"))?;
    if declared.get("Type").and_then(Value::as_str) != Some("Schedule") {
        return Err(format!("{function}.{event} is not a Schedule"));
    }
    let input = declared
        .get("Properties")
        .and_then(|p| p.get("Input"))
        .ok_or(format!("{function}.{event}: no Input"))?;
    // `Input: !Sub '…'` or a plain string.
    let input = match input {
        Value::Tagged(tagged) => &tagged.value,
        plain => plain,
    }
    .as_str()
    .ok_or(format!("{function}.{event}: Input is not a string"))?
    .replace("${EnvName}", env);
    let input = serde_json::from_str(&input)
        .map_err(|e| format!("{function}.{event}: Input is not JSON ({e}): {input}"))?;
    Ok(ScheduledEvent { crate_name, input })
}

#[cfg(test)]
mod scheduled_event_tests {
    use super::*;

    #[test]
    fn the_capacity_record_schedule_sends_record_primary_capacity_for_the_env() {
        let event = scheduled_event("RunStateFunction", "CapacityRecord", "prod").unwrap();
        assert_eq!(event.crate_name, "run-state");
        assert_eq!(
            event.input,
            serde_json::json!({"action": "recordPrimaryCapacity", "env": "prod"})
        );
        assert!(scheduled_event("RunStateFunction", "Nope", "prod").is_err());
    }
}
