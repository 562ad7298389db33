//! Every sample event in `events/sync-ssm/` decodes, and together they cover every trigger and both
//! selections (all paths, one parameter).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use std::collections::BTreeSet;
use sync_ssm::{parse_input, Selection};

#[test]
fn every_sample_event_is_a_valid_input_and_every_trigger_has_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/sync-ssm");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let request =
            parse_input(event, Some("prod")).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(request.env, "prod", "{}", path.display());
        let trigger = serde_json::to_value(request.trigger).unwrap();
        let selection = match request.selection {
            Selection::All => "all",
            Selection::One { .. } => "one",
        };
        seen.insert(format!("{}/{selection}", trigger.as_str().unwrap()));
    }
    let expected: BTreeSet<String> = [
        "manual/all",
        "manual/one",
        "schedule/all",
        "parameterChange/one",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(seen, expected, "sample events in {}", dir.display());
}
