//! Every sample event in `events/resize-database/` decodes and validates, and together they cover
//! every action and both sides.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use resize_database::{parse_input, ACTIONS};
use std::collections::BTreeSet;

#[test]
fn every_sample_event_is_a_valid_input_and_every_action_has_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/resize-database");
    let mut actions = BTreeSet::new();
    let mut sides = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (input, _) = parse_input(event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        actions.insert(
            serde_json::to_value(input.action)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string(),
        );
        sides.insert(input.side.name());
    }
    let expected: BTreeSet<String> = ACTIONS.iter().map(|a| a.to_string()).collect();
    assert_eq!(actions, expected, "sample events in {}", dir.display());
    assert_eq!(sides, BTreeSet::from(["primary", "standby"]));
}
