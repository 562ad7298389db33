//! Static checks of the state machines and the template, without the emulator: the rules of
//! `docs/architecture.md` (every Task has a timeout, Retry and Catch; every loop is bounded) and the
//! cross-references between ASL, template and crates (every `${X}` is substituted, every `CodeUri` is
//! a crate, every `ErrorEquals` name is one a handler or the service can raise).

use pilot_light_core::error::ERROR_TYPES;
use pilot_light_e2e::{repo_root, template};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const LAMBDA_SERVICE_ERRORS: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

fn asl_files() -> Vec<(String, Value)> {
    let dir = repo_root().join("state-machines");
    let mut files: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("state-machines/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = format!(
                "state-machines/{}",
                p.file_name().unwrap().to_string_lossy()
            );
            let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, value)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!files.is_empty(), "no state machines");
    files
}

/// Every `States` map in a definition, nested ones (Map, Parallel) included, with a path for messages.
fn state_maps<'a>(
    at: &str,
    machine: &'a Value,
    out: &mut Vec<(String, &'a serde_json::Map<String, Value>)>,
) {
    let Some(states) = machine.get("States").and_then(Value::as_object) else {
        return;
    };
    out.push((at.to_string(), states));
    for (name, state) in states {
        for key in ["ItemProcessor", "Iterator"] {
            if let Some(inner) = state.get(key) {
                state_maps(&format!("{at}/{name}"), inner, out);
            }
        }
        if let Some(branches) = state.get("Branches").and_then(Value::as_array) {
            for (i, branch) in branches.iter().enumerate() {
                state_maps(&format!("{at}/{name}[{i}]"), branch, out);
            }
        }
    }
}

fn all_states(
    file: &str,
    machine: &Value,
) -> Vec<(String, String, Value, BTreeMap<String, Value>)> {
    let mut maps = Vec::new();
    state_maps(file, machine, &mut maps);
    let mut out = Vec::new();
    for (at, states) in maps {
        let siblings: BTreeMap<String, Value> =
            states.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, state) in states {
            out.push((at.clone(), name.clone(), state.clone(), siblings.clone()));
        }
    }
    out
}

