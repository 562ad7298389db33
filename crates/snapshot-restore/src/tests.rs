//! Table tests of the decisions and names.

use super::*;

const EXEC: &str = "arn:aws:states:us-west-2:123456789012:execution:failback:run-1";
const OTHER: &str = "arn:aws:states:us-west-2:123456789012:execution:failback:run-0";

/// One row of a decision table: the observations, then the expected answer.
type ClearWayCase<'a> = (
    Option<InstanceView>,
    Option<InstanceView>,
    Result<ClearWayDecision, &'a str>,
);

/// One row of a decision table: the observations, then the expected answer.
type ReplicateCase<'a> = (
    Option<InstanceView>,
    InstanceView,
    &'a str,
    Result<CreateDecision, &'a str>,
);

/// One row of a decision table: the observations, then the expected answer.
type RetireCase<'a> = (
    Option<InstanceView>,
    Option<InstanceView>,
    bool,
    Result<RetireDecision, &'a str>,
);

fn instance(id: &str, status: &str) -> InstanceView {
    InstanceView {
        id: id.into(),
        arn: format!("arn:aws:rds:us-east-1:123456789012:db:{id}"),
        status: status.into(),
        replication_source: None,
        replicas: vec![],
        encrypted: false,
        created_by: None,
        renamed_by: None,
        promoted: false,
        shape: DatabaseShape::default(),
    }
}

fn created_by(mut i: InstanceView, exec: &str) -> InstanceView {
    i.created_by = Some(exec.into());
    i
}

fn renamed_by(mut i: InstanceView, exec: &str) -> InstanceView {
    i.renamed_by = Some(exec.into());
    i
}

fn replica_of(mut i: InstanceView, source: &str) -> InstanceView {
    i.replication_source = Some(source.into());
    i
}

#[test]
fn names_are_per_execution_and_within_rds_limits() {
    let snap = failback_snapshot_id("orders-db-dr", EXEC);
    assert!(snap.starts_with("orders-db-dr-failback-"));
    assert_eq!(snap, failback_snapshot_id("orders-db-dr", EXEC));
    assert_ne!(snap, failback_snapshot_id("orders-db-dr", OTHER));

    let long = "a".repeat(63);
    let renamed = renamed_instance_id(&long, EXEC);
    assert!(renamed.len() <= 63, "{renamed}");
    let hyphen_end = format!("{}-", "b".repeat(49));
    let renamed = renamed_instance_id(&hyphen_end, EXEC);
    assert!(!renamed.contains("--"), "{renamed}");
    assert!(renamed_instance_id("orders-db", EXEC).starts_with("orders-db-old-"));
    assert!(final_snapshot_id("orders-db-dr-old-1", EXEC).starts_with("orders-db-dr-old-1-final-"));
}

#[test]
fn creation_status_table() {
    let cases: &[(&str, bool, Result<StepStatus, &str>)] = &[
        ("available", true, Ok(StepStatus::Done)),
        ("available", false, Ok(StepStatus::AlreadyDone)),
        ("creating", true, Ok(StepStatus::InProgress)),
        ("backing-up", false, Ok(StepStatus::InProgress)),
        ("modifying", true, Ok(StepStatus::InProgress)),
        ("failed", true, Err("InvalidState")),
        ("incompatible-restore", true, Err("InvalidState")),
        ("deleting", true, Err("InvalidState")),
    ];
    for (status, ours, expected) in cases {
        let got = creation_status("x", status, *ours).map_err(|e| e.error_type());
        assert_eq!(&got, expected, "{status} ours={ours}");
    }
}

