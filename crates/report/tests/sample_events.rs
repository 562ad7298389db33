//! Every sample event in `events/report/` decodes and validates, and together they cover every
//! action.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use report::{parse_input, ReportInput};
use std::collections::BTreeSet;

#[test]
fn every_sample_event_is_a_valid_input_and_every_action_has_one() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/report");
    let mut actions = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let input = parse_input(event).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        actions.insert(match input {
            ReportInput::Publish(_) => "publish",
            ReportInput::NotifyFailure(_) => "notifyFailure",
            ReportInput::NotifyApproval(_) => "notifyApproval",
        });
    }
    assert_eq!(
        actions,
        BTreeSet::from(["publish", "notifyFailure", "notifyApproval"])
    );
}