#[test]
fn every_task_has_a_timeout_retry_and_catch_and_lambda_tasks_retry_service_errors() {
    let mut tasks = 0;
    for (file, machine) in asl_files() {
        for (at, name, state, _) in all_states(&file, &machine) {
            let kind = state["Type"].as_str().unwrap_or_default();
            if !matches!(kind, "Task" | "Map" | "Parallel") {
                continue;
            }
            let retry = state
                .get("Retry")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let catch = state
                .get("Catch")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            assert!(!catch.is_empty(), "{at}/{name}: {kind} without Catch");
            let catches_all = catch.iter().any(|c| {
                c["ErrorEquals"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|x| x == "States.ALL"))
            });
            assert!(catches_all, "{at}/{name}: the Catch must end in States.ALL so no failure escapes the failure path");
            if kind != "Task" {
                continue;
            }
            tasks += 1;
            let resource = state["Resource"].as_str().unwrap_or_default();
            // A user hook (the team's own function, invoked by name) takes its timeout from the
            // configuration, which validates it to 1..=900 s.
            let is_hook = resource == "arn:aws:states:::lambda:invoke";
            let timeout = state.get("TimeoutSeconds").and_then(Value::as_u64);
            let hook_timeout = is_hook
                && state.get("TimeoutSecondsPath").and_then(Value::as_str)
                    == Some("$.hook.timeoutSeconds");
            assert!(
                timeout.is_some_and(|t| (1..=900).contains(&t)) || hook_timeout,
                "{at}/{name}: TimeoutSeconds missing or out of 1..=900"
            );
            assert!(!retry.is_empty(), "{at}/{name}: Task without Retry");
            let is_lambda = resource.contains("FunctionArn}") || resource.contains(":lambda:");
            if is_lambda {
                let retried: BTreeSet<&str> = retry
                    .iter()
                    .flat_map(|r| r["ErrorEquals"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                for error in LAMBDA_SERVICE_ERRORS {
                    assert!(retried.contains(error), "{at}/{name}: Retry lacks {error}");
                }
                if is_hook {
                    // A hook may not be idempotent: only Lambda's own errors are retried, never
                    // the function's.
                    assert!(
                        retried.iter().all(|e| LAMBDA_SERVICE_ERRORS.contains(e)),
                        "{at}/{name}: a hook's Retry may name only Lambda service errors"
                    );
                } else {
                    assert!(
                        retried.contains("Throttled"),
                        "{at}/{name}: Retry lacks Throttled"
                    );
                }
            }
            for r in &retry {
                let attempts = r.get("MaxAttempts").and_then(Value::as_u64).unwrap_or(3);
                assert!(
                    (1..=10).contains(&attempts),
                    "{at}/{name}: Retry MaxAttempts {attempts} not in 1..=10"
                );
            }
        }
    }
    assert!(tasks > 0);
}

/// Every cycle in a state graph passes a Choice that compares an attempt counter and can leave the
/// loop for a Fail state: no poll loop runs forever.
#[test]
fn every_loop_is_bounded_by_an_attempt_counter() {
    for (file, machine) in asl_files() {
        let mut maps = Vec::new();
        state_maps(&file, &machine, &mut maps);
        for (at, states) in maps {
            let next = |state: &Value| -> Vec<String> {
                let mut out: Vec<String> = Vec::new();
                if let Some(n) = state.get("Next").and_then(Value::as_str) {
                    out.push(n.into());
                }
                if let Some(d) = state.get("Default").and_then(Value::as_str) {
                    out.push(d.into());
                }
                for c in state
                    .get("Choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(n) = c.get("Next").and_then(Value::as_str) {
                        out.push(n.into());
                    }
                }
                for c in state
                    .get("Catch")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(n) = c.get("Next").and_then(Value::as_str) {
                        out.push(n.into());
                    }
                }
                out
            };
            let bounded = |state: &Value| -> bool {
                state
                    .get("Choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|choice| {
                        let counts = choice
                            .get("Variable")
                            .and_then(Value::as_str)
                            .is_some_and(|v| v.contains("attempts"))
                            && choice.as_object().is_some_and(|o| {
                                o.keys().any(|k| k.starts_with("NumericGreaterThan"))
                            });
                        // Out of the loop to a Fail state, or into the failure path (a Pass that
                        // records the error in `$.failure`, then notifies and releases the lock).
                        let exits_to_fail = choice
                            .get("Next")
                            .and_then(Value::as_str)
                            .and_then(|n| states.get(n))
                            .is_some_and(|s| {
                                s["Type"] == "Fail"
                                    || (s["Type"] == "Pass" && s["ResultPath"] == "$.failure")
                            });
                        counts && exits_to_fail
                    })
            };
            // For every state, find the cycles through it (DFS); each must contain a bounded Choice.
            for start in states.keys() {
                let mut stack: Vec<(String, Vec<String>)> =
                    vec![(start.clone(), vec![start.clone()])];
                while let Some((current, path)) = stack.pop() {
                    for n in next(&states[&current]) {
                        if n == *start {
                            let guarded = path.iter().any(|s| bounded(&states[s]));
                            assert!(guarded, "{at}: the loop {path:?} has no attempt bound leading to a Fail state");
                        } else if !path.contains(&n) && states.contains_key(&n) {
                            let mut longer = path.clone();
                            longer.push(n.clone());
                            stack.push((n, longer));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_error_name_the_asl_matches_can_actually_be_raised() {
    for (file, machine) in asl_files() {
        let states = all_states(&file, &machine);
        // Names this machine raises itself in Fail states.
        let own: BTreeSet<String> = states
            .iter()
            .filter(|(_, _, s, _)| s["Type"] == "Fail")
            .filter_map(|(_, _, s, _)| s.get("Error").and_then(Value::as_str).map(str::to_string))
            .collect();
        for (at, name, state, _) in &states {
            for key in ["Retry", "Catch"] {
                for rule in state
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for error in rule["ErrorEquals"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        let known = ERROR_TYPES.contains(&error)
                            || error.starts_with("States.")
                            || LAMBDA_SERVICE_ERRORS.contains(&error)
                            || error.starts_with("Ssm.")
                            || own.contains(error);
                        assert!(
                            known,
                            "{at}/{name}: {key} matches `{error}`, which nothing raises"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_placeholder_is_substituted_and_every_function_is_a_crate() {
    let specs = template::load().expect("template.yaml");
    let deployed: BTreeSet<String> = specs.iter().map(|s| s.definition_uri.clone()).collect();
    for (file, _) in asl_files() {
        assert!(
            deployed.contains(&file),
            "{file} is not deployed by template.yaml"
        );
    }
    for spec in &specs {
        let text = std::fs::read_to_string(repo_root().join(&spec.definition_uri)).unwrap();
        let mut used = BTreeSet::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            let end = rest[start..].find('}').expect("closing brace") + start;
            used.insert(rest[start + 2..end].to_string());
            rest = &rest[end..];
        }
        let given: BTreeSet<String> = spec.substitutions.keys().cloned().collect();
        assert_eq!(
            used, given,
            "{}: placeholders used vs DefinitionSubstitutions",
            spec.definition_uri
        );
        for binding in spec.substitutions.values() {
            if let template::Binding::Function { crate_name, .. } = binding {
                let manifest = repo_root()
                    .join("crates")
                    .join(crate_name)
                    .join("Cargo.toml");
                let text = std::fs::read_to_string(&manifest)
                    .unwrap_or_else(|_| panic!("{} missing", manifest.display()));
                assert!(
                    text.contains(&format!("name = \"{crate_name}\"")),
                    "{}: package is not {crate_name}",
                    manifest.display()
                );
                assert!(repo_root()
                    .join("crates")
                    .join(crate_name)
                    .join("src/main.rs")
                    .exists());
            }
        }
        // Rendering replaces every placeholder with a local value (tests give the non-function ones).
        let others: BTreeMap<String, String> = spec
            .substitutions
            .iter()
            .filter(|(_, b)| matches!(b, template::Binding::Other(_)))
            .map(|(k, _)| (k.clone(), format!("arn:aws:sns:us-west-2:123456789012:{k}")))
            .collect();
        let rendered = template::render(spec, "us-west-2", &others).expect("render");
        assert!(!rendered.contains("${"));
    }
}

#[test]
fn every_function_in_the_template_is_a_workspace_crate_with_sample_events() {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let workspace = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let mut functions = 0;
    for (id, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        functions += 1;
        let code_uri = resource["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{id:?}: no CodeUri"));
        assert!(
            workspace.contains(&format!("\"{code_uri}\"")),
            "{code_uri} is not a workspace member"
        );
        assert_eq!(
            resource["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id:?}"
        );
        let crate_name = code_uri.rsplit('/').next().unwrap();
        let events = repo_root().join("events").join(crate_name);
        let count = std::fs::read_dir(&events).map(|d| d.count()).unwrap_or(0);
        assert!(
            count > 0,
            "{crate_name} has no sample events in {}",
            events.display()
        );
    }
    assert!(functions > 0);
}

/// The trigger samples carry the field names the real services send, so rules written from them
/// match real events.
#[test]
fn trigger_samples_have_the_real_event_fields() {
    let read = |name: &str| -> Value {
        let path = repo_root().join("events/state-machines").join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let health = read("failover-health.json");
    assert_eq!(health["source"], "aws.health");
    assert_eq!(health["detail-type"], "AWS Health Event");
    for field in ["service", "eventTypeCategory", "statusCode", "eventRegion"] {
        assert!(
            health["detail"][field].is_string(),
            "AWS Health detail.{field}"
        );
    }
    assert_eq!(health["detail"]["eventTypeCategory"], "issue");
    assert_eq!(health["detail"]["statusCode"], "open");
    let alarm = read("failover-alarm.json");
    assert_eq!(alarm["source"], "aws.cloudwatch");
    assert_eq!(alarm["detail-type"], "CloudWatch Alarm State Change");
    assert_eq!(alarm["detail"]["state"]["value"], "ALARM");
    for input in ["failover-manual.json", "failover-triggered.json"] {
        let input = read(input);
        assert!(input["env"].is_string(), "a failover input names its env");
        assert!(matches!(
            input["mode"].as_str(),
            Some("graceful" | "ungraceful")
        ));
        assert!(
            input.get("trigger").is_none()
                || matches!(
                    input["trigger"].as_str(),
                    Some("manual" | "alarm" | "health")
                ),
            "trigger is manual, alarm or health: {input}"
        );
    }
    // The near misses differ from the real samples in exactly the field the rule must not accept.
    for (sample, near_miss, path, value) in [
        (
            "failover-alarm.json",
            "failover-alarm-near-miss-ok.json",
            "/detail/state/value",
            "OK",
        ),
        (
            "failover-alarm.json",
            "failover-alarm-near-miss-other-alarm.json",
            "/detail/alarmName",
            "prod-batch-queue-depth",
        ),
        (
            "failover-health.json",
            "failover-health-near-miss-closed.json",
            "/detail/statusCode",
            "closed",
        ),
        (
            "failover-health.json",
            "failover-health-near-miss-other-region.json",
            "/detail/eventRegion",
            "us-west-2",
        ),
        (
            "failover-health.json",
            "failover-health-near-miss-scheduled-change.json",
            "/detail/eventTypeCategory",
            "scheduledChange",
        ),
    ] {
        let mut expected = read(sample);
        *expected.pointer_mut(path).unwrap() = Value::from(value);
        let got = read(near_miss);
        let strip = |mut v: Value| {
            // Everything but the decisive field (and the descriptive text and ids) is the same.
            for p in [
                "/id",
                "/detail/eventArn",
                "/detail/eventTypeCode",
                "/detail/eventDescription",
                "/detail/state/reason",
                "/detail/state/timestamp",
                "/detail/previousState",
                "/detail/communicationId",
                "/resources",
                "/time",
                "/region",
                "/detail/lastUpdatedTime",
                "/detail/endTime",
                "/detail/eventScopeCode",
            ] {
                if let Some(parent) = v.pointer_mut(&p[..p.rfind('/').unwrap()]) {
                    if let Some(map) = parent.as_object_mut() {
                        map.remove(&p[p.rfind('/').unwrap() + 1..]);
                    }
                }
            }
            v
        };
        assert_eq!(strip(got), strip(expected), "{near_miss} vs {sample}");
    }
}

/// Every function a state machine invokes is granted to it: `LambdaInvokePolicy` with
/// `FunctionName: !Ref <Function>` in the state machine's Policies.
#[test]
fn every_function_a_state_machine_invokes_has_an_invoke_policy() {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let specs = template::load().expect("template.yaml");
    let mut checked = 0;
    for spec in &specs {
        let asl = std::fs::read_to_string(repo_root().join(&spec.definition_uri)).unwrap();
        let policies = doc["Resources"][spec.logical_id.as_str()]["Properties"]["Policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        let granted: BTreeSet<String> = policies
            .iter()
            .filter_map(|p| match &p["LambdaInvokePolicy"]["FunctionName"] {
                serde_yaml::Value::Tagged(t) if t.tag == "!Ref" => {
                    t.value.as_str().map(str::to_string)
                }
                _ => None,
            })
            .collect();
        for (placeholder, binding) in &spec.substitutions {
            if let template::Binding::Function { logical_id, .. } = binding {
                if asl.contains(&format!("${{{placeholder}}}")) {
                    checked += 1;
                    assert!(
                        granted.contains(logical_id),
                        "{}: invokes {logical_id} without a LambdaInvokePolicy for it",
                        spec.logical_id
                    );
                }
            }
        }
    }
    assert!(checked > 0);
}

/// The States Language schema (asl-validator, from `npm ci`) accepts every state machine after
/// substitution, with ARNs of the real shapes where the placeholders were.
#[test]
fn every_state_machine_is_valid_asl_after_substitution() {
    let validator = repo_root().join("node_modules/.bin/asl-validator");
    assert!(
        validator.exists(),
        "{} missing: run `make check` (it runs npm ci) first",
        validator.display()
    );
    let dir = std::env::temp_dir().join(format!("pilot-light-asl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for spec in template::load().expect("template.yaml") {
        let others: BTreeMap<String, String> = spec
            .substitutions
            .iter()
            .filter(|(_, b)| matches!(b, template::Binding::Other(_)))
            .map(|(k, _)| {
                let arn = if k.contains("Topic") {
                    format!("arn:aws:sns:us-west-2:123456789012:pilot-light-prod-{k}")
                } else if k.contains("StateMachine") {
                    format!(
                        "arn:aws:states:us-west-2:123456789012:stateMachine:pilot-light-prod-{k}"
                    )
                } else {
                    format!("arn:aws:lambda:us-west-2:123456789012:function:{k}")
                };
                (k.clone(), arn)
            })
            .collect();
        let rendered = template::render(&spec, "us-west-2", &others).expect("render");
        let path = dir.join(format!("{}.json", spec.logical_id));
        std::fs::write(&path, &rendered).unwrap();
        let out = std::process::Command::new(&validator)
            .arg("--json-path")
            .arg(&path)
            .output()
            .expect("run asl-validator");
        assert!(
            out.status.success(),
            "{} after substitution: {}{}",
            spec.definition_uri,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
