//! What a sync answers and logs: the changes, the failures, the counts and the EMF metric line.

use crate::plan::{Difference, Skipped};
use crate::scan::Scan;
use crate::Trigger;
use pilot_light_core::config::SsmSyncMode;
use pilot_light_core::{EnvName, StepStatus, Timestamp};
use serde::Serialize;
use serde_json::{json, Value};

/// One write that was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub name: String,
    /// `create`, `update` or `delete`.
    pub change: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<Difference>,
    /// True when a type change had to delete and re-create the parameter.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replaced: bool,
}

/// One write that failed (the run went on with the others).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub name: String,
    pub error_type: String,
    pub message: String,
}

/// What a run found and did. Counts: `created + updated + deleted` writes were made, `unchanged`
/// parameters already were equal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncOutput {
    pub action: &'static str,
    /// `done` when something was written, `alreadyDone` when nothing differed.
    pub status: StepStatus,
    pub env: EnvName,
    pub trigger: Trigger,
    pub source_region: String,
    pub target_region: String,
    pub mode: SsmSyncMode,
    pub paths: Vec<String>,
    /// The one parameter of a change event or a `parameterName` input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_name: Option<String>,
    /// Why nothing was looked at (a change event outside the paths, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// How a sync of every path read: `{"kind": "full", "reason"}` or
    /// `{"kind": "incremental", "changedSince"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<Scan>,
    /// Parameters whose values were read in the source (all of them in a full scan, the changed
    /// ones in an incremental one).
    pub examined: usize,
    /// The mark for the next sync was written (a sync of every path with no failed write).
    pub mark_written: bool,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub skipped: Vec<Skipped>,
    pub failed: Vec<Failure>,
    pub changes: Vec<Change>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// Names of the parameters written.
    pub resources: Vec<String>,
}

/// The CloudWatch Embedded Metric Format line of a run: `ParametersSynced` (writes made) and
/// `ParameterSyncFailures`, dimension `Env`.
pub fn emf_line(output: &SyncOutput, now_millis: i64) -> Value {
    pilot_light_core::metrics::emf_line(
        now_millis,
        &["Env"],
        &[
            ("ParametersSynced", "Count"),
            ("ParameterSyncFailures", "Count"),
        ],
        json!({
            "Env": output.env,
            "SourceRegion": output.source_region,
            "TargetRegion": output.target_region,
            "ParametersSynced": output.created + output.updated + output.deleted,
            "ParameterSyncFailures": output.failed.len(),
        }),
    )
}
