//! `measure`: the drill's phases, its RTO against the target, and the readiness findings it reports.

use crate::decide::{measure, Phase};
use crate::detail;
use crate::invalid;
use crate::Answer;
use crate::MeasureInput;
use pilot_light_core::{PilotLightError, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One readiness finding, as the drill report carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub name: String,
    pub status: String,
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// The drill's verdict: its phases, RTO, the target, and the readiness findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    pub phases: Vec<Phase>,
    pub drill_rto_seconds: f64,
    pub rto_target_seconds: u64,
    pub meets_target: bool,
    /// The readiness result (`pass | warn | fail`, or `unknown` when it could not run).
    pub readiness: String,
    pub findings: Vec<Finding>,
}

/// The readiness answer reduced to its findings (names, statuses, evidence: no values).
pub fn findings_of(readiness: Option<&Value>) -> (String, Vec<Finding>) {
    let Some(readiness) = readiness.filter(|r| !r.is_null()) else {
        return ("unknown".into(), Vec::new());
    };
    let overall = readiness
        .get("overall")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    let findings = readiness
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| serde_json::from_value::<Finding>(c.clone()).ok())
        .collect();
    (overall, findings)
}

pub(crate) fn measure_drill(input: MeasureInput) -> Result<Answer, PilotLightError> {
    let (phases, rto) =
        measure(&input.databases, &input.groups).map_err(|reason| invalid("databases", reason))?;
    let (readiness, findings) = findings_of(input.readiness.as_ref());
    let measurement = Measurement {
        phases,
        drill_rto_seconds: rto,
        rto_target_seconds: input.rto_target_seconds,
        meets_target: rto <= input.rto_target_seconds as f64,
        readiness,
        findings,
    };
    Ok((StepStatus::Done, detail(&measurement), Vec::new()))
}
