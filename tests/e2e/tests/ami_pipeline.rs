//! The AMI pipeline end to end on the emulator: `state-machines/ami-pipeline.asl.json` running the real
//! `copy-ami` and `update-launch-template` handlers, images `pending` for a while (the emulator's
//! duration hook), the world asserted afterwards with describe calls and the request log. And the
//! `copy-ami` handler run directly against a group whose instances are pending, unhealthy or being
//! terminated.

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::{Filter, Image};
use copy_ami::{
    CREATED_AT_TAG_KEY, CREATED_BY_AMI_PIPELINE, CREATED_BY_TAG_KEY, SOURCE_IMAGE_TAG_KEY,
    SOURCE_INSTANCE_TAG_KEY, SOURCE_REGION_TAG_KEY,
};
use pilot_light_core::config::state_parameter_name;
use pilot_light_core::{Regional, ENV_TAG_KEY};
use pilot_light_e2e::compute::{SeededGroup, AMI_TAG_KEY};
use pilot_light_e2e::{World, PRIMARY_REGION, STANDBY_REGION};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The configuration document of an AMI pipeline test: one group, this policy, 1 s image polls.
async fn write_ami_config(world: &World, group: &SeededGroup, policy: Value) {
    let document = json!({
        "env": world.env,
        "regions": {"primary": PRIMARY_REGION, "standby": STANDBY_REGION},
        "computeGroups": [group.config()],
        "amiPolicy": policy,
        "poll": {"image": {"intervalSeconds": 1, "maxAttempts": 60}},
    });
    world.write_config(&document).await;
}

async fn set_active_region(world: &World, region: &str) {
    world
        .put_parameter(
            STANDBY_REGION,
            &state_parameter_name(&world.env),
            &json!({"activeRegion": region}).to_string(),
        )
        .await;
}

/// Deregisters every image of this world (the pipeline's included) and their snapshots at teardown.
fn clean_up_pipeline_images(world: &World) {
    let env = world.env.clone();
    world.defer_cleanup(Box::new(move |cfg: SdkConfig| {
        Box::pin(async move {
            for region in [PRIMARY_REGION, STANDBY_REGION] {
                let ec2 = aws_sdk_ec2::Client::new(
                    &cfg.to_builder()
                        .region(aws_config::Region::new(region))
                        .build(),
                );
                let Ok(images) = ec2
                    .describe_images()
                    .owners("self")
                    .filters(tag(ENV_TAG_KEY, &env))
                    .send()
                    .await
                else {
                    continue;
                };
                for image in images.images() {
                    let _ = ec2
                        .deregister_image()
                        .image_id(image.image_id().unwrap_or_default())
                        .send()
                        .await;
                    for snapshot in snapshots_of(image) {
                        let _ = ec2.delete_snapshot().snapshot_id(snapshot).send().await;
                    }
                }
            }
        })
    }));
}

fn tag(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

fn tags_of(image: &Image) -> BTreeMap<String, String> {
    image
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn snapshots_of(image: &Image) -> Vec<String> {
    image
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
        .map(str::to_string)
        .collect()
}

async fn describe_image(world: &World, region: &str, image_id: &str) -> Option<Image> {
    world
        .ec2(region)
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .ok()
        .and_then(|out| out.images().first().cloned())
}

/// The images the pipeline made for the group in `region` (by its tags), as ids.
async fn pipeline_images(world: &World, group: &SeededGroup, region: &str) -> BTreeSet<String> {
    world
        .ec2(region)
        .describe_images()
        .owners("self")
        .filters(tag(ENV_TAG_KEY, &world.env))
        .filters(tag(CREATED_BY_TAG_KEY, CREATED_BY_AMI_PIPELINE))
        .filters(tag(AMI_TAG_KEY, &group.ami_tag_value))
        .send()
        .await
        .expect("describe the pipeline's images")
        .images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string))
        .collect()
}

