//! The handler's call shapes and error paths against mocked EC2 responses (faults the emulator
//! cannot produce: throttling, arm64 images, odd answers), with the real `aws_sdk_ec2::Client`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is its job

use aws_sdk_ec2::operation::create_launch_template_version::CreateLaunchTemplateVersionOutput;
use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::operation::describe_instance_types::DescribeInstanceTypesOutput;
use aws_sdk_ec2::operation::describe_launch_template_versions::DescribeLaunchTemplateVersionsOutput;
use aws_sdk_ec2::operation::describe_launch_templates::DescribeLaunchTemplatesOutput;
use aws_sdk_ec2::operation::modify_launch_template::ModifyLaunchTemplateOutput;
use aws_sdk_ec2::types::{
    ArchitectureType, ArchitectureValues, Image, ImageState, InstanceType, InstanceTypeInfo,
    LaunchTemplate, LaunchTemplateVersion, ProcessorInfo, ResponseLaunchTemplateData, Tag,
};
use aws_sdk_ec2::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use pilot_light_core::{PilotLightError, Regional, StepStatus};
use serde_json::{json, Value};
use update_launch_template::{handler, Clients, UpdateLaunchTemplateOutput};

const REGION: &str = "us-west-2";
const TEMPLATE_ID: &str = "lt-0123456789abcdef0";
const TEMPLATE_NAME: &str = "web-usw2";
const EXECUTION: &str =
    "arn:aws:states:us-west-2:123456789012:execution:pilot-light-prod-failover:failover-prod-1";

fn event() -> Value {
    json!({
        "action": "update",
        "region": REGION,
        "side": "standby",
        "group": {
            "name": "web",
            "primary": {"autoScalingGroupName": "web-use1", "launchTemplateName": "web-use1"},
            "standby": {"autoScalingGroupName": "web-usw2", "launchTemplateName": TEMPLATE_NAME},
            "amiTag": {"key": "pilot-light:group", "value": "web"}
        },
        "executionId": EXECUTION
    })
}

fn template(default: i64, latest: i64) -> Rule {
    mock!(Client::describe_launch_templates)
        .match_requests(|req| req.launch_template_names() == [TEMPLATE_NAME])
        .then_output(move || {
            DescribeLaunchTemplatesOutput::builder()
                .launch_templates(
                    LaunchTemplate::builder()
                        .launch_template_id(TEMPLATE_ID)
                        .launch_template_name(TEMPLATE_NAME)
                        .default_version_number(default)
                        .latest_version_number(latest)
                        .build(),
                )
                .build()
        })
}

fn data(image: &str, instance_type: Option<&str>) -> ResponseLaunchTemplateData {
    let mut builder = ResponseLaunchTemplateData::builder()
        .image_id(image)
        .user_data("IyEvYmluL3NoCmVjaG8gaGVsbG8K");
    if let Some(instance_type) = instance_type {
        builder = builder.instance_type(InstanceType::from(instance_type));
    }
    builder.build()
}

fn versions(list: Vec<(i64, ResponseLaunchTemplateData)>) -> Rule {
    mock!(Client::describe_launch_template_versions).then_output(move || {
        let mut out = DescribeLaunchTemplateVersionsOutput::builder();
        for (number, data) in &list {
            out = out.launch_template_versions(
                LaunchTemplateVersion::builder()
                    .launch_template_id(TEMPLATE_ID)
                    .version_number(*number)
                    .launch_template_data(data.clone())
                    .build(),
            );
        }
        out.build()
    })
}

fn image(id: &str, state: &str, arch: &str, created: &str) -> Image {
    Image::builder()
        .image_id(id)
        .state(ImageState::from(state))
        .architecture(ArchitectureValues::from(arch))
        .creation_date(created)
        .tags(Tag::builder().key("pilot-light:group").value("web").build())
        .build()
}

fn images(list: Vec<Image>) -> Rule {
    mock!(Client::describe_images)
        .match_requests(|req| {
            req.owners() == ["self"]
                && req
                    .filters()
                    .iter()
                    .any(|f| f.name() == Some("tag:pilot-light:group") && f.values() == ["web"])
        })
        .then_output(move || {
            let mut out = DescribeImagesOutput::builder();
            for image in &list {
                out = out.images(image.clone());
            }
            out.build()
        })
}

fn instance_type(name: &'static str, arch: &'static str) -> Rule {
    mock!(Client::describe_instance_types)
        .match_requests(move |req| req.instance_types() == [InstanceType::from(name)])
        .then_output(move || {
            DescribeInstanceTypesOutput::builder()
                .instance_types(
                    InstanceTypeInfo::builder()
                        .instance_type(InstanceType::from(name))
                        .processor_info(
                            ProcessorInfo::builder()
                                .supported_architectures(ArchitectureType::from(arch))
                                .build(),
                        )
                        .build(),
                )
                .build()
        })
}

