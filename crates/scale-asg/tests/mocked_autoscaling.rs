//! The handler's call shapes and error paths against mocked Auto Scaling and ELBv2 responses (faults
//! the emulator cannot produce: throttling, scaling activities in the way, groups being deleted,
//! unhealthy targets), with the real SDK clients.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_autoscaling::operation::create_or_update_tags::CreateOrUpdateTagsOutput;
use aws_sdk_autoscaling::operation::delete_tags::DeleteTagsOutput;
use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::operation::resume_processes::ResumeProcessesOutput;
use aws_sdk_autoscaling::operation::set_desired_capacity::SetDesiredCapacityOutput;
use aws_sdk_autoscaling::operation::suspend_processes::SuspendProcessesOutput;
use aws_sdk_autoscaling::operation::update_auto_scaling_group::UpdateAutoScalingGroupOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, LifecycleState, TagDescription};
use aws_sdk_autoscaling::Client as AutoScaling;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    TargetDescription, TargetHealth, TargetHealthDescription, TargetHealthStateEnum,
};
use aws_sdk_elasticloadbalancingv2::Client as Elbv2;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::{PilotLightError, Regional, StepStatus};
use scale_asg::{handler, Clients, ScaleAsgOutput};
use serde_json::{json, Value};

const REGION: &str = "us-west-2";
const GROUP: &str = "web-usw2";
const TARGET_GROUP: &str =
    "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web-usw2/0123456789abcdef";

fn event(action: &str) -> Value {
    json!({
        "action": action,
        "region": REGION,
        "side": "standby",
        "group": {
            "name": "web",
            "primary": {"autoScalingGroupName": "web-use1", "launchTemplateName": "web-use1"},
            "standby": {"autoScalingGroupName": GROUP, "launchTemplateName": "web-usw2"},
            "amiTag": {"key": "pilot-light:group", "value": "web"},
            "capacity": {"targetPercent": 50, "minimum": 1}
        },
        "recordedCapacities": {"web": 6, "api": 40}
    })
}

fn with_target_group(mut event: Value) -> Value {
    event["group"]["standby"]["targetGroupArn"] = json!(TARGET_GROUP);
    event
}

fn instance(id: &str, state: LifecycleState, health: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .lifecycle_state(state)
        .health_status(health)
        .availability_zone("us-west-2a")
        .protected_from_scale_in(false)
        .build()
}

fn group(min: i32, max: i32, desired: i32, instances: Vec<Instance>) -> AutoScalingGroup {
    let mut builder = AutoScalingGroup::builder()
        .auto_scaling_group_name(GROUP)
        .auto_scaling_group_arn(format!(
            "arn:aws:autoscaling:us-west-2:123456789012:autoScalingGroup:1:autoScalingGroupName/{GROUP}"
        ))
        .min_size(min)
        .max_size(max)
        .desired_capacity(desired);
    for i in instances {
        builder = builder.instances(i);
    }
    builder.build()
}

fn describe_returns(group: AutoScalingGroup) -> Rule {
    mock!(AutoScaling::describe_auto_scaling_groups)
        .match_requests(|req| req.auto_scaling_group_names() == [GROUP])
        .then_output(move || {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group.clone())
                .build()
        })
}

fn set_desired(expected: i32) -> Rule {
    mock!(AutoScaling::set_desired_capacity)
        .match_requests(move |req| {
            req.auto_scaling_group_name() == Some(GROUP)
                && req.desired_capacity() == Some(expected)
                && req.honor_cooldown() == Some(false)
        })
        .then_output(|| SetDesiredCapacityOutput::builder().build())
}

fn any_set_desired() -> Rule {
    mock!(AutoScaling::set_desired_capacity)
        .then_output(|| SetDesiredCapacityOutput::builder().build())
}

fn any_update() -> Rule {
    mock!(AutoScaling::update_auto_scaling_group)
        .then_output(|| UpdateAutoScalingGroupOutput::builder().build())
}