#[test]
fn clear_way_renames_only_what_is_in_the_way_and_never_our_own_successor() {
    use ClearWayDecision::*;
    let old = instance("orders-db", "available");
    let cases: Vec<ClearWayCase> = vec![
        (None, None, Ok(Clear)),
        (Some(old.clone()), None, Ok(Rename)),
        (Some(created_by(old.clone(), EXEC)), None, Ok(OursAlready)),
        // Another execution's half-done restore is in the way like any instance: renamed, kept.
        (Some(created_by(old.clone(), OTHER)), None, Ok(Rename)),
        (
            Some(renamed_by(instance("orders-db", "renaming"), EXEC)),
            None,
            Ok(Renaming),
        ),
        // Tagged, but the rename was never asked for (the run stopped in between): asked again.
        (Some(renamed_by(old.clone(), EXEC)), None, Ok(Rename)),
        // Another execution's tag does not make it ours: renamed like any instance in the way.
        (Some(renamed_by(old.clone(), OTHER)), None, Ok(Rename)),
        (Some(instance("orders-db", "renaming")), None, Ok(Renaming)),
        (
            None,
            Some(renamed_by(instance("orders-db-old-x", "available"), EXEC)),
            Ok(Renamed),
        ),
        (
            Some(instance("orders-db", "creating")),
            None,
            Err("InvalidState"),
        ),
        (
            Some(old.clone()),
            Some(instance("orders-db-old-x", "available")),
            Err("InvalidState"),
        ),
    ];
    for (current, renamed, expected) in cases {
        let got =
            decide_clear_way(current.as_ref(), renamed.as_ref(), EXEC).map_err(|e| e.error_type());
        assert_eq!(got, expected, "current {current:?} renamed {renamed:?}");
    }
}

#[test]
fn restore_never_overwrites_an_instance_it_did_not_make() {
    let cases: Vec<(Option<InstanceView>, Result<CreateDecision, &str>)> = vec![
        (None, Ok(CreateDecision::Create)),
        (
            Some(created_by(instance("orders-db", "creating"), EXEC)),
            Ok(CreateDecision::Follow {
                made_by_this_execution: true,
            }),
        ),
        (
            Some(instance("orders-db", "available")),
            Err("UnsafeOperation"),
        ),
        (
            Some(created_by(instance("orders-db", "available"), OTHER)),
            Err("UnsafeOperation"),
        ),
    ];
    for (existing, expected) in cases {
        let got = decide_restore(existing.as_ref(), EXEC).map_err(|e| e.error_type());
        assert_eq!(got, expected, "{existing:?}");
    }
}

#[test]
fn replicate_table() {
    let source = instance("orders-db", "available");
    let source_arn = source.arn.clone();
    let cases: Vec<ReplicateCase> = vec![
        (
            None,
            source.clone(),
            "us-west-2",
            Ok(CreateDecision::Create),
        ),
        (None, source.clone(), "us-east-1", Err("UnsafeOperation")),
        (
            None,
            instance("orders-db", "modifying"),
            "us-west-2",
            Err("InvalidState"),
        ),
        (
            None,
            replica_of(source.clone(), "arn:x"),
            "us-west-2",
            Err("InvalidState"),
        ),
        (
            Some(created_by(instance("orders-db-dr", "creating"), EXEC)),
            source.clone(),
            "us-west-2",
            Ok(CreateDecision::Follow {
                made_by_this_execution: true,
            }),
        ),
        (
            Some(replica_of(
                instance("orders-db-dr", "available"),
                &source_arn,
            )),
            source.clone(),
            "us-west-2",
            Ok(CreateDecision::Follow {
                made_by_this_execution: false,
            }),
        ),
        // The promoted standby still holds the replica identifier: in the way.
        (
            Some(instance("orders-db-dr", "available")),
            source.clone(),
            "us-west-2",
            Err("UnsafeOperation"),
        ),
    ];
    for (existing, source, target_region, expected) in cases {
        let got = decide_replicate(existing.as_ref(), &source, "us-east-1", target_region, EXEC)
            .map_err(|e| e.error_type());
        assert_eq!(
            got, expected,
            "{existing:?} from {source:?} to {target_region}"
        );
    }
}

