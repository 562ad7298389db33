//! The user hooks of a run as the report shows them: in run order, failures summarised, large answers
//! left out. Pure: no AWS calls.

use pilot_light_core::execution_history::summarise_cause;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One user hook's run, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookOutcome {
    pub point: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// `succeeded` or `failed` (a failed `abort` hook stops the run and is in the failure alert).
    pub status: String,
    /// The function's answer (left out above [`MAX_HOOK_OUTPUT_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// A hook's answer larger than this is left out of the report (its size is said instead).
pub const MAX_HOOK_OUTPUT_BYTES: usize = 4096;

/// Hook points in run order (failover and failback names).
const HOOK_POINT_ORDER: &[&str] = &[
    "beforeFailover",
    "beforeFailback",
    "afterDatabases",
    "afterCompute",
    "afterTraffic",
];

/// The hook records of a run (`{point: [record, …]}`), in run order: by point, then as listed.
/// Unknown points come last; anything that is not a record is skipped.
pub fn hook_outcomes(hooks: &Value) -> Vec<HookOutcome> {
    let Some(points) = hooks.as_object() else {
        return vec![];
    };
    let mut ordered: Vec<(&String, &Value)> = points.iter().collect();
    ordered.sort_by_key(|(point, _)| {
        HOOK_POINT_ORDER
            .iter()
            .position(|p| p == point)
            .unwrap_or(HOOK_POINT_ORDER.len())
    });
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut out = Vec::new();
    for (point, records) in ordered {
        for record in records.as_array().into_iter().flatten() {
            let Some(name) = text(record, "name") else {
                continue;
            };
            let output = record.get("output").map(|o| {
                let size = serde_json::to_vec(o).map(|b| b.len()).unwrap_or(0);
                if size > MAX_HOOK_OUTPUT_BYTES {
                    Value::String(format!("({size} bytes of output left out)"))
                } else {
                    o.clone()
                }
            });
            let failure = record.get("failure");
            out.push(HookOutcome {
                point: point.clone(),
                name,
                function_name: text(record, "functionName"),
                status: text(record, "status").unwrap_or_else(|| "unknown".into()),
                output,
                error: failure.and_then(|f| text(f, "Error")),
                cause: failure
                    .and_then(|f| text(f, "Cause"))
                    .map(|c| summarise_cause(&c)),
            });
        }
    }
    out
}
