//! CloudWatch Embedded Metric Format: a JSON log line that CloudWatch Logs turns into metrics, with
//! no API call from the handler. Every pilot-light metric is in one namespace, [`METRIC_NAMESPACE`].

use serde_json::{json, Map, Value};

/// The namespace of every metric pilot-light writes (sync, readiness, recovery reports).
pub const METRIC_NAMESPACE: &str = "PilotLight";

/// One EMF line: `fields` (a JSON object holding the dimension values, the metric values and any
/// other property to keep with them) under one `_aws` directive that declares `metrics` (name,
/// unit) with the one dimension set `dimensions`, at `now_millis`. A `fields` value that is not an
/// object is kept under `Value`.
pub fn emf_line(
    now_millis: i64,
    dimensions: &[&str],
    metrics: &[(&str, &str)],
    fields: Value,
) -> Value {
    let mut line = match fields {
        Value::Object(map) => map,
        other => Map::from_iter([("Value".to_string(), other)]),
    };
    let declared: Vec<Value> = metrics
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    line.insert(
        "_aws".to_string(),
        json!({
            "Timestamp": now_millis,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": declared,
            }]
        }),
    );
    Value::Object(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_declares_its_metrics_and_keeps_its_fields() {
        let line = emf_line(
            42,
            &["Env", "Kind"],
            &[("RecoveryTimeSeconds", "Seconds")],
            json!({"Env": "prod", "Kind": "failover", "RecoveryTimeSeconds": 12.5}),
        );
        assert_eq!(line["Env"], "prod");
        assert_eq!(line["RecoveryTimeSeconds"], 12.5);
        assert_eq!(line["_aws"]["Timestamp"], 42);
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRIC_NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Env", "Kind"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "RecoveryTimeSeconds", "Unit": "Seconds"}])
        );
    }

    #[test]
    fn fields_that_are_not_an_object_are_kept_under_value() {
        let line = emf_line(1, &["Env"], &[("Value", "Count")], json!(3));
        assert_eq!(line["Value"], 3);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "Value"
        );
    }
}
