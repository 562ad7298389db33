//! The stack's EventBridge rules on the emulator's real event buses: a rule's `EventPattern` and
//! `InputTransformer` are read from `template.yaml` (or `forwarder.yaml`) with the parameters
//! resolved, and put on a bus of the test's own (so tests on the shared emulator never see each
//! other's events). moto matches the pattern and applies the transformer; it cannot deliver to a Step
//! Functions target, so the target here is an SQS queue that records what the state machine would
//! have been started with (the emulation gap is in docs/deployment.md).
#![allow(dead_code)]

use aws_sdk_eventbridge::types::{InputTransformer, PutEventsRequestEntry, Target};
use pilot_light_e2e::{repo_root, World, ACCOUNT_ID};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;

/// Parameter values to resolve `!Ref` / `!Sub` with: the template's defaults, then `overrides`.
pub fn parameters(doc: &Yaml, overrides: &[(&str, Value)]) -> BTreeMap<String, Value> {
    let mut params = BTreeMap::new();
    for (name, spec) in doc["Parameters"].as_mapping().into_iter().flatten() {
        let name = name.as_str().unwrap().to_string();
        let default = match &spec["Default"] {
            Yaml::String(s) if spec["Type"].as_str() == Some("CommaDelimitedList") => {
                Value::from(s.split(',').map(str::trim).collect::<Vec<_>>())
            }
            Yaml::String(s) => Value::from(s.as_str()),
            Yaml::Number(n) => Value::from(n.as_i64().unwrap_or_default()),
            _ => Value::Null,
        };
        params.insert(name, default);
    }
    for (name, value) in overrides {
        params.insert(name.to_string(), value.clone());
    }
    params.insert("AWS::Region".into(), Value::from("us-west-2"));
    params.insert("AWS::AccountId".into(), Value::from(ACCOUNT_ID));
    params.insert("AWS::Partition".into(), Value::from("aws"));
    params
}

/// A template value with `!Ref` and `!Sub` of parameters resolved, as JSON.
pub fn resolve(value: &Yaml, params: &BTreeMap<String, Value>) -> Value {
    match value {
        Yaml::Tagged(t) if t.tag == "!Ref" => {
            let name = t.value.as_str().unwrap();
            params
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("!Ref {name}: not a parameter"))
        }
        Yaml::Tagged(t) if t.tag == "!Sub" => {
            let mut text = t.value.as_str().expect("!Sub of a string").to_string();
            for (name, v) in params {
                if let Some(s) = v.as_str() {
                    text = text.replace(&format!("${{{name}}}"), s);
                }
            }
            assert!(!text.contains("${"), "unresolved !Sub: {text}");
            Value::from(text)
        }
        Yaml::Tagged(t) => panic!("cannot resolve {} here", t.tag),
        Yaml::Sequence(items) => {
            // A `!Ref` to a list parameter inside a list (`[!Ref PrimaryRegion]` is a list of one).
            let mut out = Vec::new();
            for item in items {
                match resolve(item, params) {
                    Value::Array(inner) if matches!(item, Yaml::Tagged(_)) => out.extend(inner),
                    other => out.push(other),
                }
            }
            Value::Array(out)
        }
        Yaml::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), resolve(v, params)))
                .collect(),
        ),
        Yaml::String(s) => Value::from(s.as_str()),
        Yaml::Bool(b) => Value::from(*b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap(),
        Yaml::Null => Value::Null,
    }
}

pub fn load(name: &str) -> Yaml {
    serde_yaml::from_str(&std::fs::read_to_string(repo_root().join(name)).unwrap()).unwrap()
}