#[test]
fn retire_deletes_only_our_renamed_instance_once_its_successor_is_available() {
    use RetireDecision::*;
    let renamed = renamed_by(instance("orders-db-dr-old-x", "available"), EXEC);
    let successor = instance("orders-db-dr", "available");
    let mut source_of_others = renamed.clone();
    source_of_others.replicas = vec!["arn:aws:rds:us-east-1:1:db:y".into()];
    let cases: Vec<RetireCase> = vec![
        (
            Some(renamed.clone()),
            Some(successor.clone()),
            false,
            Ok(Delete),
        ),
        (Some(renamed.clone()), None, false, Err("UnsafeOperation")),
        (
            Some(renamed.clone()),
            Some(instance("orders-db-dr", "creating")),
            false,
            Err("UnsafeOperation"),
        ),
        (
            Some(instance("orders-db-dr-old-x", "available")),
            Some(successor.clone()),
            false,
            Err("UnsafeOperation"),
        ),
        (
            Some(renamed_by(
                instance("orders-db-dr-old-x", "available"),
                OTHER,
            )),
            Some(successor.clone()),
            false,
            Err("UnsafeOperation"),
        ),
        (
            Some(source_of_others),
            Some(successor.clone()),
            false,
            Err("UnsafeOperation"),
        ),
        (
            Some(renamed_by(instance("orders-db-dr-old-x", "deleting"), EXEC)),
            Some(successor.clone()),
            true,
            Ok(Deleting),
        ),
        (
            None,
            Some(successor.clone()),
            true,
            Ok(Gone {
                final_snapshot: true,
            }),
        ),
        (
            None,
            Some(successor),
            false,
            Ok(Gone {
                final_snapshot: false,
            }),
        ),
    ];
    for (renamed, successor, final_snapshot, expected) in cases {
        let got = decide_retire(renamed.as_ref(), successor.as_ref(), final_snapshot, EXEC)
            .map_err(|e| e.error_type());
        assert_eq!(got, expected, "{renamed:?} / {successor:?}");
    }
}

#[test]
fn bad_input_is_typed_and_never_a_panic() {
    let base = serde_json::json!({
        "action": "clearWay", "env": "prod", "executionId": EXEC,
        "primaryRegion": "us-east-1", "standbyRegion": "us-west-2", "side": "primary",
        "database": {"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr"}
    });
    let with = |path: &[&str], value: serde_json::Value| {
        let mut event = base.clone();
        let mut cursor = &mut event;
        for key in &path[..path.len() - 1] {
            cursor = &mut cursor[*key];
        }
        cursor[path[path.len() - 1]] = value;
        event
    };
    let without_side = {
        let mut e = base.clone();
        e.as_object_mut().unwrap().remove("side");
        e
    };
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (with(&["action"], "drop".into()), "UnknownAction"),
        (with(&["side"], "middle".into()), "InvalidInput"),
        (
            with(&["database", "primaryInstanceId"], "1-bad--id".into()),
            "InvalidInput",
        ),
        (
            with(&["standbyRegion"], "us-east-1".into()),
            "UnsafeOperation",
        ),
        (with(&["executionId"], " ".into()), "InvalidInput"),
        (
            with(&["shape"], serde_json::json!({"instanceClass": 3})),
            "InvalidInput",
        ),
        (with(&["surprise"], true.into()), "InvalidInput"),
        (without_side, "InvalidInput"),
    ];
    for (event, expected) in cases {
        let got = parse_step_input::<SnapshotRestoreInput>(event.clone(), ACTIONS)
            .and_then(|input| validate(&input));
        assert_eq!(got.map_err(|e| e.error_type()), Err(expected), "{event}");
    }
}

#[test]
fn the_shape_comes_from_the_instance_in_the_way_then_the_record_then_rds() {
    let seen = DatabaseShape {
        instance_class: Some("db.m5.large".into()),
        ..DatabaseShape::default()
    };
    let recorded = DatabaseShape {
        instance_class: Some("db.r6g.large".into()),
        multi_az: Some(true),
        ..DatabaseShape::default()
    };
    let cases = [
        (
            Some(&seen),
            Some(&recorded),
            (seen.clone(), ShapeSource::InstanceInTheWay),
        ),
        (
            None,
            Some(&recorded),
            (recorded.clone(), ShapeSource::Recorded),
        ),
        (
            Some(&seen),
            None,
            (seen.clone(), ShapeSource::InstanceInTheWay),
        ),
        (
            None,
            None,
            (DatabaseShape::default(), ShapeSource::RdsDefaults),
        ),
    ];
    for (instance, record, expected) in cases {
        assert_eq!(choose_shape(instance, record), expected);
    }
}

