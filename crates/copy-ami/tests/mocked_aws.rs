//! Call shapes and odd states the emulator cannot produce, against mocked EC2 and Auto Scaling with
//! the real SDK clients: instances in `Terminating`, `Terminating:Wait`, `Pending:Wait`, `Standby`
//! (the emulator's Auto Scaling has no lifecycle hooks), throttling, a snapshot still in use. And
//! every sample event in `events/copy-ami/` decodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance as AsgInstance, LifecycleState};
use aws_sdk_autoscaling::Client as AutoScaling;
use aws_sdk_ec2::operation::create_image::CreateImageOutput;
use aws_sdk_ec2::operation::delete_snapshot::DeleteSnapshotOutput;
use aws_sdk_ec2::operation::deregister_image::DeregisterImageOutput;
use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_launch_templates::DescribeLaunchTemplatesOutput;
use aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsOutput;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Image, ImageState, Instance, InstanceState,
    InstanceStateName, Reservation, ResourceType, Tag,
};
use aws_sdk_ec2::Client as Ec2;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use copy_ami::{handler, Clients, CREATED_BY_AMI_PIPELINE, CREATED_BY_TAG_KEY};
use pilot_light_core::{PilotLightError, Regional, ENV_TAG_KEY};
use serde_json::{json, Value};

const REGION: &str = "us-east-1";
const GROUP: &str = "web-use1";
const EXECUTION: &str =
    "arn:aws:states:us-west-2:123456789012:execution:pilot-light-prod-ami-pipeline:run-1";

fn group_config() -> Value {
    json!({
        "name": "web",
        "primary": {"autoScalingGroupName": GROUP, "launchTemplateName": "web-use1"},
        "standby": {"autoScalingGroupName": "web-usw2", "launchTemplateName": "web-usw2"},
        "amiTag": {"key": "pilot-light:group", "value": "web"}
    })
}

fn create_event() -> Value {
    json!({
        "action": "create",
        "env": "prod",
        "region": REGION,
        "side": "primary",
        "group": group_config(),
        "policy": {"source": "instance", "keepCopies": 3, "noReboot": false},
        "executionId": EXECUTION,
    })
}

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>1</RequestID></Response>"
    )
}

fn asg_instance(id: &str, state: LifecycleState, health: &str) -> AsgInstance {
    AsgInstance::builder()
        .instance_id(id)
        .lifecycle_state(state)
        .health_status(health)
        .availability_zone("us-east-1a")
        .protected_from_scale_in(false)
        .build()
}

fn group_with(instances: Vec<AsgInstance>) -> Rule {
    mock!(AutoScaling::describe_auto_scaling_groups)
        .match_requests(|req| req.auto_scaling_group_names() == [GROUP])
        .then_output(move || {
            let mut group = AutoScalingGroup::builder()
                .auto_scaling_group_name(GROUP)
                .min_size(1)
                .max_size(4)
                .desired_capacity(instances.len() as i32);
            for i in &instances {
                group = group.instances(i.clone());
            }
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group.build())
                .build()
        })
}

/// EC2 says every listed instance is running (only Auto Scaling's view differs in these tests).
fn all_running() -> Rule {
    mock!(Ec2::describe_instances).then_output(|| {
        // The handler filters by instance id; answer with the ids it asked for.
        DescribeInstancesOutput::builder()
            .reservations(
                Reservation::builder()
                    .instances(running("i-0good"))
                    .instances(running("i-1terminating"))
                    .build(),
            )
            .build()
    })
}

fn running(id: &str) -> Instance {
    Instance::builder()
        .instance_id(id)
        .state(
            InstanceState::builder()
                .name(InstanceStateName::Running)
                .code(16)
                .build(),
        )
        .build()
}

fn no_images() -> Rule {
    mock!(Ec2::describe_images).then_output(|| DescribeImagesOutput::builder().build())
}