fn create_version(source: &'static str, image: &'static str, number: i64) -> Rule {
    mock!(Client::create_launch_template_version)
        .match_requests(move |req| {
            req.launch_template_id() == Some(TEMPLATE_ID)
                && req.source_version() == Some(source)
                && req.launch_template_data()
                    == Some(
                        &aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                            .image_id(image)
                            .build(),
                    )
                && req
                    .version_description()
                    .is_some_and(|d| d.contains(image) && d.contains(EXECUTION))
        })
        .then_output(move || {
            CreateLaunchTemplateVersionOutput::builder()
                .launch_template_version(
                    LaunchTemplateVersion::builder()
                        .launch_template_id(TEMPLATE_ID)
                        .version_number(number)
                        .build(),
                )
                .build()
        })
}

fn make_default(version: &'static str) -> Rule {
    mock!(Client::modify_launch_template)
        .match_requests(move |req| {
            req.launch_template_id() == Some(TEMPLATE_ID) && req.default_version() == Some(version)
        })
        .then_output(|| ModifyLaunchTemplateOutput::builder().build())
}

/// Any create / modify call: for asserting that none was made.
fn any_create() -> Rule {
    mock!(Client::create_launch_template_version)
        .then_output(|| CreateLaunchTemplateVersionOutput::builder().build())
}
fn any_modify() -> Rule {
    mock!(Client::modify_launch_template)
        .then_output(|| ModifyLaunchTemplateOutput::builder().build())
}

fn clients(rules: &[&Rule]) -> Clients {
    let client = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules, |c| c.retry_config(
        aws_sdk_ec2::config::retry::RetryConfig::standard().with_max_attempts(3)
    ));
    Clients {
        ec2: Regional::fixed([(REGION.to_string(), client)]),
    }
}

async fn run(event: Value, rules: &[&Rule]) -> Result<UpdateLaunchTemplateOutput, PilotLightError> {
    handler(event, &clients(rules)).await
}

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>1</RequestID></Response>"
    )
}

const OLD: &str = "2026-11-01T00:00:00.000Z";
const NEW: &str = "2026-11-20T00:00:00.000Z";

#[tokio::test]
async fn creates_a_version_from_the_default_with_only_the_image_and_makes_it_default() {
    let template = template(3, 3);
    let versions = versions(vec![(3, data("ami-old", Some("t3.micro")))]);
    let images = images(vec![
        image("ami-old", "available", "x86_64", OLD),
        image("ami-new", "available", "x86_64", NEW),
    ]);
    let types = instance_type("t3.micro", "x86_64");
    let create = create_version("3", "ami-new", 4);
    let modify = make_default("4");
    let out = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.image_id, "ami-new");
    assert_eq!(out.previous_image_id.as_deref(), Some("ami-old"));
    assert_eq!((out.default_version, out.previous_default_version), (4, 3));
    assert_eq!(out.launch_template_id, TEMPLATE_ID);
    assert_eq!(out.resources, vec![TEMPLATE_ID, "ami-new"]);
    assert_eq!((create.num_calls(), modify.num_calls()), (1, 1));
    let json = serde_json::to_value(&out).unwrap();
    for key in [
        "action",
        "status",
        "group",
        "launchTemplateName",
        "launchTemplateId",
        "imageId",
        "previousImageId",
        "defaultVersion",
        "previousDefaultVersion",
        "startedAt",
        "finishedAt",
        "resources",
    ] {
        assert!(json.get(key).is_some(), "answer lacks {key}: {json}");
    }
    assert_eq!(json["status"], "done");
}

#[tokio::test]
async fn default_already_on_the_newest_image_is_already_done_without_any_change() {
    let template = template(4, 4);
    let versions = versions(vec![(4, data("ami-new", Some("t3.micro")))]);
    let images = images(vec![
        image("ami-old", "available", "x86_64", OLD),
        image("ami-new", "available", "x86_64", NEW),
    ]);
    let types = instance_type("t3.micro", "x86_64");
    let (create, modify) = (any_create(), any_modify());
    let out = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap();
    assert_eq!(out.status, StepStatus::AlreadyDone);
    assert_eq!((out.default_version, out.previous_default_version), (4, 4));
    assert_eq!((create.num_calls(), modify.num_calls()), (0, 0));
    assert_eq!(
        types.num_calls(),
        0,
        "nothing to check when nothing changes"
    );
}

#[tokio::test]
async fn a_version_left_by_a_crashed_run_is_made_default_without_a_second_version() {
    let template = template(3, 4);
    let versions = versions(vec![
        (3, data("ami-old", Some("t3.micro"))),
        (4, data("ami-new", Some("t3.micro"))),
    ]);
    let images = images(vec![image("ami-new", "available", "x86_64", NEW)]);
    let types = instance_type("t3.micro", "x86_64");
    let create = any_create();
    let modify = make_default("4");
    let out = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(out.default_version, 4);
    assert_eq!(create.num_calls(), 0);
    assert_eq!(modify.num_calls(), 1);
}