#[test]
fn a_grown_standby_hands_its_pilot_light_shape_to_the_replica_that_replaces_it() {
    let described = |tags: Vec<aws_sdk_rds::types::Tag>| {
        aws_sdk_rds::types::DbInstance::builder()
            .db_instance_identifier("orders-db-dr")
            .db_instance_class("db.r6g.large")
            .multi_az(true)
            .set_tag_list(Some(tags))
            .build()
    };
    let grown = described(vec![aws_sdk_rds::types::Tag::builder()
        .key(PILOT_LIGHT_SHAPE_TAG)
        .value("instanceClass=db.t3.small multiAz=false")
        .build()]);
    let shape = DatabaseShape::of_instance(&grown);
    assert_eq!(shape.instance_class.as_deref(), Some("db.t3.small"));
    assert_eq!(shape.multi_az, Some(false));
    // Without the tag (a primary, or a standby never resized): as described.
    let shape = DatabaseShape::of_instance(&described(vec![]));
    assert_eq!(shape.instance_class.as_deref(), Some("db.r6g.large"));
    assert_eq!(shape.multi_az, Some(true));
}

#[test]
fn a_renamed_instance_is_tagged_with_its_env_origin_time_and_the_promotion_that_cut_it() {
    let at = Timestamp("2026-03-02T08:00:00.000Z".into());
    let failover = "arn:aws:states:us-west-2:123456789012:execution:failover:fo-1";
    /// The execution that cut replication, then the tags expected.
    type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            Some(failover),
            vec![
                ("pilot-light:env", "prod"),
                (RENAMED_FROM_TAG, "orders-db"),
                (RENAMED_BY_TAG, EXEC),
                (RENAMED_AT_TAG, "2026-03-02T08:00:00.000Z"),
                (REPLICATION_CUT_BY_TAG, failover),
            ],
        ),
        // Nothing known about the cut (a promoted standby at re-protect, or a standby that was
        // not promoted from this instance): no cut tag, never an empty one.
        (
            None,
            vec![
                ("pilot-light:env", "prod"),
                (RENAMED_FROM_TAG, "orders-db"),
                (RENAMED_BY_TAG, EXEC),
                (RENAMED_AT_TAG, "2026-03-02T08:00:00.000Z"),
            ],
        ),
    ];
    for (cut_by, expected) in cases {
        let tags = rename_tags("prod", EXEC, "orders-db", &at, cut_by);
        let got: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(got, expected, "{cut_by:?}");
    }
}

#[test]
fn a_replica_is_ready_once_linked_or_once_this_execution_promoted_it() {
    const SOURCE: &str = "arn:aws:rds:us-west-2:123456789012:db:orders-db-dr";
    let promoted = |mut i: InstanceView| {
        i.promoted = true;
        i
    };
    let cases: Vec<(InstanceView, bool, Result<StepStatus, &str>)> = vec![
        (
            replica_of(instance("orders-db", "available"), SOURCE),
            true,
            Ok(StepStatus::Done),
        ),
        (
            replica_of(instance("orders-db", "creating"), SOURCE),
            true,
            Ok(StepStatus::InProgress),
        ),
        // Available but the link not shown yet: not finished.
        (
            instance("orders-db", "available"),
            true,
            Ok(StepStatus::InProgress),
        ),
        // This execution's replica, promoted already (a re-run after the promotion): finished.
        (
            promoted(instance("orders-db", "available")),
            true,
            Ok(StepStatus::Done),
        ),
        (
            promoted(instance("orders-db", "modifying")),
            true,
            Ok(StepStatus::InProgress),
        ),
        // Someone else's promoted instance is never taken for ours.
        (
            promoted(instance("orders-db", "available")),
            false,
            Ok(StepStatus::InProgress),
        ),
        (instance("orders-db", "failed"), true, Err("InvalidState")),
    ];
    for (existing, ours, expected) in cases {
        let got = replica_status("x", &existing, SOURCE, ours).map_err(|e| e.error_type());
        assert_eq!(got, expected, "{existing:?} ours={ours}");
    }
}