fn create_image_of(instance: &'static str) -> Rule {
    mock!(Ec2::create_image)
        .match_requests(move |req| req.instance_id() == Some(instance))
        .then_output(|| CreateImageOutput::builder().image_id("ami-0new").build())
}

fn any_create_image() -> Rule {
    mock!(Ec2::create_image).then_output(|| CreateImageOutput::builder().image_id("ami-0x").build())
}

fn clients(ec2_rules: &[&Rule], autoscaling_rules: &[&Rule]) -> Clients {
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, ec2_rules, |c| c
        .retry_config(
            aws_sdk_ec2::config::retry::RetryConfig::standard().with_max_attempts(3)
        ));
    let autoscaling = mock_client!(
        aws_sdk_autoscaling,
        RuleMode::MatchAny,
        autoscaling_rules,
        |c| c.retry_config(
            aws_sdk_autoscaling::config::retry::RetryConfig::standard().with_max_attempts(3)
        )
    );
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[]);
    Clients {
        ec2: Regional::fixed([(REGION.to_string(), ec2)]),
        autoscaling: Regional::fixed([(REGION.to_string(), autoscaling)]),
        ssm: Regional::fixed([(REGION.to_string(), ssm)]),
        home_region: Some("us-west-2".into()),
    }
}

#[tokio::test]
async fn never_images_a_terminating_pending_standby_or_unhealthy_instance() {
    let group = group_with(vec![
        asg_instance("i-1terminating", LifecycleState::Terminating, "Healthy"),
        asg_instance("i-2hook", LifecycleState::TerminatingWait, "Healthy"),
        asg_instance("i-3launching", LifecycleState::PendingWait, "Healthy"),
        asg_instance("i-4pending", LifecycleState::Pending, "Healthy"),
        asg_instance("i-5standby", LifecycleState::Standby, "Healthy"),
        asg_instance("i-6sick", LifecycleState::InService, "Unhealthy"),
    ]);
    let images = no_images();
    let instances = all_running();
    let create = any_create_image();
    let err = handler(
        create_event(),
        &clients(&[&images, &instances, &create], &[&group]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState", "{err}");
    let text = err.to_string();
    for id in ["i-1terminating", "i-2hook", "i-3launching", "i-6sick"] {
        assert!(text.contains(id), "the error names {id}: {text}");
    }
    assert_eq!(create.num_calls(), 0, "nothing may be imaged");
    assert_eq!(
        instances.num_calls(),
        0,
        "no instance passed Auto Scaling's checks"
    );
}

#[tokio::test]
async fn images_the_one_healthy_in_service_instance_with_the_policys_reboot_setting_and_tags() {
    let group = group_with(vec![
        asg_instance("i-1terminating", LifecycleState::Terminating, "Healthy"),
        asg_instance("i-0good", LifecycleState::InService, "Healthy"),
    ]);
    let images = no_images();
    let instances = all_running();
    let create = mock!(Ec2::create_image)
        .match_requests(|req| {
            let tags: Vec<(&str, &str)> = req
                .tag_specifications()
                .iter()
                .filter(|s| s.resource_type() == Some(&ResourceType::Image))
                .flat_map(|s| s.tags())
                .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
                .collect();
            req.instance_id() == Some("i-0good")
                && req.no_reboot() == Some(false)
                && req.name().is_some_and(|n| n.starts_with("prod-web-"))
                && tags.contains(&(ENV_TAG_KEY, "prod"))
                && tags.contains(&("pilot-light:group", "web"))
                && tags.contains(&(CREATED_BY_TAG_KEY, CREATED_BY_AMI_PIPELINE))
                && tags.contains(&("pilot-light:execution", EXECUTION))
        })
        .then_output(|| CreateImageOutput::builder().image_id("ami-0new").build());
    let answer = handler(
        create_event(),
        &clients(&[&images, &instances, &create], &[&group]),
    )
    .await
    .expect("create");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(answer["status"], "started");
    assert_eq!(answer["imageId"], "ami-0new");
    assert_eq!(answer["instanceId"], "i-0good");
    assert_eq!(answer["imageState"], "pending");
}

#[tokio::test]
async fn an_instance_ec2_is_shutting_down_is_never_imaged() {
    let group = group_with(vec![asg_instance(
        "i-0good",
        LifecycleState::InService,
        "Healthy",
    )]);
    let images = no_images();
    let instances = mock!(Ec2::describe_instances).then_output(|| {
        DescribeInstancesOutput::builder()
            .reservations(
                Reservation::builder()
                    .instances(
                        Instance::builder()
                            .instance_id("i-0good")
                            .state(
                                InstanceState::builder()
                                    .name(InstanceStateName::ShuttingDown)
                                    .code(32)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let create = create_image_of("i-0good");
    let err = handler(
        create_event(),
        &clients(&[&images, &instances, &create], &[&group]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState");
    assert!(err.to_string().contains("shutting-down"), "{err}");
    assert_eq!(create.num_calls(), 0);
}

#[tokio::test]
async fn a_retried_create_reuses_the_image_of_its_first_attempt() {
    let group = group_with(vec![asg_instance(
        "i-0good",
        LifecycleState::InService,
        "Healthy",
    )]);
    let images = mock!(Ec2::describe_images)
        .match_requests(|req| {
            req.filters()
                .iter()
                .any(|f| f.name() == Some("tag:pilot-light:execution") && f.values() == [EXECUTION])
        })
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(
                    Image::builder()
                        .image_id("ami-0first")
                        .state(ImageState::Pending)
                        .tags(
                            Tag::builder()
                                .key("pilot-light:source-instance")
                                .value("i-0good")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let create = any_create_image();
    let answer = handler(create_event(), &clients(&[&images, &create], &[&group]))
        .await
        .expect("create");
    assert_eq!(answer["status"], "inProgress");
    assert_eq!(answer["imageId"], "ami-0first");
    assert_eq!(answer["instanceId"], "i-0good");
    assert_eq!(create.num_calls(), 0, "the first attempt's image is reused");
    assert_eq!(group.num_calls(), 0, "no need to look at the group again");
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_surfaced_as_throttled() {
    let images = no_images();
    let throttled = mock!(AutoScaling::describe_auto_scaling_groups)
        .sequence()
        .http_status(
            400,
            Some(
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
                    .to_string(),
            ),
        )
        .times(3)
        .build();
    let create = any_create_image();
    let err = handler(create_event(), &clients(&[&images, &create], &[&throttled]))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
    assert_eq!(throttled.num_calls(), 3);
    assert_eq!(create.num_calls(), 0);
}

fn managed_image(id: &str, day: u32, snapshot: &str) -> Image {
    Image::builder()
        .image_id(id)
        .state(ImageState::Available)
        .creation_date(format!("2026-11-{day:02}T00:00:00.000Z"))
        .tags(Tag::builder().key(ENV_TAG_KEY).value("prod").build())
        .tags(
            Tag::builder()
                .key(CREATED_BY_TAG_KEY)
                .value(CREATED_BY_AMI_PIPELINE)
                .build(),
        )
        .tags(Tag::builder().key("pilot-light:group").value("web").build())
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(EbsBlockDevice::builder().snapshot_id(snapshot).build())
                .build(),
        )
        .build()
}

#[tokio::test]
async fn prune_keeps_a_snapshot_ec2_says_is_in_use_and_never_touches_the_kept_images() {
    let images = mock!(Ec2::describe_images).then_output(|| {
        DescribeImagesOutput::builder()
            .images(managed_image("ami-1", 1, "snap-1"))
            .images(managed_image("ami-2", 2, "snap-2"))
            .images(managed_image("ami-3", 3, "snap-3"))
            .build()
    });
    let templates = mock!(Ec2::describe_launch_templates)
        .then_output(|| DescribeLaunchTemplatesOutput::builder().build());
    let deregister = mock!(Ec2::deregister_image)
        .match_requests(|req| req.image_id() == Some("ami-1"))
        .then_output(|| DeregisterImageOutput::builder().r#return(true).build());
    let in_use = mock!(Ec2::delete_snapshot)
        .match_requests(|req| req.snapshot_id() == Some("snap-1"))
        .sequence()
        .http_status(
            400,
            Some(ec2_error(
                "InvalidSnapshot.InUse",
                "The snapshot snap-1 is currently in use by ami-9",
            )),
        )
        .build();
    let other_deletes =
        mock!(Ec2::delete_snapshot).then_output(|| DeleteSnapshotOutput::builder().build());
    let snapshots =
        mock!(Ec2::describe_snapshots).then_output(|| DescribeSnapshotsOutput::builder().build());
    let event = json!({
        "action": "prune", "env": "prod", "region": REGION, "group": group_config(), "keepCopies": 2
    });
    let answer = handler(
        event,
        &clients(
            &[
                &images,
                &templates,
                &deregister,
                &in_use,
                &other_deletes,
                &snapshots,
            ],
            &[],
        ),
    )
    .await
    .expect("prune");
    assert_eq!(answer["kept"], json!(["ami-3", "ami-2"]));
    assert_eq!(answer["deregistered"], json!(["ami-1"]));
    assert_eq!(answer["deletedSnapshots"], json!([]));
    assert_eq!((deregister.num_calls(), in_use.num_calls()), (1, 1));
    assert_eq!(other_deletes.num_calls(), 0);
}

#[tokio::test]
async fn bad_input_is_a_typed_error_and_never_reaches_aws() {
    let images = no_images();
    let cases = [
        (json!({"env": "prod"}), "InvalidInput"),
        (json!({"action": "explode"}), "UnknownAction"),
        (json!({"action": 3}), "InvalidInput"),
        (
            json!({"action": "prune", "env": "prod", "region": REGION, "group": group_config(), "keepCopies": 0}),
            "InvalidInput",
        ),
        (
            json!({"action": "copy", "env": "prod", "sourceRegion": REGION, "sourceImageId": "ami-1",
                   "targetRegion": REGION, "group": group_config()}),
            "UnsafeOperation",
        ),
        (
            {
                let mut e = create_event();
                e["group"]["amiTag"]["key"] = json!(ENV_TAG_KEY);
                e
            },
            "InvalidInput",
        ),
        (
            {
                let mut e = create_event();
                e["extra"] = json!(1);
                e
            },
            "InvalidInput",
        ),
    ];
    for (event, expected) in cases {
        let err: PilotLightError = handler(event.clone(), &clients(&[&images], &[]))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), expected, "{event}: {err}");
    }
    assert_eq!(images.num_calls(), 0);
}

#[test]
fn every_sample_event_decodes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/copy-ami");
    let mut actions = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("events/copy-ami") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let event: Value = serde_json::from_str(&text).expect("JSON");
        let action = event["action"].as_str().expect("action").to_string();
        let decoded = match action.as_str() {
            "plan" => {
                pilot_light_core::parse_step_input::<copy_ami::PlanInput>(event, copy_ami::ACTIONS)
                    .map(|_| ())
            }
            "create" => pilot_light_core::parse_step_input::<copy_ami::CreateInput>(
                event,
                copy_ami::ACTIONS,
            )
            .map(|_| ()),
            "status" => pilot_light_core::parse_step_input::<copy_ami::StatusInput>(
                event,
                copy_ami::ACTIONS,
            )
            .map(|_| ()),
            "copy" => {
                pilot_light_core::parse_step_input::<copy_ami::CopyInput>(event, copy_ami::ACTIONS)
                    .map(|_| ())
            }
            "prune" => {
                pilot_light_core::parse_step_input::<copy_ami::PruneInput>(event, copy_ami::ACTIONS)
                    .map(|_| ())
            }
            other => panic!("{}: unknown action {other}", path.display()),
        };
        decoded.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        actions.insert(action);
    }
    let all: std::collections::BTreeSet<String> =
        copy_ami::ACTIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(actions, all, "a sample for every action");
}