/// A sample event of `events/state-machines/`.
pub fn sample(name: &str) -> Value {
    let path = repo_root().join("events/state-machines").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A test's own event bus in `region`, deleted (rules first) when the world is dropped.
pub async fn event_bus(world: &World, region: &str, suffix: &str) -> (String, String) {
    let events = aws_sdk_eventbridge::Client::new(&world.config(region));
    let name = world.name(suffix);
    let arn = events
        .create_event_bus()
        .name(&name)
        .send()
        .await
        .expect("create event bus")
        .event_bus_arn()
        .expect("bus ARN")
        .to_string();
    let (bus, region) = (name.clone(), region.to_string());
    world.defer_cleanup(Box::new(move |base| {
        Box::pin(async move {
            let config = base
                .to_builder()
                .region(aws_config::Region::new(region))
                .build();
            let events = aws_sdk_eventbridge::Client::new(&config);
            if let Ok(rules) = events.list_rules().event_bus_name(&bus).send().await {
                for rule in rules.rules() {
                    let name = rule.name().unwrap_or_default();
                    let _ = events
                        .remove_targets()
                        .rule(name)
                        .event_bus_name(&bus)
                        .ids("target")
                        .send()
                        .await;
                    let _ = events
                        .delete_rule()
                        .name(name)
                        .event_bus_name(&bus)
                        .send()
                        .await;
                }
            }
            let _ = events.delete_event_bus().name(&bus).send().await;
        })
    }));
    (name, arn)
}

/// A queue of this world standing in for a rule's target, deleted with the world.
pub async fn target_queue(world: &World, region: &str, suffix: &str) -> (String, String) {
    let (url, arn) = world.create_queue(region, &world.name(suffix)).await;
    let (queue, region) = (url.clone(), region.to_string());
    world.defer_cleanup(Box::new(move |base| {
        Box::pin(async move {
            let config = base
                .to_builder()
                .region(aws_config::Region::new(region))
                .build();
            let _ = aws_sdk_sqs::Client::new(&config)
                .delete_queue()
                .queue_url(queue)
                .send()
                .await;
        })
    }));
    (url, arn)
}

/// Puts the rule `logical_id` of `doc` on `bus` in `region`, targeting `target_arn` with the rule's
/// own input transformer (if any). Returns the resolved pattern.
pub async fn install_rule(
    world: &World,
    doc: &Yaml,
    logical_id: &str,
    params: &BTreeMap<String, Value>,
    region: &str,
    bus: &str,
    target_arn: &str,
) -> Value {
    let props = &doc["Resources"][logical_id]["Properties"];
    assert_eq!(
        doc["Resources"][logical_id]["Type"].as_str(),
        Some("AWS::Events::Rule"),
        "{logical_id}"
    );
    let pattern = resolve(&props["EventPattern"], params);
    let events = aws_sdk_eventbridge::Client::new(&world.config(region));
    let rule_name = resolve(&props["Name"], params);
    events
        .put_rule()
        .name(rule_name.as_str().unwrap())
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .expect("put rule");
    let targets = props["Targets"].as_sequence().expect("Targets");
    assert_eq!(targets.len(), 1, "{logical_id}: one target");
    let mut target = Target::builder().id("target").arn(target_arn);
    let transformer = &targets[0]["InputTransformer"];
    if !transformer.is_null() {
        let paths = resolve(&transformer["InputPathsMap"], params);
        let template = resolve(&transformer["InputTemplate"], params);
        let mut t = InputTransformer::builder().input_template(template.as_str().unwrap());
        for (k, v) in paths.as_object().unwrap() {
            t = t.input_paths_map(k, v.as_str().unwrap());
        }
        target = target.input_transformer(t.build().unwrap());
    }
    let constant = &targets[0]["Input"];
    if !constant.is_null() {
        target = target.input(resolve(constant, params).as_str().unwrap());
    }
    events
        .put_targets()
        .rule(rule_name.as_str().unwrap())
        .event_bus_name(bus)
        .targets(target.build().unwrap())
        .send()
        .await
        .expect("put targets");
    pattern
}

/// Puts a sample event (as its service would send it) on `bus` in `region`.
pub async fn put_sample(world: &World, region: &str, bus: &str, event: &Value) {
    let events = aws_sdk_eventbridge::Client::new(&world.config(region));
    let mut entry = PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(event["source"].as_str().unwrap())
        .detail_type(event["detail-type"].as_str().unwrap())
        .detail(event["detail"].to_string());
    for resource in event["resources"].as_array().into_iter().flatten() {
        entry = entry.resources(resource.as_str().unwrap());
    }
    let out = events
        .put_events()
        .entries(entry.build())
        .send()
        .await
        .expect("put events");
    assert_eq!(out.failed_entry_count(), 0, "{out:?}");
}

/// Every message in the queue now (EventBridge delivery in the emulator happens inside PutEvents),
/// as JSON, deleted as read.
pub async fn delivered(world: &World, region: &str, queue_url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&world.config(region));
    let mut out = Vec::new();
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("receive");
        if received.messages().is_empty() {
            return out;
        }
        for message in received.messages() {
            let body = message.body().unwrap_or_default();
            out.push(serde_json::from_str(body).unwrap_or_else(|_| json!({ "raw": body })));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .expect("delete message");
        }
    }
}

/// A rule of `template.yaml` (defaults, with this world's env, the alarm name the samples use and
/// the primary region) on a bus of this world, delivering to a queue of its own: what the rule makes
/// of an event is what the failover state machine would be started with.
pub struct InstalledRule {
    bus: String,
    queue: String,
}

/// The alarm name of the `failover-alarm*.json` samples.
pub const SAMPLE_ALARM: &str = "prod-primary-application-health";

impl InstalledRule {
    pub async fn new(world: &World, logical_id: &str) -> Self {
        let doc = load("template.yaml");
        let params = parameters(
            &doc,
            &[
                ("EnvName", Value::from(world.env.as_str())),
                ("HealthAlarmNames", json!([SAMPLE_ALARM])),
                (
                    "PrimaryRegion",
                    Value::from(pilot_light_e2e::PRIMARY_REGION),
                ),
            ],
        );
        let suffix = logical_id.to_lowercase();
        let (bus, _) = event_bus(
            world,
            pilot_light_e2e::STANDBY_REGION,
            &format!("{suffix}-bus"),
        )
        .await;
        let (queue, queue_arn) =
            target_queue(world, pilot_light_e2e::STANDBY_REGION, &suffix).await;
        install_rule(
            world,
            &doc,
            logical_id,
            &params,
            pilot_light_e2e::STANDBY_REGION,
            &bus,
            &queue_arn,
        )
        .await;
        Self { bus, queue }
    }

    /// The inputs the rule delivered for `event` (none when it does not match).
    pub async fn inputs_for(&self, world: &World, event: &Value) -> Vec<Value> {
        put_sample(world, pilot_light_e2e::STANDBY_REGION, &self.bus, event).await;
        delivered(world, pilot_light_e2e::STANDBY_REGION, &self.queue).await
    }

    /// The one input the rule delivered for `event`.
    pub async fn input_for(&self, world: &World, event: &Value) -> Value {
        let mut got = self.inputs_for(world, event).await;
        assert_eq!(got.len(), 1, "one delivery for {event}: {got:?}");
        got.remove(0)
    }
}
