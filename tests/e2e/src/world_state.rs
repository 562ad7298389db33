//! A picture of everything one world's pilot light consists of, by describe calls, normalized so
//! that two pictures compare: before and after an action in the same world ("the world is
//! unchanged"), or across worlds seeded alike ("a faulted run ends where an unfaulted one does").
//!
//! Normalized: the world's env name becomes `ENV`; the per-execution token in names pilot-light
//! derives from an execution (`-failback-`, `-old-`, `-final-`, `-copy-` followed by 8 hex digits)
//! becomes `<token>`; AMI ids become the image's name; volatile fields (times, execution ids,
//! endpoints, ARNs with generated ids) are left out. A re-run after a crash names what it makes
//! with its own token, so leftovers of the crashed run (kept, never deleted) collapse onto the same
//! normalized name; they are counted under `kept-by-crashed-runs`, not hidden.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

use crate::{World, PRIMARY_REGION, STANDBY_REGION};
use pilot_light_core::capacity_record::capacity_parameter_name;
use pilot_light_core::config::{config_parameter_name, lock_parameter_name, state_parameter_name};

/// Resource key (`rds/us-east-1/ENV-orders`, …) → its normalized description.
pub type WorldState = BTreeMap<String, Value>;

/// The name parts after which pilot-light puts an execution token.
const TOKEN_MARKERS: &[&str] = &["-failback-", "-old-", "-final-", "-copy-", "-drill-"];

/// `text` with the env replaced and execution tokens masked.
pub fn normalize(env: &str, text: &str) -> String {
    let mut out = text.replace(env, "ENV");
    for marker in TOKEN_MARKERS {
        let mut result = String::new();
        let mut rest = out.as_str();
        while let Some(at) = rest.find(marker) {
            let (head, tail) = rest.split_at(at + marker.len());
            result.push_str(head);
            let hex = tail.chars().take_while(|c| c.is_ascii_hexdigit()).count();
            if hex == 8 {
                result.push_str("<token>");
                rest = &tail[8..];
            } else {
                rest = tail;
            }
        }
        result.push_str(rest);
        out = result;
    }
    out
}

/// Two world states' differences, one line each (empty: equal).
pub fn differences(expected: &WorldState, actual: &WorldState) -> Vec<String> {
    let keys: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    keys.into_iter()
        .filter_map(|key| match (expected.get(key), actual.get(key)) {
            (Some(a), Some(b)) if a == b => None,
            (Some(a), Some(b)) => Some(format!("{key}: expected {a}, found {b}")),
            (Some(a), None) => Some(format!("{key}: expected {a}, missing")),
            (None, Some(b)) => Some(format!("{key}: not expected, found {b}")),
            (None, None) => None,
        })
        .collect()
}

impl World {
    /// The normalized state of this world's resources in both regions (see the module docs).
    pub async fn world_state(&self) -> WorldState {
        let mut state = WorldState::new();
        let mut image_names = BTreeMap::new();
        for region in [PRIMARY_REGION, STANDBY_REGION] {
            self.images_state(region, &mut state, &mut image_names)
                .await;
        }
        for region in [PRIMARY_REGION, STANDBY_REGION] {
            self.databases_state(region, &mut state).await;
            self.launch_templates_state(region, &image_names, &mut state)
                .await;
            self.groups_state(region, &mut state).await;
            self.parameters_state(region, &mut state).await;
            self.functions_state(region, &mut state).await;
        }
        self.records_state(&mut state).await;
        state
    }

    async fn images_state(
        &self,
        region: &str,
        state: &mut WorldState,
        names: &mut BTreeMap<String, String>,
    ) {
        let images = self
            .ec2(region)
            .describe_images()
            .owners("self")
            .send()
            .await
            .expect("describe images");
        for image in images.images() {
            let name = image.name().unwrap_or_default();
            if !name.starts_with(self.env.as_str()) {
                continue;
            }
            let normalized = normalize(&self.env, name);
            names.insert(
                image.image_id().unwrap_or_default().to_string(),
                normalized.clone(),
            );
            state.insert(
                format!("image/{region}/{normalized}"),
                json!({"state": image.state().map(|s| s.as_str())}),
            );
        }
    }

