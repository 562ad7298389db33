//! The compute handlers run directly (not through Lambda) against the emulated EC2, Auto Scaling and
//! ELBv2: `update-launch-template` and `scale-asg`. The world is asserted afterwards with describe
//! calls and the emulator's request log.

use aws_sdk_ec2::types::{InstanceType, RequestLaunchTemplateData};
use pilot_light_core::{PilotLightError, Regional, StepStatus};
use pilot_light_e2e::compute::{SeededGroup, SEEDED_INSTANCE_TYPE, SEEDED_USER_DATA};
use pilot_light_e2e::{World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const EXECUTION: &str =
    "arn:aws:states:us-west-2:123456789012:execution:pilot-light-e2e-failover:failover-e2e-1";

// ---------------------------------------------------------------------------------------------
// update-launch-template
// ---------------------------------------------------------------------------------------------

fn template_clients(world: &World) -> update_launch_template::Clients {
    update_launch_template::Clients {
        ec2: Regional::new(world.config(STANDBY_REGION), aws_sdk_ec2::Client::new),
    }
}

fn update_event(group: &SeededGroup) -> Value {
    json!({
        "action": "update",
        "region": STANDBY_REGION,
        "side": "standby",
        "group": group.config(),
        "executionId": EXECUTION,
    })
}

async fn update(
    world: &World,
    event: Value,
) -> Result<update_launch_template::UpdateLaunchTemplateOutput, PilotLightError> {
    update_launch_template::handler(event, &template_clients(world)).await
}

async fn image_state(world: &World, region: &str, image_id: &str) -> String {
    world
        .ec2(region)
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .expect("describe image")
        .images()
        .first()
        .and_then(|i| i.state())
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_tagged_image_becomes_the_default_keeping_everything_else_then_a_rerun_is_already_done(
) {
    let world = World::new("ltnew").await;
    let web = world.seed_compute_group("web").await;
    let standby = &web.standby;
    let older = world.create_group_image(&web, STANDBY_REGION, "v1").await;
    let newest = world.create_group_image(&web, STANDBY_REGION, "v2").await;
    // Newer still, but not this group's: never chosen.
    let untagged = world
        .create_image_with_tags(&web, STANDBY_REGION, "untagged", &[])
        .await;
    let other_group = world
        .create_image_with_tags(
            &web,
            STANDBY_REGION,
            "other",
            &[("pilot-light:group", "someone-else")],
        )
        .await;
    // The same tag in the primary region is another region's image.
    let primary_image = world.create_group_image(&web, PRIMARY_REGION, "v3").await;

    let before = world.last_request_seq();
    let out = update(&world, update_event(&web)).await.expect("update");
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(
        out.image_id, newest,
        "older {older}, untagged {untagged}, other {other_group}, primary {primary_image}"
    );
    assert_eq!(
        out.previous_image_id.as_deref(),
        Some(standby.base_image_id.as_str())
    );
    assert_eq!((out.previous_default_version, out.default_version), (1, 2));
    assert_eq!(out.launch_template_id, standby.launch_template_id);

    // The world: version 2 is the default, runs the newest image, and kept everything else.
    let template = world
        .describe_launch_template(STANDBY_REGION, &standby.launch_template_name)
        .await;
    assert_eq!(template.default_version_number(), Some(2));
    assert_eq!(template.latest_version_number(), Some(2));
    let original = world
        .launch_template_version(STANDBY_REGION, &standby.launch_template_id, "1")
        .await;
    let current = world
        .launch_template_version(STANDBY_REGION, &standby.launch_template_id, "$Default")
        .await;
    let (was, now) = (
        original.launch_template_data().expect("version 1 data"),
        current
            .launch_template_data()
            .expect("default version data"),
    );
    assert_eq!(now.image_id(), Some(newest.as_str()));
    assert_eq!(
        now.instance_type(),
        Some(&InstanceType::from(SEEDED_INSTANCE_TYPE))
    );
    assert_eq!(now.user_data(), Some(SEEDED_USER_DATA));
    assert!(
        !now.tag_specifications().is_empty(),
        "tag specifications lost"
    );
    assert_eq!(now.tag_specifications(), was.tag_specifications());
    assert_eq!(now.user_data(), was.user_data());
    let description = current.version_description().unwrap_or_default();
    assert!(description.contains(EXECUTION), "{description}");
    assert!(description.contains(&newest), "{description}");
    // Version 1 is untouched.
    assert_eq!(was.image_id(), Some(standby.base_image_id.as_str()));
    // Only the standby region was asked; the primary's template is as seeded.
    let (calls, _) = world.requests_since(before);
    assert!(
        calls
            .iter()
            // Other tests share the emulator: look at the calls that name this world's resources.
            .filter(|c| c.service == "ec2" && c.mentions(&world.env))
            .all(|c| c.region.as_deref() == Some(STANDBY_REGION)),
        "a call left the standby region"
    );
    for action in ["CreateLaunchTemplateVersion", "ModifyLaunchTemplate"] {
        assert_eq!(
            world
                .calls_on(before, action, &standby.launch_template_id)
                .len(),
            1,
            "{action}"
        );
    }
    let primary = world
        .describe_launch_template(PRIMARY_REGION, &web.primary.launch_template_name)
        .await;
    assert_eq!(primary.latest_version_number(), Some(1));

    // Again: observe, find it done, change nothing.
    let before = world.last_request_seq();
    let again = update(&world, update_event(&web))
        .await
        .expect("second update");
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(
        (again.previous_default_version, again.default_version),
        (2, 2)
    );
    assert_eq!(again.image_id, newest);
    let template = world
        .describe_launch_template(STANDBY_REGION, &standby.launch_template_name)
        .await;
    assert_eq!(
        template.latest_version_number(),
        Some(2),
        "a new version was created"
    );
    assert!(world
        .calls_on(
            before,
            "CreateLaunchTemplateVersion",
            &standby.launch_template_id
        )
        .is_empty());
    assert!(world
        .calls_on(before, "ModifyLaunchTemplate", &standby.launch_template_id)
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_image_is_not_chosen() {
    let world = World::new("ltpend").await;
    let web = world.seed_compute_group("web").await;
    let ready = world
        .create_group_image(&web, STANDBY_REGION, "ready")
        .await;
    world.set_duration("ec2.create_image", 600.0);
    let pending = world
        .create_group_image(&web, STANDBY_REGION, "pending")
        .await;
    assert_eq!(
        image_state(&world, STANDBY_REGION, &pending).await,
        "pending"
    );

    let out = update(&world, update_event(&web)).await.expect("update");
    assert_eq!(
        out.image_id, ready,
        "the pending image {pending} was chosen"
    );
    let current = world
        .launch_template_version(STANDBY_REGION, &web.standby.launch_template_id, "$Default")
        .await;
    assert_eq!(
        current.launch_template_data().and_then(|d| d.image_id()),
        Some(ready.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_image_without_architecture_is_chosen_by_its_tag() {
    let world = World::new("ltreg").await;
    let web = world.seed_compute_group("web").await;
    let registered = world
        .register_group_image(&web, STANDBY_REGION, "registered")
        .await;
    let out = update(&world, update_event(&web)).await.expect("update");
    assert_eq!(out.image_id, registered);
    assert_eq!(out.status, StepStatus::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_the_instance_type_cannot_run_is_architecture_mismatch_and_changes_nothing() {
    let world = World::new("ltarch").await;
    let web = world.seed_compute_group("web").await;
    let standby = &web.standby;
    // The emulator cannot make arm64 images (its images take the architecture of an x86_64
    // instance, or none), so the mismatch is made the other way round: the template moves to an
    // arm64-only instance type (Graviton), and the newest image is x86_64.
    let ec2 = world.ec2(STANDBY_REGION);
    ec2.create_launch_template_version()
        .launch_template_id(&standby.launch_template_id)
        .source_version("1")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .instance_type(InstanceType::from("t4g.micro"))
                .build(),
        )
        .send()
        .await
        .expect("create the Graviton version");
    ec2.modify_launch_template()
        .launch_template_id(&standby.launch_template_id)
        .default_version("2")
        .send()
        .await
        .expect("make it the default");
    let x86 = world.create_group_image(&web, STANDBY_REGION, "x86").await;

    let before = world.last_request_seq();
    let err = update(&world, update_event(&web)).await.unwrap_err();
    assert_eq!(err.error_type(), "ArchitectureMismatch", "{err}");
    assert_eq!(
        err.to_string(),
        format!("image {x86} is x86_64, but instance type t4g.micro supports arm64")
    );
    let template = world
        .describe_launch_template(STANDBY_REGION, &standby.launch_template_name)
        .await;
    assert_eq!(template.default_version_number(), Some(2));
    assert_eq!(template.latest_version_number(), Some(2));
    assert!(world
        .calls_on(
            before,
            "CreateLaunchTemplateVersion",
            &standby.launch_template_id
        )
        .is_empty());
    assert!(world
        .calls_on(before, "ModifyLaunchTemplate", &standby.launch_template_id)
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_left_by_a_crashed_run_is_made_the_default_without_a_second_version() {
    let world = World::new("ltcrash").await;
    let web = world.seed_compute_group("web").await;
    let standby = &web.standby;
    let newest = world.create_group_image(&web, STANDBY_REGION, "v2").await;
    // What a run that stopped between its two calls leaves: version 2, not the default.
    world
        .ec2(STANDBY_REGION)
        .create_launch_template_version()
        .launch_template_id(&standby.launch_template_id)
        .source_version("1")
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(&newest)
                .build(),
        )
        .send()
        .await
        .expect("create version 2");

    let before = world.last_request_seq();
    let out = update(&world, update_event(&web)).await.expect("update");
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!((out.previous_default_version, out.default_version), (1, 2));
    let template = world
        .describe_launch_template(STANDBY_REGION, &standby.launch_template_name)
        .await;
    assert_eq!(template.default_version_number(), Some(2));
    assert_eq!(
        template.latest_version_number(),
        Some(2),
        "a second version was created"
    );
    assert!(world
        .calls_on(
            before,
            "CreateLaunchTemplateVersion",
            &standby.launch_template_id
        )
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_template_and_missing_images_are_typed_errors() {
    let world = World::new("ltmiss").await;
    let web = world.seed_compute_group("web").await;

    let mut no_template = update_event(&web);
    no_template["group"]["standby"]["launchTemplateName"] = json!(world.name("no-such-template"));
    let err = update(&world, no_template).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound", "{err}");
    assert!(err.to_string().starts_with("LaunchTemplate "), "{err}");

    let mut no_images = update_event(&web);
    no_images["group"]["amiTag"]["value"] = json!(world.name("nothing-tagged"));
    let err = update(&world, no_images).await.unwrap_err();
    assert_eq!(err.error_type(), "ImageNotFound", "{err}");
}

// ---------------------------------------------------------------------------------------------
// scale-asg
// ---------------------------------------------------------------------------------------------

fn scale_clients(world: &World) -> scale_asg::Clients {
    scale_asg::Clients {
        autoscaling: Regional::new(
            world.config(STANDBY_REGION),
            aws_sdk_autoscaling::Client::new,
        ),
        elbv2: Regional::new(
            world.config(STANDBY_REGION),
            aws_sdk_elasticloadbalancingv2::Client::new,
        ),
    }
}

fn scale_event(group: &SeededGroup, action: &str, capacity: Value) -> Value {
    let mut config = group.config();
    config["capacity"] = capacity;
    let mut recorded = serde_json::Map::new();
    recorded.insert(group.name.clone(), json!(5));
    json!({
        "action": action,
        "region": STANDBY_REGION,
        "side": "standby",
        "group": config,
        "recordedCapacities": recorded,
    })
}

async fn scale(world: &World, event: Value) -> Result<scale_asg::ScaleAsgOutput, PilotLightError> {
    scale_asg::handler(event, &scale_clients(world)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_from_zero_to_the_percentage_of_the_recorded_capacity_and_status_waits_for_in_service(
) {
    let world = World::new("asgup").await;
    let web = world.seed_compute_group("web").await;
    let name = &web.standby.auto_scaling_group_name;
    world.set_duration("autoscaling.launch_instance", 2.0);
    let policy = json!({"targetPercent": 60, "minimum": 1});

    let before = world.last_request_seq();
    let out = scale(&world, scale_event(&web, "scale", policy.clone()))
        .await
        .expect("scale");
    assert_eq!(world.calls_on(before, "SetDesiredCapacity", name).len(), 1);
    // ceil(5 × 60 %) = 3
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(
        (out.target, out.previous_desired, out.desired_capacity),
        (Some(3), Some(0), 3)
    );
    assert_eq!(out.limited_by_max_size, Some(false));
    let group = world.describe_group(STANDBY_REGION, name).await;
    assert_eq!(group.desired_capacity(), Some(3));

    // The instances are launching: not done yet.
    let mut status_event = scale_event(&web, "status", policy.clone());
    status_event["target"] = json!(out.target);
    let first = scale(&world, status_event.clone()).await.expect("status");
    assert_eq!(first.status, StepStatus::InProgress, "{first:?}");
    assert!(first.in_service.unwrap_or(0) < 3);
    let pending = world.group_instances(STANDBY_REGION, name).await;
    assert_eq!(pending.len(), 3, "pending instances count as capacity");

    // Poll as the state machine would, with a bound.
    let began = Instant::now();
    let done = loop {
        let polled = scale(&world, status_event.clone()).await.expect("status");
        if polled.status == StepStatus::Done || began.elapsed() > Duration::from_secs(20) {
            break polled;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(done.status, StepStatus::Done, "{done:?}");
    assert_eq!(done.in_service, Some(3));
    assert!(
        began.elapsed() >= Duration::from_millis(500),
        "done too early for a 2 s launch"
    );
    let instances = world.group_instances(STANDBY_REGION, name).await;
    assert_eq!(instances.len(), 3);
    assert!(instances
        .iter()
        .all(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService")));

    // Again: already at the target, nothing is asked of Auto Scaling.
    let before = world.last_request_seq();
    let again = scale(&world, scale_event(&web, "scale", policy))
        .await
        .expect("second scale");
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert_eq!(again.desired_capacity, 3);
    assert!(world
        .calls_on(before, "SetDesiredCapacity", name)
        .is_empty());
    assert!(world
        .calls_on(before, "UpdateAutoScalingGroup", name)
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_never_scales_down_and_stops_at_max_size() {
    let world = World::new("asgclamp").await;
    let web = world.seed_compute_group("web").await;
    let name = &web.standby.auto_scaling_group_name;

    // A group already bigger than the target keeps its size.
    world
        .set_group_capacity(STANDBY_REGION, name, (0, 4, 3))
        .await;
    let before = world.last_request_seq();
    let out = scale(
        &world,
        scale_event(&web, "scale", json!({"targetPercent": 20, "minimum": 1})),
    )
    .await
    .expect("scale");
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert_eq!((out.target, out.desired_capacity), (Some(1), 3));
    assert!(world
        .calls_on(before, "SetDesiredCapacity", name)
        .is_empty());
    assert_eq!(
        world
            .describe_group(STANDBY_REGION, name)
            .await
            .desired_capacity(),
        Some(3)
    );

    // A target above MaxSize gets MaxSize, and says so.
    let out = scale(
        &world,
        scale_event(&web, "scale", json!({"target": 10, "minimum": 1})),
    )
    .await
    .expect("scale to the max");
    assert_eq!(out.status, StepStatus::Started);
    assert_eq!(
        (out.target, out.requested_target, out.desired_capacity),
        (Some(4), Some(10), 4)
    );
    assert_eq!(out.limited_by_max_size, Some(true));
    let group = world.describe_group(STANDBY_REGION, name).await;
    assert_eq!(
        (group.desired_capacity(), group.max_size()),
        (Some(4), Some(4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fence_puts_desired_and_min_to_zero_then_is_already_done() {
    let world = World::new("asgfence").await;
    let web = world.seed_compute_group("web").await;
    let name = &web.primary.auto_scaling_group_name;
    assert_eq!(world.group_instances(PRIMARY_REGION, name).await.len(), 2);
    let clients = scale_asg::Clients {
        autoscaling: Regional::new(
            world.config(PRIMARY_REGION),
            aws_sdk_autoscaling::Client::new,
        ),
        elbv2: Regional::new(
            world.config(PRIMARY_REGION),
            aws_sdk_elasticloadbalancingv2::Client::new,
        ),
    };
    let event = json!({
        "action": "fence",
        "region": PRIMARY_REGION,
        "side": "primary",
        "group": web.config(),
    });

    // The state machine runs `fence` until the group has no instance left.
    let mut out = scale_asg::handler(event.clone(), &clients)
        .await
        .expect("fence");
    assert!(
        matches!(out.status, StepStatus::Done | StepStatus::Started),
        "{out:?}"
    );
    assert_eq!(
        (out.previous_desired, out.desired_capacity, out.min_size),
        (Some(2), 0, 0)
    );
    for _ in 0..30 {
        if out.status.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        out = scale_asg::handler(event.clone(), &clients)
            .await
            .expect("fence again while draining");
    }
    assert!(out.status.is_finished(), "{out:?}");
    assert_eq!(out.instances_left, Some(0));
    assert!(world.group_instances(PRIMARY_REGION, name).await.is_empty());
    let group = world.describe_group(PRIMARY_REGION, name).await;
    assert_eq!(
        (group.desired_capacity(), group.min_size()),
        (Some(0), Some(0))
    );
    assert_eq!(group.max_size(), Some(4), "max is left alone");
    // Nothing can start an instance in the fenced group: launches, alarms and schedules suspended.
    let suspended: Vec<&str> = group
        .suspended_processes()
        .iter()
        .filter_map(|p| p.process_name())
        .collect();
    for process in scale_asg::FENCE_PROCESSES {
        assert!(
            suspended.contains(process),
            "{process} not suspended: {suspended:?}"
        );
    }
    assert!(!suspended.contains(&"Terminate"));
    assert!(group
        .tags()
        .iter()
        .any(|t| t.key() == Some(scale_asg::FENCED_SUSPENDED_PROCESSES_TAG)));

    let before = world.last_request_seq();
    let again = scale_asg::handler(event.clone(), &clients)
        .await
        .expect("fence again");
    assert_eq!(again.status, StepStatus::AlreadyDone);
    assert!(world
        .calls_on(before, "UpdateAutoScalingGroup", name)
        .is_empty());
    assert!(world.calls_on(before, "SuspendProcesses", name).is_empty());

    // The next scale (a failback, an un-fence) resumes what the fence suspended.
    let mut scale_event = event;
    scale_event["action"] = json!("scale");
    let mut recorded = serde_json::Map::new();
    recorded.insert(web.name.clone(), json!(2));
    scale_event["recordedCapacities"] = serde_json::Value::Object(recorded);
    let scaled = scale_asg::handler(scale_event, &clients)
        .await
        .expect("scale");
    assert_eq!(
        scaled.resumed_processes.len(),
        scale_asg::FENCE_PROCESSES.len()
    );
    let group = world.describe_group(PRIMARY_REGION, name).await;
    assert!(group.suspended_processes().is_empty());
    assert!(!group
        .tags()
        .iter()
        .any(|t| t.key() == Some(scale_asg::FENCED_SUSPENDED_PROCESSES_TAG)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_with_a_target_group_counts_the_groups_healthy_targets() {
    let world = World::new("asgtg").await;
    let mut web = world.seed_compute_group("web").await;
    let arn = world.attach_target_group(&mut web, STANDBY_REGION).await;
    let policy = json!({"target": 2, "minimum": 1});

    let out = scale(&world, scale_event(&web, "scale", policy.clone()))
        .await
        .expect("scale");
    assert_eq!(out.desired_capacity, 2);
    let mut status_event = scale_event(&web, "status", policy);
    status_event["target"] = json!(2);
    let status = scale(&world, status_event).await.expect("status");
    assert_eq!(status.status, StepStatus::Done, "{status:?}");
    assert_eq!(
        (status.in_service, status.healthy_targets),
        (Some(2), Some(2))
    );
    assert!(status.resources.contains(&arn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_group_is_resource_not_found() {
    let world = World::new("asgmiss").await;
    let web = world.seed_compute_group("web").await;
    let mut event = scale_event(&web, "scale", json!({"targetPercent": 100, "minimum": 1}));
    event["group"]["standby"]["autoScalingGroupName"] = json!(world.name("no-such-group"));
    let err = scale(&world, event).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound", "{err}");
    assert!(err.to_string().starts_with("AutoScalingGroup "), "{err}");
}