fn target_health(targets: Vec<(&'static str, TargetHealthStateEnum)>) -> Rule {
    mock!(Elbv2::describe_target_health)
        .match_requests(|req| req.target_group_arn() == Some(TARGET_GROUP))
        .then_output(move || {
            let mut out = DescribeTargetHealthOutput::builder();
            for (id, state) in &targets {
                out = out.target_health_descriptions(
                    TargetHealthDescription::builder()
                        .target(TargetDescription::builder().id(*id).port(80).build())
                        .target_health(TargetHealth::builder().state(state.clone()).build())
                        .build(),
                );
            }
            out.build()
        })
}

fn clients(autoscaling_rules: &[&Rule], elbv2_rules: &[&Rule]) -> Clients {
    let autoscaling = mock_client!(
        aws_sdk_autoscaling,
        RuleMode::MatchAny,
        autoscaling_rules,
        |c| c.retry_config(
            aws_sdk_autoscaling::config::retry::RetryConfig::standard().with_max_attempts(3)
        )
    );
    let elbv2 = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        elbv2_rules,
        |c| c.retry_config(
            aws_sdk_elasticloadbalancingv2::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
        )
    );
    Clients {
        autoscaling: Regional::fixed([(REGION.to_string(), autoscaling)]),
        elbv2: Regional::fixed([(REGION.to_string(), elbv2)]),
    }
}

async fn run(event: Value, rules: &[&Rule]) -> Result<ScaleAsgOutput, PilotLightError> {
    handler(event, &clients(rules, &[])).await
}

fn query_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
}

#[tokio::test]
async fn scale_sets_the_percentage_of_the_recorded_capacity_ignoring_cooldowns() {
    let describe = describe_returns(group(0, 10, 0, vec![]));
    // 50 % of 6.
    let set = set_desired(3);
    let out = run(event("scale"), &[&describe, &set]).await.unwrap();
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(
        (out.target, out.previous_desired, out.desired_capacity),
        (Some(3), Some(0), 3)
    );
    assert_eq!(out.limited_by_max_size, Some(false));
    assert_eq!(set.num_calls(), 1);
    let json = serde_json::to_value(&out).unwrap();
    for key in [
        "action",
        "status",
        "group",
        "autoScalingGroupName",
        "target",
        "previousDesired",
        "desiredCapacity",
        "limitedByMaxSize",
        "startedAt",
        "finishedAt",
        "resources",
    ] {
        assert!(json.get(key).is_some(), "answer lacks {key}: {json}");
    }
    assert!(json.get("inService").is_none());
}

#[tokio::test]
async fn scale_never_lowers_a_bigger_group() {
    let describe = describe_returns(group(0, 10, 5, vec![]));
    let set = any_set_desired();
    let out = run(event("scale"), &[&describe, &set]).await.unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert_eq!((out.target, out.desired_capacity), (Some(3), 5));
    assert_eq!(set.num_calls(), 0);
}

#[tokio::test]
async fn scale_stops_at_max_size_and_says_so() {
    let describe = describe_returns(group(0, 2, 0, vec![]));
    let set = set_desired(2);
    let out = run(event("scale"), &[&describe, &set]).await.unwrap();
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(
        (out.target, out.requested_target, out.desired_capacity),
        (Some(2), Some(3), 2)
    );
    assert_eq!(out.limited_by_max_size, Some(true));
}

#[tokio::test]
async fn scale_without_a_recorded_capacity_uses_the_minimum() {
    let describe = describe_returns(group(0, 10, 0, vec![]));
    let set = set_desired(1);
    let mut input = event("scale");
    input["recordedCapacities"] = Value::Null;
    let out = run(input, &[&describe, &set]).await.unwrap();
    assert_eq!(out.target, Some(1));
}

#[tokio::test]
async fn a_scaling_activity_in_the_way_is_throttled_so_the_state_machine_retries() {
    let describe = describe_returns(group(0, 10, 0, vec![]));
    let set = mock!(AutoScaling::set_desired_capacity)
        .sequence()
        .http_status(
            400,
            Some(query_error(
                "ScalingActivityInProgress",
                "Scaling activity is in progress and blocks this action.",
            )),
        )
        .build();
    let err = run(event("scale"), &[&describe, &set]).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
}

#[tokio::test]
async fn a_desired_capacity_auto_scaling_refuses_is_invalid_state() {
    let describe = describe_returns(group(0, 10, 0, vec![]));
    let set = mock!(AutoScaling::set_desired_capacity)
        .sequence()
        .http_status(
            400,
            Some(query_error(
                "ValidationError",
                "New SetDesiredCapacity value 3 is above max value 2 for the AutoScalingGroup.",
            )),
        )
        .build();
    let err = run(event("scale"), &[&describe, &set]).await.unwrap_err();
    assert_eq!(err.error_type(), "InvalidState", "{err}");
    assert!(err.to_string().contains("above max value"), "{err}");
}

