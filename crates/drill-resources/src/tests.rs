//! Pure parts of the handler: the plan, the findings, the verdict, and input errors.

use super::*;
use crate::measure::measure_drill;
use pilot_light_core::{execution_token, PilotLightConfig};
use serde_json::json;
use std::collections::BTreeSet;

fn config() -> PilotLightConfig {
    PilotLightConfig::from_json(json!({
        "env": "prod",
        "regions": {"primary": "us-east-1", "standby": "us-west-2"},
        "databases": [{"name": "orders", "primaryInstanceId": "orders-db", "replicaInstanceId": "orders-db-dr"}],
        "computeGroups": [{
            "name": "web",
            "primary": {"autoScalingGroupName": "web-use1", "launchTemplateName": "web-use1"},
            "standby": {"autoScalingGroupName": "web-usw2", "launchTemplateName": "web-usw2",
                        "targetGroupArn": "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/live/1"},
            "amiTag": {"key": "pilot-light:group", "value": "web"}
        }],
        "drill": {"groupSize": 2, "rtoTargetSeconds": 900,
                  "targetGroupArns": {"web": "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/drill/2"}}
    }))
    .unwrap()
}

const EXECUTION: &str = "arn:aws:states:us-west-2:1:execution:pilot-light-prod-drill:d1";

#[test]
fn the_plan_protects_every_live_resource_and_uses_the_drill_target_group() {
    let plan = plan_of(&config(), &"prod".parse().unwrap(), EXECUTION, "us-west-2").unwrap();
    assert_eq!(plan.token, execution_token(EXECUTION));
    assert_eq!(plan.drill.group_size, 2);
    assert_eq!(plan.drill.rto_target_seconds, 900);
    assert_eq!(
        plan.groups[0].target_group_arn.as_deref(),
        Some("arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/drill/2")
    );
    let protected: BTreeSet<&str> = plan.protected.iter().map(String::as_str).collect();
    assert_eq!(
        protected,
        BTreeSet::from(["orders-db", "orders-db-dr", "web-use1", "web-usw2"])
    );
}

#[test]
fn the_plan_refuses_another_env_another_standby_or_no_execution() {
    for (env, execution, region, field) in [
        ("staging", EXECUTION, "us-west-2", "env"),
        ("prod", EXECUTION, "us-east-1", "regions.standby"),
        ("prod", " ", "us-west-2", "executionId"),
    ] {
        let err = plan_of(&config(), &env.parse().unwrap(), execution, region).unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains(field), "{field}: {text}");
    }
}

#[test]
fn findings_keep_names_statuses_and_evidence() {
    let readiness = json!({
        "overall": "warn",
        "checks": [
            {"name": "replica:orders", "status": "pass", "evidence": "available"},
            {"name": "ami-age:web", "status": "warn", "evidence": "9 days", "action": "run the AMI pipeline"},
            {"broken": true}
        ]
    });
    let (overall, findings) = findings_of(Some(&readiness));
    assert_eq!(overall, "warn");
    assert_eq!(findings.len(), 2);
    assert_eq!(findings[1].action.as_deref(), Some("run the AMI pipeline"));
    assert_eq!(findings_of(None).0, "unknown");
    assert_eq!(findings_of(Some(&Value::Null)).0, "unknown");
}

#[test]
fn the_verdict_compares_the_drill_rto_with_the_target() {
    let event = |target: u64| {
        json!({
            "action": "measure",
            "rtoTargetSeconds": target,
            "databases": [{
                "database": "orders", "source": "replica",
                "createStartedAt": "2026-01-01T00:00:00Z", "availableAt": "2026-01-01T00:05:00Z",
                "promoteStartedAt": "2026-01-01T00:05:00Z", "promotedAt": "2026-01-01T00:07:00Z"
            }],
            "groups": [{"group": "web", "createStartedAt": "2026-01-01T00:05:01Z", "healthyAt": "2026-01-01T00:06:01Z"}],
            "readiness": null
        })
    };
    for (target, meets) in [(120, true), (119, false), (3600, true)] {
        let input: MeasureInput = parse_step_input(event(target), ACTIONS).unwrap();
        let (status, detail, _) = measure_drill(input).unwrap();
        assert_eq!(status, StepStatus::Done);
        assert_eq!(detail["drillRtoSeconds"], json!(120.0));
        assert_eq!(detail["meetsTarget"], json!(meets), "target {target}");
        assert_eq!(detail["phases"].as_array().unwrap().len(), 3);
        assert_eq!(detail["readiness"], json!("unknown"));
    }
}

#[tokio::test]
async fn bad_input_is_a_typed_error_before_any_call() {
    // Clients with no region at all: any AWS call would fail with a different error.
    let clients = Clients {
        rds: Regional::fixed([]),
        autoscaling: Regional::fixed([]),
        ec2: Regional::fixed([]),
        ssm: Regional::fixed([]),
        sfn: Regional::fixed([]),
        home_region: None,
    };
    let cases = [
        (json!({"action": "explode"}), "UnknownAction"),
        (json!({"action": "plan", "env": "prod"}), "InvalidInput"),
        (
            json!({"action": "plan", "env": "prod", "executionId": "x"}),
            "InvalidInput",
        ),
        (
            json!({"action": "createDatabase", "env": "prod", "executionId": "x",
                   "primaryRegion": "us-west-2", "standbyRegion": "us-west-2",
                   "database": {"name": "o", "primaryInstanceId": "o", "replicaInstanceId": "o-dr"}}),
            "UnsafeOperation",
        ),
        (
            json!({"action": "createDatabase", "env": "prod", "executionId": "x",
                   "primaryRegion": "us-east-1", "standbyRegion": "us-west-2",
                   "database": {"name": "o", "primaryInstanceId": "o", "replicaInstanceId": "1bad"}}),
            "InvalidInput",
        ),
        (
            json!({"action": "createGroup", "env": "prod", "executionId": "x", "region": "us-west-2",
                   "size": 0, "group": config().compute_groups[0]}),
            "InvalidInput",
        ),
        (
            json!({"action": "measure", "rtoTargetSeconds": 1, "surprise": 1}),
            "InvalidInput",
        ),
    ];
    for (event, expected) in cases {
        let err = handler(event.clone(), &clients).await.unwrap_err();
        assert_eq!(err.error_type(), expected, "{event}: {err}");
    }
}

#[test]
fn every_sample_event_decodes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/drill-resources");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let ActionOnly { action } = parse_step_input(event.clone(), ACTIONS).unwrap();
        let decoded = match action {
            DrillAction::Plan => parse_step_input::<PlanInput>(event, ACTIONS).map(drop),
            DrillAction::CreateDatabase | DrillAction::DatabaseStatus => {
                parse_step_input::<DatabaseInput>(event, ACTIONS).map(drop)
            }
            DrillAction::CreateGroup => parse_step_input::<GroupInput>(event, ACTIONS).map(drop),
            DrillAction::Sweep => parse_step_input::<SweepInput>(event, ACTIONS).map(drop),
            DrillAction::Measure => parse_step_input::<MeasureInput>(event, ACTIONS)
                .and_then(measure_drill)
                .map(drop),
        };
        decoded.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 7);
}
