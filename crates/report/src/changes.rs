//! What an execution changed: the handler answers in the state machine's `results` that started or
//! did something, reduced to ids and statuses. Pure: no AWS calls.

use pilot_light_core::StepStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One handler answer found in `results` that changed something (`started` or `done`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub action: String,
    pub status: StepStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(default)]
    pub resources: Vec<String>,
}

/// The handler answers in `results` that changed something: every JSON object with a string
/// `action` and a `status` of `started` or `done`, reported with its `resources` (strings only) and
/// its item (`database`, `group` or `name`, when a string). Nothing else of `results` is kept.
pub fn summarise_changes(results: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    for map in objects_within(results) {
        let action = map.get("action").and_then(Value::as_str);
        let status = map
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value::<StepStatus>(s).ok());
        if let (Some(action), Some(status @ (StepStatus::Started | StepStatus::Done))) =
            (action, status)
        {
            let item = ["database", "group", "name"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str))
                .map(str::to_string);
            let resources = map
                .get("resources")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            changes.push(Change {
                action: action.to_string(),
                status,
                item,
                resources,
            });
        }
    }
    changes
}

/// Every JSON object in `value`, at any depth (bounded at 32 levels), outermost first: the handler
/// answers a state machine gathered into `results`.
pub fn objects_within(value: &Value) -> Vec<&serde_json::Map<String, Value>> {
    fn walk<'a>(value: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>, depth: usize) {
        if depth > 32 {
            return;
        }
        match value {
            Value::Array(items) => items.iter().for_each(|v| walk(v, out, depth + 1)),
            Value::Object(map) => {
                out.push(map);
                map.values().for_each(|v| walk(v, out, depth + 1));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_keep_only_ids_and_statuses() {
        let results = json!({
            "databases": [
                {"database": "orders", "promote": {"action": "promote", "status": "started",
                  "resources": ["arn:aws:rds:us-west-2:1:db:orders-dr"], "dbInstanceStatus": "modifying"}},
                {"database": "billing", "promote": {"action": "promote", "status": "alreadyDone",
                  "resources": ["arn:aws:rds:us-west-2:1:db:billing-dr"]}}
            ],
            "traffic": {"action": "switch", "status": "done", "to": "standby",
                        "resources": ["Z1", 7], "secretLooking": "hunter2"},
            "noise": {"action": "x", "status": "sometimes"}
        });
        let changes = summarise_changes(&results);
        assert_eq!(
            changes,
            vec![
                Change {
                    action: "promote".into(),
                    status: StepStatus::Started,
                    item: None,
                    resources: vec!["arn:aws:rds:us-west-2:1:db:orders-dr".into()],
                },
                Change {
                    action: "switch".into(),
                    status: StepStatus::Done,
                    item: None,
                    resources: vec!["Z1".into()],
                },
            ]
        );
        let text = serde_json::to_string(&changes).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("modifying"));
    }
}
