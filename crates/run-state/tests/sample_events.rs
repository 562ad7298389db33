//! Every sample event in `events/run-state/` decodes and validates, and together they cover every
//! action.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use run_state::{parse_input, ACTIONS};
use std::collections::BTreeSet;

#[test]
fn every_sample_event_is_a_valid_input_and_every_action_has_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/run-state");
    let mut actions = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let input = parse_input(event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        actions.insert(
            serde_json::to_value(input.action())
                .unwrap()
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let expected: BTreeSet<String> = ACTIONS.iter().map(|a| a.to_string()).collect();
    assert_eq!(actions, expected, "sample events in {}", dir.display());
}