#[tokio::test]
async fn a_missing_group_is_resource_not_found() {
    let describe = mock!(AutoScaling::describe_auto_scaling_groups)
        .then_output(|| DescribeAutoScalingGroupsOutput::builder().build());
    for action in ["scale", "status", "fence"] {
        let err = run(event(action), &[&describe]).await.unwrap_err();
        assert_eq!(err.error_type(), "ResourceNotFound");
        assert_eq!(
            err.to_string(),
            "AutoScalingGroup `web-usw2` not found in us-west-2"
        );
    }
}

#[tokio::test]
async fn a_group_being_deleted_is_invalid_state_and_left_alone() {
    let mut deleting = group(0, 10, 2, vec![]);
    deleting.status = Some("Delete in progress".into());
    let describe = describe_returns(deleting);
    let (set, update) = (any_set_desired(), any_update());
    for action in ["scale", "status", "fence"] {
        let err = run(event(action), &[&describe, &set, &update])
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidState", "{action}: {err}");
    }
    assert_eq!((set.num_calls(), update.num_calls()), (0, 0));
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_surfaced_as_throttled() {
    let throttled = mock!(AutoScaling::describe_auto_scaling_groups)
        .sequence()
        .http_status(400, Some(query_error("Throttling", "Rate exceeded")))
        .times(3)
        .build();
    let err = run(event("status"), &[&throttled]).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK retries throttling before we see it"
    );
}

#[tokio::test]
async fn status_counts_only_in_service_and_healthy_instances() {
    let describe = describe_returns(group(
        0,
        10,
        3,
        vec![
            instance("i-1", LifecycleState::InService, "Healthy"),
            instance("i-2", LifecycleState::Pending, "Healthy"),
            instance("i-3", LifecycleState::InService, "Unhealthy"),
        ],
    ));
    let mut input = event("status");
    input["target"] = json!(3);
    let out = run(input.clone(), &[&describe]).await.unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!((out.target, out.in_service), (Some(3), Some(1)));
    assert_eq!(out.healthy_targets, None);

    let describe = describe_returns(group(
        0,
        10,
        3,
        vec![
            instance("i-1", LifecycleState::InService, "Healthy"),
            instance("i-2", LifecycleState::InService, "Healthy"),
            instance("i-3", LifecycleState::InService, "Healthy"),
        ],
    ));
    let out = run(input, &[&describe]).await.unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.in_service, Some(3));
}

#[tokio::test]
async fn status_without_a_target_works_it_out_like_scale() {
    let describe = describe_returns(group(
        0,
        10,
        3,
        vec![
            instance("i-1", LifecycleState::InService, "Healthy"),
            instance("i-2", LifecycleState::InService, "Healthy"),
            instance("i-3", LifecycleState::InService, "Healthy"),
        ],
    ));
    let out = run(event("status"), &[&describe]).await.unwrap();
    assert_eq!((out.target, out.status), (Some(3), StepStatus::Done));
}

#[tokio::test]
async fn status_with_a_target_group_counts_the_groups_healthy_targets() {
    let describe = describe_returns(group(
        0,
        10,
        3,
        vec![
            instance("i-1", LifecycleState::InService, "Healthy"),
            instance("i-2", LifecycleState::InService, "Healthy"),
            instance("i-3", LifecycleState::InService, "Healthy"),
        ],
    ));
    let health = target_health(vec![
        ("i-1", TargetHealthStateEnum::Healthy),
        ("i-2", TargetHealthStateEnum::Initial),
        ("i-3", TargetHealthStateEnum::Healthy),
        // Healthy, but not one of this group's instances.
        ("i-other", TargetHealthStateEnum::Healthy),
    ]);
    let mut input = with_target_group(event("status"));
    input["target"] = json!(3);
    let out = handler(input.clone(), &clients(&[&describe], &[&health]))
        .await
        .unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!((out.in_service, out.healthy_targets), (Some(3), Some(2)));
    assert!(out.resources.iter().any(|r| r == TARGET_GROUP));

    let health = target_health(vec![
        ("i-1", TargetHealthStateEnum::Healthy),
        ("i-2", TargetHealthStateEnum::Healthy),
        ("i-3", TargetHealthStateEnum::Healthy),
    ]);
    let out = handler(input, &clients(&[&describe], &[&health]))
        .await
        .unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.healthy_targets, Some(3));
}