/// Whether the snapshot still exists (described by id, never the account's whole list).
async fn snapshot_exists(world: &World, region: &str, snapshot_id: &str) -> bool {
    match world
        .ec2(region)
        .describe_snapshots()
        .snapshot_ids(snapshot_id)
        .send()
        .await
    {
        Ok(out) => !out.snapshots().is_empty(),
        Err(err) => {
            let code = err.as_service_error().and_then(|e| {
                aws_sdk_ec2::error::ProvideErrorMetadata::code(e).map(str::to_string)
            });
            assert_eq!(
                code.as_deref(),
                Some("InvalidSnapshot.NotFound"),
                "describe {snapshot_id}: {err:?}"
            );
            false
        }
    }
}

async fn default_version_image(world: &World, region: &str, template_name: &str) -> String {
    let template = world.describe_launch_template(region, template_name).await;
    let id = template.launch_template_id().expect("template id");
    world
        .launch_template_version(region, id, "$Default")
        .await
        .launch_template_data()
        .and_then(|d| d.image_id())
        .expect("the default version has an image")
        .to_string()
}

async fn deploy_pipeline(world: &World) -> String {
    let topic = world.seed_notification_topic(STANDBY_REGION).await;
    world
        .deploy_with(
            "ami-pipeline",
            &BTreeMap::from([("NotificationTopicArn".to_string(), topic.topic_arn.clone())]),
        )
        .await
}

