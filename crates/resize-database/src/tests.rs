//! Table tests of the decisions.

use super::*;
use pilot_light_core::config::ResizeTiming;

fn small() -> InstanceShape {
    InstanceShape {
        arn: "arn:aws:rds:us-west-2:123456789012:db:orders-db-dr".into(),
        status: "available".into(),
        replication_source: None,
        instance_class: Some("db.t3.small".into()),
        multi_az: Some(false),
        backup_retention_days: Some(1),
        allocated_storage_gib: Some(100),
        storage_type: Some("gp2".into()),
        db_parameter_group_name: Some("default.mysql8.0".into()),
        parameter_apply_status: Some("in-sync".into()),
        resized_by: None,
        has_pending: false,
        has_pilot_light_shape: false,
    }
}

fn production() -> ProductionShape {
    ProductionShape {
        instance_class: Some("db.r6g.large".into()),
        multi_az: Some(true),
        backup_retention_days: Some(7),
        allocated_storage_gib: None,
        storage_type: None,
        db_parameter_group_name: None,
        resize: ResizeTiming::BeforeTraffic,
    }
}

fn fields(changes: &[ShapeChange]) -> Vec<&str> {
    changes.iter().map(|c| c.field.as_str()).collect()
}

#[test]
fn only_the_fields_that_differ_change() {
    let changes = shape_changes(&small(), &production());
    assert_eq!(
        fields(&changes),
        ["instanceClass", "multiAz", "backupRetentionDays"]
    );
    assert_eq!(changes[0].from.as_deref(), Some("db.t3.small"));
    assert_eq!(changes[0].to, "db.r6g.large");

    let mut big = small();
    big.instance_class = Some("db.r6g.large".into());
    big.multi_az = Some(true);
    assert_eq!(
        fields(&shape_changes(&big, &production())),
        ["backupRetentionDays"]
    );
}

#[test]
fn storage_only_grows_and_other_fields_compare_exactly() {
    let shape = |gib: u32, kind: &str, group: &str| ProductionShape {
        instance_class: None,
        multi_az: None,
        backup_retention_days: None,
        allocated_storage_gib: Some(gib),
        storage_type: Some(kind.into()),
        db_parameter_group_name: Some(group.into()),
        resize: ResizeTiming::Background,
    };
    for (gib, kind, group, expected) in [
        (50, "gp2", "default.mysql8.0", vec![]),
        (100, "gp2", "default.mysql8.0", vec![]),
        (200, "gp2", "default.mysql8.0", vec!["allocatedStorageGib"]),
        (100, "gp3", "default.mysql8.0", vec!["storageType"]),
        (100, "gp2", "orders-prod", vec!["dbParameterGroupName"]),
    ] {
        assert_eq!(
            fields(&shape_changes(&small(), &shape(gib, kind, group))),
            expected,
            "{gib} {kind} {group}"
        );
    }
}

#[test]
fn decision_table() {
    let shape = production();
    let with = |f: &dyn Fn(&mut InstanceShape)| {
        let mut s = small();
        f(&mut s);
        s
    };
    let resized = |s: &mut InstanceShape| {
        s.instance_class = Some("db.r6g.large".into());
        s.multi_az = Some(true);
        s.backup_retention_days = Some(7);
    };
    type Case<'a> = (&'a str, InstanceShape, Result<&'a str, &'a str>);
    let cases: Vec<Case> = vec![
        ("small and available: modify", small(), Ok("modify")),
        ("resized and available", with(&resized), Ok("finished")),
        (
            "resized in storage-optimization still serves",
            with(&|s| {
                resized(s);
                s.status = "storage-optimization".into()
            }),
            Ok("finished"),
        ),
        (
            "accepted but not applied yet (pending values)",
            with(&|s| {
                resized(s);
                s.has_pending = true
            }),
            Ok("wait"),
        ),
        (
            "modifying after our call",
            with(&|s| {
                resized(s);
                s.status = "modifying".into()
            }),
            Ok("wait"),
        ),
        (
            "backing-up after the promotion: wait, ask nothing",
            with(&|s| s.status = "backing-up".into()),
            Ok("wait"),
        ),
        (
            "still a replica: refuse",
            with(&|s| {
                s.replication_source =
                    Some("arn:aws:rds:us-east-1:123456789012:db:orders-db".into())
            }),
            Err("InvalidState"),
        ),
        (
            "failed: refuse",
            with(&|s| s.status = "failed".into()),
            Err("InvalidState"),
        ),
        (
            "stopped: refuse",
            with(&|s| s.status = "stopped".into()),
            Err("InvalidState"),
        ),
    ];
    for (what, current, expected) in cases {
        let got = decide_resize(&current, &shape, "orders-db-dr");
        let got = match &got {
            Ok(ResizeDecision::Modify(_)) => Ok("modify"),
            Ok(ResizeDecision::Wait(_)) => Ok("wait"),
            Ok(ResizeDecision::Finished) => Ok("finished"),
            Err(err) => Err(err.error_type()),
        };
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn finished_is_done_only_for_the_execution_that_resized() {
    let this = "arn:aws:states:us-west-2:123456789012:execution:failover:x";
    assert_eq!(finished_status(&small(), this), StepStatus::AlreadyDone);
    let mut s = small();
    s.resized_by = Some(this.into());
    assert_eq!(finished_status(&s, this), StepStatus::Done);
    let earlier = "arn:aws:states:us-west-2:123456789012:execution:failover:w";
    assert_eq!(finished_status(&s, earlier), StepStatus::AlreadyDone);
}

#[test]
fn bad_input_is_refused_with_a_typed_error() {
    let base = serde_json::json!({
        "action": "resize", "side": "standby", "executionId": "x",
        "primaryRegion": "us-east-1", "standbyRegion": "us-west-2",
        "database": {"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr",
                     "productionShape": {"instanceClass": "db.r6g.large"}}
    });
    assert!(parse_input(base.clone()).is_ok());
    let cases = [
        ("/action", serde_json::json!("shrink"), "UnknownAction"),
        ("/side", serde_json::json!("both"), "InvalidInput"),
        (
            "/standbyRegion",
            serde_json::json!("us-east-1"),
            "UnsafeOperation",
        ),
        (
            "/database/replicaInstanceId",
            serde_json::json!("1bad"),
            "InvalidInput",
        ),
        (
            "/database/productionShape",
            serde_json::json!(null),
            "InvalidInput",
        ),
        (
            "/database/productionShape",
            serde_json::json!({"instanceClass": "huge"}),
            "InvalidInput",
        ),
    ];
    for (pointer, value, error_type) in cases {
        let mut event = base.clone();
        *event.pointer_mut(pointer).unwrap() = value;
        let err = parse_input(event).unwrap_err();
        assert_eq!(err.error_type(), error_type, "{pointer}");
    }
}