#[tokio::test]
async fn a_missing_target_group_is_resource_not_found() {
    let describe = describe_returns(group(0, 10, 1, vec![]));
    let missing = mock!(Elbv2::describe_target_health)
        .sequence()
        .http_status(
            400,
            Some(query_error(
                "TargetGroupNotFound",
                "One or more target groups not found",
            )),
        )
        .build();
    let err = handler(
        with_target_group(event("status")),
        &clients(&[&describe], &[&missing]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert!(err.to_string().starts_with("TargetGroup "), "{err}");
}

fn suspended(mut group: AutoScalingGroup, processes: &[&str]) -> AutoScalingGroup {
    use aws_sdk_autoscaling::types::SuspendedProcess;
    group.suspended_processes = Some(
        processes
            .iter()
            .map(|p| {
                SuspendedProcess::builder()
                    .process_name(*p)
                    .suspension_reason("User suspended")
                    .build()
            })
            .collect(),
    );
    group
}

fn tagged(mut group: AutoScalingGroup, tags: &[(&str, &str)]) -> AutoScalingGroup {
    let mut all = group.tags.take().unwrap_or_default();
    for (key, value) in tags {
        all.push(
            TagDescription::builder()
                .resource_id(GROUP)
                .resource_type("auto-scaling-group")
                .key(*key)
                .value(*value)
                .propagate_at_launch(false)
                .build(),
        );
    }
    group.tags = Some(all);
    group
}

fn describe_in_turn(groups: Vec<AutoScalingGroup>) -> Rule {
    let mut rule = mock!(AutoScaling::describe_auto_scaling_groups)
        .match_requests(|req| req.auto_scaling_group_names() == [GROUP])
        .sequence();
    for group in groups {
        rule = rule.output(move || {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group.clone())
                .build()
        });
    }
    rule.build()
}

fn all_fence_processes() -> String {
    let mut processes: Vec<&str> = scale_asg::FENCE_PROCESSES.to_vec();
    processes.sort();
    processes.join(",")
}

#[tokio::test]
async fn fence_remembers_what_it_takes_stops_launches_zeroes_the_group_and_waits_for_it_to_drain() {
    let running = group(
        2,
        10,
        4,
        vec![instance("i-1", LifecycleState::InService, "Healthy")],
    );
    let draining = tagged(
        suspended(
            group(
                0,
                10,
                0,
                vec![instance("i-1", LifecycleState::Terminating, "Healthy")],
            ),
            scale_asg::FENCE_PROCESSES,
        ),
        &[
            (scale_asg::FENCED_MIN_SIZE_TAG, "2"),
            (
                scale_asg::FENCED_SUSPENDED_PROCESSES_TAG,
                &all_fence_processes(),
            ),
        ],
    );
    let describe = describe_in_turn(vec![running, draining.clone()]);
    // What it takes away is written on the group first, for the scale that undoes the fence.
    let expected_processes = all_fence_processes();
    let remember = mock!(AutoScaling::create_or_update_tags)
        .match_requests(move |req| {
            let tag = |key: &str| {
                req.tags()
                    .iter()
                    .find(|t| t.key() == Some(key))
                    .and_then(|t| t.value())
                    .map(str::to_string)
            };
            req.tags().len() == 2
                && tag(scale_asg::FENCED_MIN_SIZE_TAG).as_deref() == Some("2")
                && tag(scale_asg::FENCED_SUSPENDED_PROCESSES_TAG).as_deref()
                    == Some(expected_processes.as_str())
                && req.tags().iter().all(|t| {
                    t.resource_id() == Some(GROUP) && t.propagate_at_launch() == Some(false)
                })
        })
        .then_output(|| CreateOrUpdateTagsOutput::builder().build());
    let suspend = mock!(AutoScaling::suspend_processes)
        .match_requests(|req| {
            let mut asked: Vec<&str> = req.scaling_processes().iter().map(String::as_str).collect();
            asked.sort();
            let mut wanted = scale_asg::FENCE_PROCESSES.to_vec();
            wanted.sort();
            req.auto_scaling_group_name() == Some(GROUP)
                && asked == wanted
                && !asked.contains(&"Terminate")
        })
        .then_output(|| SuspendProcessesOutput::builder().build());
    let update = mock!(AutoScaling::update_auto_scaling_group)
        .match_requests(|req| {
            req.auto_scaling_group_name() == Some(GROUP)
                && req.min_size() == Some(0)
                && req.desired_capacity() == Some(0)
                && req.max_size().is_none()
        })
        .then_output(|| UpdateAutoScalingGroupOutput::builder().build());
    let out = run(event("fence"), &[&describe, &remember, &suspend, &update])
        .await
        .unwrap();
    assert_eq!(
        (
            remember.num_calls(),
            suspend.num_calls(),
            update.num_calls()
        ),
        (1, 1, 1)
    );
    // An instance is still shutting down: not finished.
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(out.instances_left, Some(1));
    assert_eq!(
        (out.previous_desired, out.desired_capacity, out.min_size),
        (Some(4), 0, 0)
    );
    assert_eq!(out.previous_min_size, Some(2));
    assert_eq!(
        out.suspended_processes.len(),
        scale_asg::FENCE_PROCESSES.len()
    );

    // The state machine asks again: nothing to change, still draining.
    let describe = describe_returns(draining.clone());
    let update = any_update();
    let out = run(event("fence"), &[&describe, &update]).await.unwrap();
    assert_eq!(out.status, StepStatus::InProgress);
    assert_eq!(update.num_calls(), 0);

    // Gone: finished, and nothing was changed.
    let mut drained = draining;
    drained.instances = Some(vec![]);
    let describe = describe_returns(drained);
    let update = any_update();
    let out = run(event("fence"), &[&describe, &update]).await.unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert_eq!(out.instances_left, Some(0));
    assert_eq!(update.num_calls(), 0);
}

#[tokio::test]
async fn fence_leaves_processes_someone_else_suspended_out_of_what_it_remembers() {
    let before = suspended(group(0, 10, 2, vec![]), &["AZRebalance", "Launch"]);
    let after = suspended(group(0, 10, 0, vec![]), scale_asg::FENCE_PROCESSES);
    let describe = describe_in_turn(vec![before, after]);
    let remember = mock!(AutoScaling::create_or_update_tags)
        .match_requests(|req| {
            req.tags().len() == 1
                && req.tags()[0].key() == Some(scale_asg::FENCED_SUSPENDED_PROCESSES_TAG)
                && req.tags()[0].value()
                    == Some("AlarmNotification,InstanceRefresh,ReplaceUnhealthy,ScheduledActions")
        })
        .then_output(|| CreateOrUpdateTagsOutput::builder().build());
    let suspend = mock!(AutoScaling::suspend_processes)
        .match_requests(|req| {
            !req.scaling_processes().contains(&"Launch".to_string())
                && !req.scaling_processes().contains(&"AZRebalance".to_string())
                && req.scaling_processes().len() == 4
        })
        .then_output(|| SuspendProcessesOutput::builder().build());
    let update = any_update();
    let out = run(event("fence"), &[&describe, &remember, &suspend, &update])
        .await
        .unwrap();
    assert_eq!(
        out.status,
        StepStatus::Done,
        "no instance: finished at once"
    );
    assert_eq!(
        (
            remember.num_calls(),
            suspend.num_calls(),
            update.num_calls()
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn scale_resumes_the_processes_a_fence_suspended_before_it_grows_the_group() {
    let fenced_group = tagged(
        suspended(
            group(0, 10, 0, vec![]),
            &["AZRebalance", "Launch", "ScheduledActions"],
        ),
        &[(
            scale_asg::FENCED_SUSPENDED_PROCESSES_TAG,
            "AlarmNotification,Launch,ScheduledActions",
        )],
    );
    let describe = describe_returns(fenced_group);
    // Only what the fence suspended and is still suspended: AZRebalance was someone else's.
    let resume = mock!(AutoScaling::resume_processes)
        .match_requests(|req| {
            let mut asked: Vec<&str> = req.scaling_processes().iter().map(String::as_str).collect();
            asked.sort();
            asked == ["Launch", "ScheduledActions"]
        })
        .then_output(|| ResumeProcessesOutput::builder().build());
    let set = set_desired(3);
    let forget = mock!(AutoScaling::delete_tags)
        .match_requests(|req| {
            req.tags().len() == 1
                && req.tags()[0].key() == Some(scale_asg::FENCED_SUSPENDED_PROCESSES_TAG)
        })
        .then_output(|| DeleteTagsOutput::builder().build());
    let out = run(event("scale"), &[&describe, &resume, &set, &forget])
        .await
        .unwrap();
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(out.resumed_processes, vec!["Launch", "ScheduledActions"]);
    assert_eq!(
        (resume.num_calls(), set.num_calls(), forget.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_makes_no_call() {
    let describe = describe_returns(group(0, 10, 0, vec![]));
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!(42), "InvalidInput", "invalid type"),
        (json!({"action": "explode"}), "UnknownAction", "explode"),
        (
            {
                let mut e = event("scale");
                e["target"] = json!(-1);
                e
            },
            "InvalidInput",
            "target",
        ),
        (
            {
                let mut e = event("scale");
                e["recordedCapacities"]["web"] = json!("six");
                e
            },
            "InvalidInput",
            "recordedCapacities.web",
        ),
        (
            {
                let mut e = event("scale");
                e["group"]["capacity"]["minimum"] = json!(1.5);
                e
            },
            "InvalidInput",
            "group.capacity.minimum",
        ),
        (
            {
                let mut e = event("fence");
                e["group"]["standby"]["autoScalingGroupName"] = json!("");
                e
            },
            "InvalidInput",
            "group.standby.autoScalingGroupName",
        ),
        (
            {
                let mut e = event("scale");
                e["side"] = json!("both");
                e
            },
            "InvalidInput",
            "side",
        ),
        (
            {
                let mut e = event("scale");
                e["region"] = json!("US-WEST-2");
                e
            },
            "InvalidInput",
            "region",
        ),
    ];
    for (input, error_type, mentions) in cases {
        let err = run(input.clone(), &[&describe]).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{input}: {err}");
        assert!(
            err.to_string().contains(mentions),
            "{input}: `{err}` should mention `{mentions}`"
        );
    }
    assert_eq!(describe.num_calls(), 0, "bad input must not reach AWS");
}

#[test]
fn the_sample_events_decode() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/scale-asg");
    let mut actions = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let input = pilot_light_core::parse_step_input::<scale_asg::ScaleAsgInput>(
            value,
            scale_asg::ACTIONS,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        actions.push(input.action);
    }
    actions.sort_by_key(|a| format!("{a:?}"));
    assert_eq!(
        actions,
        vec![
            scale_asg::ScaleAction::Fence,
            scale_asg::ScaleAction::Scale,
            scale_asg::ScaleAction::Status
        ],
        "one sample event per action"
    );
}

fn fenced(mut group: AutoScalingGroup, min: &str) -> AutoScalingGroup {
    group.tags = Some(vec![TagDescription::builder()
        .resource_id(GROUP)
        .resource_type("auto-scaling-group")
        .key(scale_asg::FENCED_MIN_SIZE_TAG)
        .value(min)
        .propagate_at_launch(false)
        .build()]);
    group
}

#[tokio::test]
async fn scale_puts_back_the_min_a_fence_took_and_removes_the_tag() {
    let describe = describe_returns(fenced(group(0, 10, 0, vec![]), "2"));
    let update = mock!(AutoScaling::update_auto_scaling_group)
        .match_requests(|req| req.min_size() == Some(2) && req.desired_capacity() == Some(3))
        .then_output(|| UpdateAutoScalingGroupOutput::builder().build());
    let forget = mock!(AutoScaling::delete_tags)
        .match_requests(|req| {
            req.tags().len() == 1 && req.tags()[0].key() == Some(scale_asg::FENCED_MIN_SIZE_TAG)
        })
        .then_output(|| DeleteTagsOutput::builder().build());
    let set = mock!(AutoScaling::set_desired_capacity)
        .then_output(|| SetDesiredCapacityOutput::builder().build());
    // 50 % of the recorded 6 = 3, with min 2 back.
    let out = run(event("scale"), &[&describe, &update, &forget, &set])
        .await
        .unwrap();
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(out.restored_min_size, Some(2));
    assert_eq!((out.min_size, out.desired_capacity), (2, 3));
    assert_eq!(
        (update.num_calls(), forget.num_calls(), set.num_calls()),
        (1, 1, 0)
    );

    // Someone already put the min back: only the tag goes.
    let describe = describe_returns(fenced(group(2, 10, 3, vec![]), "2"));
    let update = any_update();
    let forget =
        mock!(AutoScaling::delete_tags).then_output(|| DeleteTagsOutput::builder().build());
    let out = run(event("scale"), &[&describe, &update, &forget])
        .await
        .unwrap();
    assert_eq!(out.restored_min_size, None);
    assert_eq!((update.num_calls(), forget.num_calls()), (0, 1));
}
