//! What capacity a failover (or failback) asked each group for, and the capacity record it came
//! from: the `scale` answers among the results, and `capacityRecordedAt` (the record's time, as
//! `beginFailover` / `beginFailback` read it; `null`: there was no record, so each group got its
//! `capacity.minimum` unless the run state held a capacity).

use pilot_light_core::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapacityAsked {
    /// When the capacity record the run read was written (`None`: no record).
    pub recorded_at: Option<Timestamp>,
    pub groups: Vec<GroupAsked>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupAsked {
    pub group: String,
    pub region: String,
    /// What the capacity policy asked for (from the record).
    pub asked: u32,
    /// What the group was scaled to (`asked`, at most its `MaxSize`).
    pub target: u32,
    pub limited_by_max_size: bool,
}

/// Finds the `scale` answers in `results` (at any depth); `None` when there are none.
pub fn capacity_asked(results: &Value) -> Option<CapacityAsked> {
    let mut groups: Vec<GroupAsked> = crate::objects_within(results)
        .into_iter()
        .filter(|map| map.get("action").and_then(Value::as_str) == Some("scale"))
        .filter_map(|map| {
            let number = |k: &str| map.get(k).and_then(Value::as_u64).map(|n| n as u32);
            let target = number("target")?;
            Some(GroupAsked {
                group: map.get("group")?.as_str()?.to_string(),
                region: map.get("region")?.as_str()?.to_string(),
                asked: number("requestedTarget").unwrap_or(target),
                target,
                limited_by_max_size: map
                    .get("limitedByMaxSize")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect();
    if groups.is_empty() {
        return None;
    }
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    groups.dedup_by(|a, b| a.group == b.group && a.region == b.region);
    Some(CapacityAsked {
        recorded_at: results
            .get("capacityRecordedAt")
            .and_then(Value::as_str)
            .map(|t| Timestamp(t.to_string())),
        groups,
    })
}

/// The report's text lines for it.
pub fn render_capacity(asked: &CapacityAsked) -> String {
    let source = match &asked.recorded_at {
        Some(at) => format!("from the capacity record of {}", at.0),
        None => "no capacity record: each group's capacity.minimum".to_string(),
    };
    let mut text = format!("\nCapacity asked ({source}):\n");
    for g in &asked.groups {
        let limit = if g.limited_by_max_size {
            format!(" (limited by MaxSize to {})", g.target)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "  {} in {}: {}{limit}\n",
            g.group, g.region, g.asked
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_scale_answers_and_the_records_time_make_the_capacity_section() {
        let results = json!({
            "capacityRecordedAt": "2026-01-01T00:00:00.000Z",
            "recovery": [
                {"database": "orders", "action": "promote", "status": "done"},
                [
                    {"scale": {"action": "scale", "group": "web", "region": "us-west-2",
                               "target": 4, "requestedTarget": 6, "limitedByMaxSize": true},
                     "compute": {"action": "status", "group": "web", "region": "us-west-2", "target": 4}},
                    {"scale": {"action": "scale", "group": "api", "region": "us-west-2", "target": 2}},
                ]
            ]
        });
        let asked = capacity_asked(&results).expect("scale answers");
        assert_eq!(
            asked.recorded_at,
            Some(Timestamp("2026-01-01T00:00:00.000Z".into()))
        );
        assert_eq!(asked.groups.len(), 2, "{asked:?}");
        assert_eq!(
            (asked.groups[0].group.as_str(), asked.groups[0].asked),
            ("api", 2)
        );
        assert_eq!(
            (
                asked.groups[1].asked,
                asked.groups[1].target,
                asked.groups[1].limited_by_max_size
            ),
            (6, 4, true)
        );
        let text = render_capacity(&asked);
        assert!(
            text.contains("from the capacity record of 2026-01-01"),
            "{text}"
        );
        assert!(
            text.contains("web in us-west-2: 6 (limited by MaxSize to 4)"),
            "{text}"
        );

        assert_eq!(capacity_asked(&json!({"recovery": []})), None);
        let without_record = capacity_asked(&json!([{"action": "scale", "group": "web",
                                                     "region": "us-west-2", "target": 1}]))
        .unwrap();
        assert!(render_capacity(&without_record).contains("no capacity record"));
    }
}