    async fn databases_state(&self, region: &str, state: &mut WorldState) {
        let rds = self.rds(region);
        let instances = rds
            .describe_db_instances()
            .send()
            .await
            .expect("describe DB instances");
        let mut kept = 0;
        for db in instances.db_instances() {
            let id = db.db_instance_identifier().unwrap_or_default();
            if !id.starts_with(self.env.as_str()) {
                continue;
            }
            let key = format!("rds/{region}/{}", normalize(&self.env, id));
            if state.contains_key(&key) {
                kept += 1;
            }
            state.insert(
                key,
                json!({
                    "status": db.db_instance_status(),
                    "replicaOf": db.read_replica_source_db_instance_identifier().map(|s| normalize(&self.env, s)),
                    "class": db.db_instance_class(),
                    "multiAz": db.multi_az(),
                    "backupRetention": db.backup_retention_period(),
                    "storageGib": db.allocated_storage(),
                }),
            );
        }
        let snapshots = rds
            .describe_db_snapshots()
            .snapshot_type("manual")
            .send()
            .await
            .expect("describe DB snapshots");
        for snapshot in snapshots.db_snapshots() {
            let id = snapshot.db_snapshot_identifier().unwrap_or_default();
            if !id.starts_with(self.env.as_str()) {
                continue;
            }
            let key = format!("rds-snapshot/{region}/{}", normalize(&self.env, id));
            if state.contains_key(&key) {
                kept += 1;
            }
            state.insert(
                key,
                json!({"of": snapshot.db_instance_identifier().map(|s| normalize(&self.env, s))}),
            );
        }
        if kept > 0 {
            state.insert(format!("kept-by-crashed-runs/{region}"), json!(kept));
        }
    }