#[tokio::test]
async fn a_latest_version_with_the_image_but_other_changes_is_not_adopted() {
    let template = template(3, 4);
    let versions = versions(vec![
        (3, data("ami-old", Some("t3.micro"))),
        // Someone else's version: same image, another instance type.
        (4, data("ami-new", Some("t3.large"))),
    ]);
    let images = images(vec![image("ami-new", "available", "x86_64", NEW)]);
    let types = instance_type("t3.micro", "x86_64");
    let create = create_version("3", "ami-new", 5);
    let modify = make_default("5");
    let out = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap();
    assert_eq!(out.default_version, 5);
    assert_eq!((create.num_calls(), modify.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_arm64_image_for_an_x86_instance_type_is_refused_and_nothing_changes() {
    let template = template(3, 3);
    let versions = versions(vec![(3, data("ami-old", Some("t3.micro")))]);
    let images = images(vec![
        image("ami-old", "available", "x86_64", OLD),
        image("ami-arm", "available", "arm64", NEW),
    ]);
    let types = instance_type("t3.micro", "x86_64");
    let (create, modify) = (any_create(), any_modify());
    let err = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ArchitectureMismatch");
    assert_eq!(
        err.to_string(),
        "image ami-arm is arm64, but instance type t3.micro supports x86_64"
    );
    assert_eq!((create.num_calls(), modify.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_template_without_instance_type_skips_the_architecture_check() {
    let template = template(1, 1);
    let versions = versions(vec![(1, data("ami-old", None))]);
    let images = images(vec![image("ami-arm", "available", "arm64", NEW)]);
    let types = instance_type("t3.micro", "x86_64");
    let create = create_version("1", "ami-arm", 2);
    let modify = make_default("2");
    let out = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!(types.num_calls(), 0);
}

#[tokio::test]
async fn only_pending_or_other_groups_images_is_image_not_found_and_nothing_changes() {
    let template = template(3, 3);
    let versions = versions(vec![(3, data("ami-old", Some("t3.micro")))]);
    let other_group = Image::builder()
        .image_id("ami-api")
        .state(ImageState::Available)
        .architecture(ArchitectureValues::X8664)
        .creation_date(NEW)
        .tags(Tag::builder().key("pilot-light:group").value("api").build())
        .build();
    let images = images(vec![
        image("ami-pending", "pending", "x86_64", NEW),
        other_group,
    ]);
    let (create, modify) = (any_create(), any_modify());
    let err = run(event(), &[&template, &versions, &images, &create, &modify])
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ImageNotFound");
    assert_eq!(
        err.to_string(),
        "no available AMI tagged pilot-light:group=web in us-west-2"
    );
    assert_eq!((create.num_calls(), modify.num_calls()), (0, 0));
}

#[tokio::test]
async fn every_page_of_images_is_read() {
    let template = template(3, 3);
    let versions = versions(vec![(3, data("ami-old", Some("t3.micro")))]);
    let first = mock!(Client::describe_images)
        .match_requests(|req| req.next_token().is_none())
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(image("ami-old", "available", "x86_64", OLD))
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::describe_images)
        .match_requests(|req| req.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(image("ami-new", "available", "x86_64", NEW))
                .build()
        });
    let types = instance_type("t3.micro", "x86_64");
    let create = create_version("3", "ami-new", 4);
    let modify = make_default("4");
    let out = run(
        event(),
        &[
            &template, &versions, &first, &second, &types, &create, &modify,
        ],
    )
    .await
    .unwrap();
    assert_eq!(out.image_id, "ami-new");
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_missing_template_is_resource_not_found() {
    let missing = mock!(Client::describe_launch_templates)
        .sequence()
        .http_status(
            400,
            Some(ec2_error(
                "InvalidLaunchTemplateName.NotFoundException",
                "At least one of the launch templates specified in the request does not exist.",
            )),
        )
        .build();
    let err = run(event(), &[&missing]).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
    assert_eq!(
        err.to_string(),
        "LaunchTemplate `web-usw2` not found in us-west-2"
    );
}

#[tokio::test]
async fn an_empty_answer_for_the_template_is_resource_not_found_too() {
    let empty = mock!(Client::describe_launch_templates)
        .then_output(|| DescribeLaunchTemplatesOutput::builder().build());
    let err = run(event(), &[&empty]).await.unwrap_err();
    assert_eq!(err.error_type(), "ResourceNotFound");
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_surfaced_as_throttled() {
    let throttled = mock!(Client::describe_launch_templates)
        .sequence()
        .http_status(
            503,
            Some(ec2_error("RequestLimitExceeded", "Request limit exceeded.")),
        )
        .times(3)
        .build();
    let err = run(event(), &[&throttled]).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK retries throttling before we see it"
    );
}

#[tokio::test]
async fn throttling_after_the_new_version_leaves_a_state_the_next_run_completes() {
    let template = template(3, 3);
    let versions = versions(vec![(3, data("ami-old", Some("t3.micro")))]);
    let images = images(vec![image("ami-new", "available", "x86_64", NEW)]);
    let types = instance_type("t3.micro", "x86_64");
    let create = create_version("3", "ami-new", 4);
    let modify = mock!(Client::modify_launch_template)
        .sequence()
        .http_status(
            503,
            Some(ec2_error("RequestLimitExceeded", "Request limit exceeded.")),
        )
        .times(3)
        .build();
    let err = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "Throttled");
    assert_eq!(create.num_calls(), 1);

    // The next run sees version 4 (the image, nothing else changed) and only makes it the default.
    let template = self::template(3, 4);
    let versions = self::versions(vec![
        (3, data("ami-old", Some("t3.micro"))),
        (4, data("ami-new", Some("t3.micro"))),
    ]);
    let create = any_create();
    let modify = make_default("4");
    let out = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap();
    assert_eq!(out.status, StepStatus::Done);
    assert_eq!((create.num_calls(), modify.num_calls()), (0, 1));
}

#[tokio::test]
async fn an_instance_type_ec2_does_not_know_is_invalid_state() {
    let template = template(3, 3);
    let versions = versions(vec![(3, data("ami-old", Some("t9.nonsense")))]);
    let images = images(vec![image("ami-new", "available", "x86_64", NEW)]);
    let types = mock!(Client::describe_instance_types)
        .sequence()
        .http_status(
            400,
            Some(ec2_error(
                "InvalidInstanceType",
                "The following supplied instance types do not exist: [t9.nonsense]",
            )),
        )
        .build();
    let (create, modify) = (any_create(), any_modify());
    let err = run(
        event(),
        &[&template, &versions, &images, &types, &create, &modify],
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidState");
    assert!(err.to_string().contains("t9.nonsense"), "{err}");
    assert_eq!((create.num_calls(), modify.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_version_missing_from_the_answer_is_a_typed_error_not_a_panic() {
    let template = template(3, 4);
    // EC2 answers with version 3 only.
    let versions = versions(vec![(3, data("ami-old", Some("t3.micro")))]);
    let err = run(event(), &[&template, &versions]).await.unwrap_err();
    assert_eq!(err.error_type(), "AwsServiceError");
    assert!(err.to_string().contains("version 4"), "{err}");
}

#[tokio::test]
async fn bad_input_gives_typed_errors_and_makes_no_call() {
    let template = template(3, 3);
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!("not an object"), "InvalidInput", "invalid type"),
        (json!({"action": "scale"}), "UnknownAction", "scale"),
        (
            json!({"action": "update", "region": REGION, "side": "standby"}),
            "InvalidInput",
            "group",
        ),
        (
            {
                let mut e = event();
                e["side"] = json!("elsewhere");
                e
            },
            "InvalidInput",
            "side",
        ),
        (
            {
                let mut e = event();
                e["group"]["standby"]["launchTemplateName"] = json!(" ");
                e
            },
            "InvalidInput",
            "group.standby.launchTemplateName",
        ),
        (
            {
                let mut e = event();
                e["group"]["amiTag"]
                    .as_object_mut()
                    .unwrap()
                    .remove("value");
                e
            },
            "InvalidInput",
            "group.amiTag.value",
        ),
        (
            {
                let mut e = event();
                e["region"] = json!("nowhere");
                e
            },
            "InvalidInput",
            "region",
        ),
        (
            {
                let mut e = event();
                e["region"] = json!("us-east-1");
                e
            },
            // No client for that region in this test: still a typed error.
            "InvalidInput",
            "us-east-1",
        ),
        (
            {
                let mut e = event();
                e["surprise"] = json!(true);
                e
            },
            "InvalidInput",
            "surprise",
        ),
    ];
    for (input, error_type, mentions) in cases {
        let err = run(input.clone(), &[&template]).await.unwrap_err();
        assert_eq!(err.error_type(), error_type, "{input}: {err}");
        assert!(
            err.to_string().contains(mentions),
            "{input}: `{err}` should mention `{mentions}`"
        );
    }
    assert_eq!(template.num_calls(), 0, "bad input must not reach AWS");
}

#[test]
fn the_sample_events_decode() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/update-launch-template");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        pilot_light_core::parse_step_input::<update_launch_template::UpdateLaunchTemplateInput>(
            value,
            update_launch_template::ACTIONS,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen > 0);
}