/// What one run made for the (single) group: (source image, copy).
fn run_result(output: &Value) -> (String, String) {
    let group = &output["groups"][0];
    (
        group["sourceImageId"]
            .as_str()
            .expect("sourceImageId")
            .to_string(),
        group["copyImageId"]
            .as_str()
            .expect("copyImageId")
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_runs_keep_three_copies_plus_a_referenced_one_and_prestage_the_standby_template() {
    let world = World::new("amipipe").await;
    let web = world.seed_compute_group("web").await;
    clean_up_pipeline_images(&world);
    write_ami_config(
        &world,
        &web,
        json!({"source": "instance", "keepCopies": 3, "noReboot": true}),
    )
    .await;
    set_active_region(&world, PRIMARY_REGION).await;
    // Imaging and copying take a while: the poll loops see `pending`.
    world.set_duration("ec2.create_image", 1.0);
    world.set_duration("ec2.copy_image", 1.0);
    let arn = deploy_pipeline(&world).await;
    let input = json!({"env": world.env});

    let mut runs: Vec<(String, String)> = Vec::new();
    let mut snapshots: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in 1..=8 {
        let execution = world.run(&arn, &format!("ami-{n}"), &input).await;
        assert_eq!(
            execution.status, "SUCCEEDED",
            "run {n}: {:?} {:?}",
            execution.error, execution.cause
        );
        let output = execution.output.clone().expect("output");
        assert_eq!(output["sourceRegion"], PRIMARY_REGION);
        assert_eq!(output["targetRegion"], STANDBY_REGION);
        let (source, copy) = run_result(&output);
        for (region, id) in [(PRIMARY_REGION, &source), (STANDBY_REGION, &copy)] {
            let image = describe_image(&world, region, id)
                .await
                .unwrap_or_else(|| panic!("run {n}: {id} in {region}"));
            snapshots.insert(id.clone(), snapshots_of(&image));
        }
        if n == 1 {
            // Both images were pending for a while, and the loops polled them.
            assert!(execution.times_entered("WaitForSourceImage") >= 1);
            assert!(execution.times_entered("WaitForCopy") >= 1);
            // A tagged image in both regions.
            let source_image = describe_image(&world, PRIMARY_REGION, &source)
                .await
                .unwrap();
            let source_tags = tags_of(&source_image);
            assert_eq!(source_image.state().map(|s| s.as_str()), Some("available"));
            assert_eq!(source_tags[ENV_TAG_KEY], world.env);
            assert_eq!(source_tags[AMI_TAG_KEY], web.ami_tag_value);
            let group_instances = world
                .group_instances(PRIMARY_REGION, &web.primary.auto_scaling_group_name)
                .await;
            let imaged = &source_tags[SOURCE_INSTANCE_TAG_KEY];
            assert!(
                group_instances
                    .iter()
                    .any(|i| i.instance_id() == Some(imaged.as_str())),
                "imaged {imaged}, an instance of the primary group"
            );
            let copy_image = describe_image(&world, STANDBY_REGION, &copy).await.unwrap();
            let copy_tags = tags_of(&copy_image);
            assert_eq!(copy_image.state().map(|s| s.as_str()), Some("available"));
            assert_eq!(copy_tags[SOURCE_IMAGE_TAG_KEY], source);
            assert_eq!(copy_tags[SOURCE_REGION_TAG_KEY], PRIMARY_REGION);
            assert_eq!(copy_tags[ENV_TAG_KEY], world.env);
            assert_eq!(copy_tags[AMI_TAG_KEY], web.ami_tag_value);
            assert!(copy_tags[CREATED_AT_TAG_KEY].ends_with('Z'));
            // The copy's snapshot carries the environment's tag (what lets prune delete it).
            let snapshot = &snapshots[&copy][0];
            let described = world
                .ec2(STANDBY_REGION)
                .describe_snapshots()
                .snapshot_ids(snapshot)
                .send()
                .await
                .expect("describe the copy's snapshot");
            let snapshot_tags: BTreeMap<_, _> = described.snapshots()[0]
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or("").to_string(),
                        t.value().unwrap_or("").to_string(),
                    )
                })
                .collect();
            assert_eq!(snapshot_tags.get(ENV_TAG_KEY), Some(&world.env.to_string()));
            // Someone pins the first copy in a launch template of their own: it must survive.
            world
                .create_launch_template(STANDBY_REGION, &world.name("web-pinned"), &copy)
                .await;
        }
        // Pre-staged: the standby template's default version runs this run's copy.
        assert_eq!(
            default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await,
            copy,
            "run {n}"
        );
        runs.push((source, copy));
    }

    let copies: Vec<&String> = runs.iter().map(|(_, c)| c).collect();
    let sources: Vec<&String> = runs.iter().map(|(s, _)| s).collect();
    let unique: BTreeSet<&String> = copies.iter().copied().collect();
    assert_eq!(unique.len(), 8, "every run made a new copy");

    // Standby: the newest three copies, plus the pinned first one.
    let expected_standby: BTreeSet<String> = [copies[0], copies[5], copies[6], copies[7]]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(
        pipeline_images(&world, &web, STANDBY_REGION).await,
        expected_standby
    );
    // Primary: the newest three source images (the seeded base image is not the pipeline's).
    let expected_primary: BTreeSet<String> = sources[5..].iter().map(|s| (*s).clone()).collect();
    assert_eq!(
        pipeline_images(&world, &web, PRIMARY_REGION).await,
        expected_primary
    );
    assert!(
        describe_image(&world, PRIMARY_REGION, &web.primary.base_image_id)
            .await
            .is_some()
    );
    assert_eq!(
        default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await,
        *copies[7]
    );

    // The pruned images' snapshots are gone; the kept ones' are there.
    for (n, (source, copy)) in runs.iter().enumerate() {
        for (region, id, kept) in [
            (PRIMARY_REGION, source, n >= 5),
            (STANDBY_REGION, copy, n >= 5 || n == 0),
        ] {
            assert_eq!(
                describe_image(&world, region, id).await.is_some(),
                kept,
                "run {}: image {id} in {region}",
                n + 1
            );
            for snapshot in &snapshots[id] {
                assert_eq!(
                    snapshot_exists(&world, region, snapshot).await,
                    kept,
                    "run {}: snapshot {snapshot} of {id} in {region}",
                    n + 1
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_standby_is_active_images_flow_back_to_the_primary() {
    let world = World::new("amiback").await;
    let web = world.seed_compute_group("web").await;
    clean_up_pipeline_images(&world);
    // After a failover: the standby group serves, the run state says so.
    world
        .set_group_capacity(
            STANDBY_REGION,
            &web.standby.auto_scaling_group_name,
            (1, 4, 1),
        )
        .await;
    write_ami_config(&world, &web, json!({"source": "instance", "keepCopies": 2})).await;
    set_active_region(&world, STANDBY_REGION).await;
    let arn = deploy_pipeline(&world).await;
    let standby_default_before =
        default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await;

    let execution = world
        .run(&arn, "ami-back-1", &json!({"env": world.env}))
        .await;
    assert_eq!(
        execution.status, "SUCCEEDED",
        "{:?} {:?}",
        execution.error, execution.cause
    );
    let output = execution.output.clone().unwrap();
    assert_eq!(output["sourceRegion"], STANDBY_REGION);
    assert_eq!(output["targetRegion"], PRIMARY_REGION);
    let (source, copy) = run_result(&output);

    let standby_instances = world
        .group_instances(STANDBY_REGION, &web.standby.auto_scaling_group_name)
        .await;
    let source_tags = tags_of(
        &describe_image(&world, STANDBY_REGION, &source)
            .await
            .unwrap(),
    );
    assert_eq!(
        Some(source_tags[SOURCE_INSTANCE_TAG_KEY].as_str()),
        standby_instances[0].instance_id(),
        "an instance of the active (standby) group was imaged"
    );
    let copy_tags = tags_of(&describe_image(&world, PRIMARY_REGION, &copy).await.unwrap());
    assert_eq!(copy_tags[SOURCE_REGION_TAG_KEY], STANDBY_REGION);
    assert_eq!(copy_tags[SOURCE_IMAGE_TAG_KEY], source);
    // The primary template is pre-staged for the failback; the standby one is left alone.
    assert_eq!(
        default_version_image(&world, PRIMARY_REGION, &web.primary.launch_template_name).await,
        copy
    );
    assert_eq!(
        default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await,
        standby_default_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_baked_elsewhere_is_copied_once_with_the_standby_kms_key() {
    let world = World::new("amitag").await;
    let web = world.seed_compute_group("web").await;
    clean_up_pipeline_images(&world);
    let keys = world.seed_kms_keys().await;
    let standby_key = keys[STANDBY_REGION].clone();
    // The team's image pipeline baked a newer image in the primary region.
    let baked = world
        .create_group_image(&web, PRIMARY_REGION, "baked")
        .await;
    write_ami_config(
        &world,
        &web,
        json!({"source": "tag", "keepCopies": 3, "standbyKmsKeyId": standby_key}),
    )
    .await;
    let arn = deploy_pipeline(&world).await;
    let input = json!({"env": world.env});

    let before = world.last_request_seq();
    let first = world.run(&arn, "ami-tag-1", &input).await;
    assert_eq!(
        first.status, "SUCCEEDED",
        "{:?} {:?}",
        first.error, first.cause
    );
    let (source, copy) = run_result(first.output.as_ref().unwrap());
    assert_eq!(source, baked, "the newest tagged image is the source");
    // The emulator is shared with other tests: only this world's requests (its images are named
    // after its env).
    let (requests, _) = world.requests_since(before);
    let ours = |r: &&pilot_light_e2e::LoggedRequest| r.mentions(&world.env);
    assert!(
        !requests
            .iter()
            .filter(ours)
            .any(|r| r.action == "CreateImage"),
        "nothing is imaged in tag mode"
    );
    let copies: Vec<_> = requests
        .iter()
        .filter(ours)
        .filter(|r| r.action == "CopyImage")
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(copies[0].region.as_deref(), Some(STANDBY_REGION));
    assert_eq!(copies[0].params.get("SourceImageId"), Some(&json!(baked)));
    assert_eq!(copies[0].params.get("KmsKeyId"), Some(&json!(standby_key)));
    assert_eq!(copies[0].params.get("Encrypted"), Some(&json!("true")));
    let copy_tags = tags_of(&describe_image(&world, STANDBY_REGION, &copy).await.unwrap());
    assert_eq!(copy_tags[SOURCE_IMAGE_TAG_KEY], baked);
    assert_eq!(
        default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await,
        copy
    );

    // The next scheduled run finds nothing new: no second copy.
    let before = world.last_request_seq();
    let second = world.run(&arn, "ami-tag-2", &input).await;
    assert_eq!(second.status, "SUCCEEDED", "{:?}", second.cause);
    let (_, copy_again) = run_result(second.output.as_ref().unwrap());
    assert_eq!(copy_again, copy);
    let (requests, _) = world.requests_since(before);
    assert!(!requests
        .iter()
        .any(|r| r.action == "CopyImage" && r.mentions(&world.env)));
    assert_eq!(
        pipeline_images(&world, &web, STANDBY_REGION).await,
        BTreeSet::from([copy])
    );
}

// ---------------------------------------------------------------------------------------------
// The handler, directly: which instance may be imaged
// ---------------------------------------------------------------------------------------------

fn handler_clients(world: &World) -> copy_ami::Clients {
    let base = world.config(STANDBY_REGION);
    copy_ami::Clients {
        ec2: Regional::new(base.clone(), aws_sdk_ec2::Client::new),
        autoscaling: Regional::new(base.clone(), aws_sdk_autoscaling::Client::new),
        ssm: Regional::new(base, aws_sdk_ssm::Client::new),
        home_region: Some(STANDBY_REGION.to_string()),
    }
}

fn create_event(world: &World, group: &SeededGroup, execution: &str) -> Value {
    json!({
        "action": "create",
        "env": world.env,
        "region": PRIMARY_REGION,
        "side": "primary",
        "group": group.config(),
        "policy": {"source": "instance", "keepCopies": 3},
        "executionId": execution,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_images_a_pending_stopped_or_unhealthy_instance() {
    // (`Terminating` and `Terminating:Wait` need lifecycle hooks the emulator's Auto Scaling does not
    // have: crates/copy-ami/tests/mocked_aws.rs covers them; here EC2 stops an instance behind
    // Auto Scaling's back, the nearest the emulator comes.)
    let world = World::new("amipick").await;
    let web = world.seed_compute_group("web").await;
    clean_up_pipeline_images(&world);
    let group_name = web.primary.auto_scaling_group_name.clone();
    let autoscaling = world.autoscaling(PRIMARY_REGION);
    let mut ids: Vec<String> = world
        .group_instances(PRIMARY_REGION, &group_name)
        .await
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 2);
    let (sick, stopped) = (ids[0].clone(), ids[1].clone());
    // One instance fails its health check; EC2 stops the other (Auto Scaling still says InService).
    autoscaling
        .set_instance_health()
        .instance_id(&sick)
        .health_status("Unhealthy")
        .send()
        .await
        .expect("set instance health");
    world
        .ec2(PRIMARY_REGION)
        .stop_instances()
        .instance_ids(&stopped)
        .send()
        .await
        .expect("stop");
    // A third one is still launching.
    world.set_duration("autoscaling.launch_instance", 300.0);
    world
        .set_group_capacity(PRIMARY_REGION, &group_name, (1, 4, 3))
        .await;
    let instances = world.group_instances(PRIMARY_REGION, &group_name).await;
    let launching: Vec<&str> = instances
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::Pending))
        .filter_map(|i| i.instance_id())
        .collect();
    assert_eq!(launching.len(), 1, "{instances:?}");
    let launching = launching[0].to_string();
    let stopped_in_service = instances.iter().any(|i| {
        i.instance_id() == Some(stopped.as_str())
            && i.lifecycle_state() == Some(&LifecycleState::InService)
            && i.health_status() == Some("Healthy")
    });
    assert!(stopped_in_service, "{instances:?}");

    let clients = handler_clients(&world);
    let before = world.last_request_seq();
    let err = copy_ami::handler(create_event(&world, &web, "run-none"), &clients)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState", "{err}");
    let (requests, _) = world.requests_since(before);
    assert!(
        !requests
            .iter()
            .any(|r| r.action == "CreateImage" && r.mentions(&world.env)),
        "nothing may be imaged: {err}"
    );
    for id in [&sick, &stopped, &launching] {
        assert!(err.to_string().contains(id.as_str()), "{err} names {id}");
    }

    // Once the instance is healthy again, it (and only it) is imaged; a retry reuses that image.
    autoscaling
        .set_instance_health()
        .instance_id(&sick)
        .health_status("Healthy")
        .send()
        .await
        .expect("set instance health");
    let answer = copy_ami::handler(create_event(&world, &web, "run-healthy"), &clients)
        .await
        .expect("create");
    assert_eq!(answer["status"], "started");
    assert_eq!(answer["instanceId"], json!(sick));
    let image_id = answer["imageId"].as_str().unwrap().to_string();
    let tags = tags_of(
        &describe_image(&world, PRIMARY_REGION, &image_id)
            .await
            .unwrap(),
    );
    assert_eq!(tags[SOURCE_INSTANCE_TAG_KEY], sick);
    assert_eq!(tags["pilot-light:execution"], "run-healthy");

    let before = world.last_request_seq();
    let again = copy_ami::handler(create_event(&world, &web, "run-healthy"), &clients)
        .await
        .expect("create again");
    assert_eq!(again["imageId"], json!(image_id));
    assert_eq!(again["status"], "alreadyDone");
    let (requests, _) = world.requests_since(before);
    assert!(!requests
        .iter()
        .any(|r| r.action == "CreateImage" && r.mentions(&world.env)));
}

/// `CreateImage` and `CopyImage` reach EC2 and their answers are lost: the SDK's retry is refused
/// (`InvalidAMIName.Duplicate`), and `copy-ami` looks again and finds the image it made. The run
/// succeeds with one image in each region, the one the standby template is pre-staged with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_and_a_copy_whose_answers_were_lost_are_found_not_made_twice() {
    use pilot_light_e2e::faults::{FaultKind, Operation};
    let world = World::new("amilost").await;
    let web = world.seed_compute_group("web").await;
    clean_up_pipeline_images(&world);
    write_ami_config(&world, &web, json!({"source": "instance", "keepCopies": 2})).await;
    set_active_region(&world, PRIMARY_REGION).await;
    let arn = deploy_pipeline(&world).await;
    let lost = [
        Operation::new("ec2", "CreateImage"),
        Operation::new("ec2", "CopyImage"),
    ];
    world.inject_faults_into_this_world(&lost, FaultKind::Lost, 1);

    let execution = world
        .run(&arn, "ami-lost", &json!({"env": world.env}))
        .await;
    let served = world.faults();
    world.clear_faults();
    assert_eq!(
        execution.status, "SUCCEEDED",
        "{:?} {:?}",
        execution.error, execution.cause
    );
    let mut served_actions: Vec<(String, u32)> = served
        .iter()
        .map(|f| (f.action.clone().unwrap_or_default(), f.served))
        .collect();
    served_actions.sort();
    assert_eq!(
        served_actions,
        vec![("CopyImage".to_string(), 1), ("CreateImage".to_string(), 1)],
        "each call was applied and its answer lost once"
    );
    let (source, copy) = run_result(execution.output.as_ref().unwrap());
    assert_eq!(
        pipeline_images(&world, &web, PRIMARY_REGION).await,
        BTreeSet::from([source.clone()]),
        "one image, not two"
    );
    assert_eq!(
        pipeline_images(&world, &web, STANDBY_REGION).await,
        BTreeSet::from([copy.clone()]),
        "one copy, not two"
    );
    let copy_tags = tags_of(&describe_image(&world, STANDBY_REGION, &copy).await.unwrap());
    assert_eq!(copy_tags[SOURCE_IMAGE_TAG_KEY], source);
    assert_eq!(
        default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await,
        copy
    );
}

/// A failover that begins while the images are made owns the launch templates by the time the copy
/// is done: the pipeline reads the lock again before it pre-stages, keeps the copy, pre-stages and
/// prunes nothing, and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_takes_the_lock_mid_pipeline_stops_the_prestage_and_the_prune() {
    let world = World::new("amilock").await;
    let web = world.seed_compute_group("web").await;
    clean_up_pipeline_images(&world);
    world.delete_run_state_at_teardown();
    write_ami_config(&world, &web, json!({"source": "instance", "keepCopies": 1})).await;
    set_active_region(&world, PRIMARY_REGION).await;
    let arn = deploy_pipeline(&world).await;
    // A first run: one image and its copy, pre-staged. A second one would prune the first image.
    let first = world.run(&arn, "ami-1", &json!({"env": world.env})).await;
    assert_eq!(
        first.status, "SUCCEEDED",
        "{:?} {:?}",
        first.error, first.cause
    );
    let (first_source, first_copy) = run_result(first.output.as_ref().unwrap());
    let template_before =
        default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await;
    assert_eq!(template_before, first_copy);

    world.set_duration("ec2.copy_image", 4.0);
    let since = world.last_request_seq();
    let started = world.start(&arn, "ami-2", &json!({"env": world.env})).await;
    let ours = |r: &pilot_light_e2e::LoggedRequest| {
        r.params
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.contains(world.env.as_str())))
    };
    let began = std::time::Instant::now();
    while !world
        .requests_since(since)
        .0
        .iter()
        .any(|r| r.action == "CopyImage" && ours(r))
    {
        assert!(began.elapsed().as_secs() < 120, "the copy never started");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // A failover takes the lock while the copy is under way.
    let holder = format!(
        "arn:aws:states:{STANDBY_REGION}:123456789012:execution:{}-failover:mid",
        world.env
    );
    world
        .put_parameter(
            STANDBY_REGION,
            &pilot_light_core::config::lock_parameter_name(&world.env),
            &json!({"executionId": holder, "operation": "failover"}).to_string(),
        )
        .await;

    let execution = world
        .wait_without_checks(&started, std::time::Duration::from_secs(180))
        .await;
    assert_eq!(
        execution.status, "SUCCEEDED",
        "{:?} {:?}",
        execution.error, execution.cause
    );
    assert_eq!(execution.times_entered("PreStageLaunchTemplate"), 0);
    assert_eq!(execution.times_entered("PruneSourceRegion"), 0);
    let group = &execution.output.as_ref().expect("output")["groups"][0];
    assert!(
        group["skipped"]
            .as_str()
            .unwrap_or_default()
            .contains("took the lock"),
        "{group}"
    );
    let (second_source, second_copy) = run_result(execution.output.as_ref().unwrap());
    assert_eq!(
        pipeline_images(&world, &web, STANDBY_REGION).await,
        BTreeSet::from([first_copy.clone(), second_copy]),
        "the new copy is kept, and the old one is not pruned"
    );
    assert_eq!(
        pipeline_images(&world, &web, PRIMARY_REGION).await,
        BTreeSet::from([first_source, second_source]),
        "nothing pruned in the source region either"
    );
    assert!(world
        .calls_on(
            since,
            "CreateLaunchTemplateVersion",
            &web.standby.launch_template_name
        )
        .is_empty());
    assert_eq!(
        default_version_image(&world, STANDBY_REGION, &web.standby.launch_template_name).await,
        template_before,
        "the launch template is as it was"
    );
}