    async fn launch_templates_state(
        &self,
        region: &str,
        image_names: &BTreeMap<String, String>,
        state: &mut WorldState,
    ) {
        let ec2 = self.ec2(region);
        let templates = ec2
            .describe_launch_templates()
            .send()
            .await
            .expect("describe launch templates");
        for template in templates.launch_templates() {
            let name = template.launch_template_name().unwrap_or_default();
            if !name.starts_with(self.env.as_str()) {
                continue;
            }
            let default = ec2
                .describe_launch_template_versions()
                .launch_template_name(name)
                .versions("$Default")
                .send()
                .await
                .expect("describe launch template version");
            let data = default
                .launch_template_versions()
                .first()
                .and_then(|v| v.launch_template_data());
            let image = data.and_then(|d| d.image_id()).map(|id| {
                image_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("unknown image {id}"))
            });
            state.insert(
                format!("launch-template/{region}/{}", normalize(&self.env, name)),
                json!({
                    "defaultImage": image,
                    "instanceType": data.and_then(|d| d.instance_type()).map(|t| t.as_str().to_string()),
                    "userData": data.and_then(|d| d.user_data()).is_some(),
                }),
            );
        }
    }

    async fn groups_state(&self, region: &str, state: &mut WorldState) {
        let groups = self
            .autoscaling(region)
            .describe_auto_scaling_groups()
            .send()
            .await
            .expect("describe groups");
        for group in groups.auto_scaling_groups() {
            let name = group.auto_scaling_group_name().unwrap_or_default();
            if !name.starts_with(self.env.as_str()) {
                continue;
            }
            let in_service = group
                .instances()
                .iter()
                .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
                .count();
            let tags: BTreeMap<String, String> = group
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .filter(|(k, _)| k.starts_with("pilot-light:") && k != "pilot-light:env")
                .collect();
            state.insert(
                format!("group/{region}/{}", normalize(&self.env, name)),
                json!({
                    "min": group.min_size(),
                    "max": group.max_size(),
                    "desired": group.desired_capacity(),
                    "inService": in_service,
                    "tags": tags,
                }),
            );
        }
    }

    async fn parameters_state(&self, region: &str, state: &mut WorldState) {
        let ssm = self.ssm(region);
        let mut token = None;
        let prefix = format!("/pilot-light/{}/", self.env);
        loop {
            let page = ssm
                .get_parameters_by_path()
                .path(&prefix)
                .recursive(true)
                .with_decryption(false)
                .set_next_token(token)
                .send()
                .await
                .expect("list parameters");
            for parameter in page.parameters() {
                let name = parameter.name().unwrap_or_default();
                let value = parameter.value().unwrap_or_default();
                let described = if name == state_parameter_name(&self.env) {
                    let document: Value = serde_json::from_str(value).unwrap_or(Value::Null);
                    json!({
                        "activeRegion": document["activeRegion"],
                        "primaryCapacity": document["primaryCapacity"],
                    })
                } else if name == capacity_parameter_name(&self.env) {
                    // the sizes; when they were recorded differs between worlds
                    let document: Value = serde_json::from_str(value).unwrap_or(Value::Null);
                    let groups = document["groups"].as_object().cloned().unwrap_or_default();
                    json!(groups
                        .iter()
                        .map(|(name, g)| (name.clone(), json!([g["desired"], g["min"], g["max"]])))
                        .collect::<serde_json::Map<String, Value>>())
                } else if name == lock_parameter_name(&self.env) {
                    json!("held")
                } else if name == config_parameter_name(&self.env) {
                    // written by the operator, never by pilot-light; holds generated ids
                    json!("present")
                } else {
                    json!(normalize(&self.env, value))
                };
                state.insert(
                    format!("parameter/{region}/{}", normalize(&self.env, name)),
                    described,
                );
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }

    async fn functions_state(&self, region: &str, state: &mut WorldState) {
        let lambda = aws_sdk_lambda::Client::new(&self.config(region));
        let functions = lambda
            .list_functions()
            .send()
            .await
            .expect("list functions");
        for function in functions.functions() {
            let name = function.function_name().unwrap_or_default();
            if !name.starts_with(self.env.as_str()) {
                continue;
            }
            let concurrency = lambda
                .get_function_concurrency()
                .function_name(name)
                .send()
                .await
                .ok()
                .and_then(|c| c.reserved_concurrent_executions());
            let mappings = lambda
                .list_event_source_mappings()
                .function_name(name)
                .send()
                .await
                .expect("list mappings");
            let mapping_states: Vec<Option<&str>> = mappings
                .event_source_mappings()
                .iter()
                .map(|m| m.state())
                .collect();
            state.insert(
                format!("function/{region}/{}", normalize(&self.env, name)),
                json!({"reservedConcurrency": concurrency, "mappings": mapping_states}),
            );
        }
        let rules = aws_sdk_eventbridge::Client::new(&self.config(region))
            .list_rules()
            .name_prefix(&self.env)
            .send()
            .await
            .expect("list rules");
        for rule in rules.rules() {
            state.insert(
                format!(
                    "rule/{region}/{}",
                    normalize(&self.env, rule.name().unwrap_or_default())
                ),
                json!(rule.state().map(|s| s.as_str())),
            );
        }
    }

    async fn records_state(&self, state: &mut WorldState) {
        let route53 = self.route53();
        let zones = route53
            .list_hosted_zones()
            .send()
            .await
            .expect("list hosted zones");
        for zone in zones.hosted_zones() {
            if !zone.name().starts_with(self.env.as_str()) {
                continue;
            }
            let records = route53
                .list_resource_record_sets()
                .hosted_zone_id(zone.id())
                .send()
                .await
                .expect("list records");
            for record in records.resource_record_sets() {
                let kind = record.r#type().as_str();
                if kind == "NS" || kind == "SOA" {
                    continue;
                }
                let values: Vec<String> = record
                    .resource_records()
                    .iter()
                    .map(|r| normalize(&self.env, r.value()))
                    .collect();
                state.insert(
                    format!(
                        "record/{}/{kind}/{}",
                        normalize(&self.env, record.name()),
                        record.set_identifier().unwrap_or("-")
                    ),
                    json!({"values": values, "weight": record.weight()}),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_masks_the_env_and_execution_tokens_only() {
        let cases = [
            ("abc-123456-orders", "ENV-orders"),
            ("abc-123456-orders-old-0a1b2c3d", "ENV-orders-old-<token>"),
            (
                "abc-123456-orders-dr-final-deadbeef",
                "ENV-orders-dr-final-<token>",
            ),
            ("abc-123456-orders-old-xyz", "ENV-orders-old-xyz"),
            (
                "abc-123456-orders-old-0a1b2c3d4",
                "ENV-orders-old-0a1b2c3d4",
            ),
            ("other-orders", "other-orders"),
        ];
        for (raw, expected) in cases {
            assert_eq!(normalize("abc-123456", raw), expected, "{raw}");
        }
    }

    #[test]
    fn differences_name_each_key_that_differs() {
        let a = WorldState::from([("x".into(), json!(1)), ("y".into(), json!(2))]);
        let b = WorldState::from([("x".into(), json!(1)), ("z".into(), json!(3))]);
        let diff = differences(&a, &b);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].starts_with("y: expected 2, missing"));
        assert!(diff[1].starts_with("z: not expected"));
        assert!(differences(&a, &a).is_empty());
    }
}
