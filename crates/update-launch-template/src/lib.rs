//! `update-launch-template`: points a compute group's launch template (one side, one region) at the
//! newest `available` AMI that the account owns and that carries the group's AMI tag (`update`).
//!
//! Observe, then act: the handler describes the template's default and latest versions and the
//! tagged images first. The image is chosen by tag and creation date, never by name. Only when the
//! default version runs another image does it create a version from the default one (`SourceVersion`:
//! instance type, user data, tags and everything else are kept; only `ImageId` changes) and make it
//! the default. When an earlier run created that version and stopped before making it the default,
//! the latest version is reused instead of creating a second one. Before any change, the image's
//! architecture is checked against the instance type of the version that becomes the default.
//! Nothing here waits.
//!
//! Layout: one action, so one file: the input, the observation, the pure decision (with its table
//! tests) and the SDK calls in `lib.rs`.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateVersion, RequestLaunchTemplateData, ResponseLaunchTemplateData,
};
use pilot_light_core::config::ComputeGroupConfig;
use pilot_light_core::images::{find_own_tagged_images, pick_newest_tagged, ImageView};
use pilot_light_core::{parse_step_input, PilotLightError, Regional, StepStatus, Timestamp};
use serde::{Deserialize, Serialize};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["update"];

/// EC2 refuses version descriptions longer than this.
const MAX_VERSION_DESCRIPTION: usize = 255;

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub ec2: Regional<aws_sdk_ec2::Client>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`).
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        Self {
            ec2: Regional::new(base, aws_sdk_ec2::Client::new),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UpdateAction {
    /// Make the newest tagged image the default version's image (once).
    Update,
}

/// Which half of a compute group entry to act on.
pub use pilot_light_core::config::Side;

/// Input from the state machine: the action and the slice of configuration it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateLaunchTemplateInput {
    pub action: UpdateAction,
    /// The region of `side`'s launch template.
    pub region: String,
    pub side: Side,
    pub group: ComputeGroupConfig,
    /// The Step Functions execution, named in the new version's description.
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// What the action found and did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateLaunchTemplateOutput {
    pub action: UpdateAction,
    pub status: StepStatus,
    /// Logical compute group name from the configuration.
    pub group: String,
    pub region: String,
    pub side: Side,
    pub launch_template_name: String,
    pub launch_template_id: String,
    /// The image the default version runs now.
    pub image_id: String,
    /// The image the default version ran before (`null` when it had none).
    pub previous_image_id: Option<String>,
    /// The default version number now.
    pub default_version: i64,
    /// The default version number before.
    pub previous_default_version: i64,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// Ids of the resources looked at or changed: the launch template and the image.
    pub resources: Vec<String>,
}

/// One launch template version, reduced to what the decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionObservation {
    pub number: i64,
    pub image_id: Option<String>,
    /// `None` when the version leaves the instance type to the launch request.
    pub instance_type: Option<String>,
}

impl VersionObservation {
    fn from_version(version: &LaunchTemplateVersion) -> Self {
        let data = version.launch_template_data();
        Self {
            number: version.version_number().unwrap_or_default(),
            image_id: data
                .and_then(|d| d.image_id())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            instance_type: data
                .and_then(|d| d.instance_type())
                .map(|t| t.as_str().to_string())
                .filter(|s| !s.is_empty()),
        }
    }
}

/// The launch template as described: its default and latest versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateObservation {
    pub id: String,
    pub name: String,
    pub default: VersionObservation,
    pub latest: VersionObservation,
    /// The latest version's data equals the default version's in everything but `ImageId`: it is
    /// what this handler would create from the default version.
    pub latest_differs_only_in_image: bool,
}

/// What `update` should do, decided from the observation alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateDecision {
    /// The default version already runs the image.
    AlreadyDone,
    /// An earlier run created the version but did not make it the default: only do that.
    MakeLatestDefault { version: i64 },
    /// Create a version from `source_version` with only the image changed, and make it the default.
    CreateVersion { source_version: i64 },
}

/// Decides `update` for the chosen image.
pub fn decide_update(template: &TemplateObservation, image_id: &str) -> TemplateDecision {
    if template.default.image_id.as_deref() == Some(image_id) {
        return TemplateDecision::AlreadyDone;
    }
    let latest = &template.latest;
    if latest.number > template.default.number
        && latest.image_id.as_deref() == Some(image_id)
        && template.latest_differs_only_in_image
    {
        return TemplateDecision::MakeLatestDefault {
            version: latest.number,
        };
    }
    TemplateDecision::CreateVersion {
        source_version: template.default.number,
    }
}

/// The image must run on the instance type: its architecture must be one the type supports. An
/// image or a type that does not state its architecture is not refused (AWS always states both).
pub fn check_architecture(
    image: &ImageView,
    instance_type: &str,
    supported: &[String],
) -> Result<(), PilotLightError> {
    let Some(architecture) = image.architecture.as_deref() else {
        return Ok(());
    };
    if supported.is_empty() || supported.iter().any(|s| s == architecture) {
        return Ok(());
    }
    Err(PilotLightError::ArchitectureMismatch {
        image_id: image.image_id.clone(),
        image_architecture: architecture.to_string(),
        instance_type: instance_type.to_string(),
        supported: supported.join(", "),
    })
}

/// The new version's description: the image, the source version and the execution, within EC2's
/// length limit.
pub fn version_description(
    image_id: &str,
    source_version: i64,
    execution_id: Option<&str>,
) -> String {
    let mut text = format!("pilot-light: {image_id} on version {source_version}");
    if let Some(execution) = execution_id.filter(|e| !e.is_empty()) {
        text.push_str(" by ");
        text.push_str(execution);
    }
    text.chars().take(MAX_VERSION_DESCRIPTION).collect()
}

/// The Lambda handler: decode, validate, observe, act.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<UpdateLaunchTemplateOutput, PilotLightError> {
    let started_at = Timestamp::now();
    let input: UpdateLaunchTemplateInput = parse_step_input(event, ACTIONS)?;
    let side = input.side.of_group(&input.group);
    let side_name = input.side.name();
    check_not_empty(
        &format!("group.{side_name}.launchTemplateName"),
        &side.launch_template_name,
    )?;
    check_not_empty("group.amiTag.key", &input.group.ami_tag.key)?;
    let ec2 = clients.ec2.get(&input.region)?;
    let region = input.region.as_str();
    let template_name = side.launch_template_name.as_str();
    let tag = &input.group.ami_tag;

    let template = observe_template(&ec2, template_name, region).await?;
    let images = find_own_tagged_images(&ec2, tag).await?;
    let image = pick_newest_tagged(&images, tag).ok_or_else(|| PilotLightError::ImageNotFound {
        tag: format!("{}={}", tag.key, tag.value),
        region: region.to_string(),
    })?;

    let decision = decide_update(&template, &image.image_id);
    if decision != TemplateDecision::AlreadyDone {
        // The version that becomes the default has the default version's instance type (it is
        // created from it, or differs from it only in the image).
        if let Some(instance_type) = template.default.instance_type.as_deref() {
            let supported = supported_architectures(&ec2, instance_type, region).await?;
            check_architecture(image, instance_type, &supported)?;
        }
    }
    let (status, default_version) = match decision {
        TemplateDecision::AlreadyDone => (StepStatus::AlreadyDone, template.default.number),
        TemplateDecision::MakeLatestDefault { version } => {
            make_default(&ec2, &template.id, version).await?;
            (StepStatus::Done, version)
        }
        TemplateDecision::CreateVersion { source_version } => {
            let description = version_description(
                &image.image_id,
                source_version,
                input.execution_id.as_deref(),
            );
            let version = create_version(
                &ec2,
                &template.id,
                source_version,
                &image.image_id,
                &description,
            )
            .await?;
            make_default(&ec2, &template.id, version).await?;
            (StepStatus::Done, version)
        }
    };

    tracing::info!(
        group = %input.group.name,
        side = side_name,
        region,
        launch_template_id = %template.id,
        image_id = %image.image_id,
        previous_image_id = ?template.default.image_id,
        default_version,
        previous_default_version = template.default.number,
        status = ?status,
        "update-launch-template"
    );
    Ok(UpdateLaunchTemplateOutput {
        action: input.action,
        status,
        group: input.group.name.clone(),
        region: region.to_string(),
        side: input.side,
        launch_template_name: template.name.clone(),
        launch_template_id: template.id.clone(),
        image_id: image.image_id.clone(),
        previous_image_id: template.default.image_id.clone(),
        default_version,
        previous_default_version: template.default.number,
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![template.id.clone(), image.image_id.clone()],
    })
}

fn check_not_empty(field: &str, value: &str) -> Result<(), PilotLightError> {
    if value.trim().is_empty() {
        Err(PilotLightError::InvalidInput {
            field: field.to_string(),
            reason: "must not be empty".into(),
        })
    } else {
        Ok(())
    }
}

/// EC2 answered, but without a field it always sends.
fn incomplete(operation: &str, what: &str) -> PilotLightError {
    PilotLightError::AwsServiceError {
        operation: operation.to_string(),
        code: "IncompleteResponse".into(),
        message: format!("the answer has no {what}"),
    }
}

fn template_not_found(name: &str, region: &str) -> PilotLightError {
    PilotLightError::ResourceNotFound {
        kind: "LaunchTemplate".into(),
        id: name.to_string(),
        region: region.to_string(),
    }
}

/// Describes the template and its default and latest versions. Not found is `ResourceNotFound`.
async fn observe_template(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    region: &str,
) -> Result<TemplateObservation, PilotLightError> {
    let described = ec2
        .describe_launch_templates()
        .launch_template_names(name)
        .send()
        .await
        .map_err(|err| match err.code() {
            Some(code) if code.starts_with("InvalidLaunchTemplateName.NotFound") => {
                template_not_found(name, region)
            }
            Some("InvalidLaunchTemplateId.NotFound") => template_not_found(name, region),
            _ => PilotLightError::from_sdk("DescribeLaunchTemplates", &err),
        })?;
    let template = described
        .launch_templates()
        .iter()
        .find(|t| t.launch_template_name() == Some(name))
        .ok_or_else(|| template_not_found(name, region))?;
    let operation = "DescribeLaunchTemplates";
    let id = template
        .launch_template_id()
        .ok_or_else(|| incomplete(operation, "LaunchTemplateId"))?
        .to_string();
    let default_number = template
        .default_version_number()
        .ok_or_else(|| incomplete(operation, "DefaultVersionNumber"))?;
    let latest_number = template
        .latest_version_number()
        .ok_or_else(|| incomplete(operation, "LatestVersionNumber"))?;

    let mut request = ec2
        .describe_launch_template_versions()
        .launch_template_id(&id)
        .versions(default_number.to_string());
    if latest_number != default_number {
        request = request.versions(latest_number.to_string());
    }
    let versions = request.send().await.map_err(|err| match err.code() {
        Some(code) if code.starts_with("InvalidLaunchTemplate") && code.contains("NotFound") => {
            template_not_found(name, region)
        }
        _ => PilotLightError::from_sdk("DescribeLaunchTemplateVersions", &err),
    })?;
    let version = |number: i64| {
        versions
            .launch_template_versions()
            .iter()
            .find(|v| v.version_number() == Some(number))
            .ok_or_else(|| {
                incomplete(
                    "DescribeLaunchTemplateVersions",
                    &format!("version {number} of {id}"),
                )
            })
    };
    let default = version(default_number)?;
    let latest = version(latest_number)?;
    Ok(TemplateObservation {
        id: id.clone(),
        name: name.to_string(),
        default: VersionObservation::from_version(default),
        latest: VersionObservation::from_version(latest),
        latest_differs_only_in_image: latest_number != default_number
            && same_but_image(
                default.launch_template_data(),
                latest.launch_template_data(),
            ),
    })
}

/// True when two versions' data are equal once `ImageId` is left out.
fn same_but_image(
    a: Option<&ResponseLaunchTemplateData>,
    b: Option<&ResponseLaunchTemplateData>,
) -> bool {
    let without_image = |data: Option<&ResponseLaunchTemplateData>| {
        data.cloned().map(|mut d| {
            d.image_id = None;
            d
        })
    };
    without_image(a) == without_image(b)
}

/// The architectures an instance type supports. An instance type EC2 does not know is
/// `InvalidState`: the template cannot launch anything.
async fn supported_architectures(
    ec2: &aws_sdk_ec2::Client,
    instance_type: &str,
    region: &str,
) -> Result<Vec<String>, PilotLightError> {
    let unknown = || PilotLightError::InvalidState {
        resource: format!("instance type {instance_type}"),
        state: "unknown".into(),
        reason: format!("EC2 does not offer it in {region}"),
    };
    let described = ec2
        .describe_instance_types()
        .instance_types(InstanceType::from(instance_type))
        .send()
        .await
        .map_err(|err| match err.code() {
            Some("InvalidInstanceType") => unknown(),
            _ => PilotLightError::from_sdk("DescribeInstanceTypes", &err),
        })?;
    let info = described
        .instance_types()
        .iter()
        .find(|i| i.instance_type().map(|t| t.as_str()) == Some(instance_type))
        .ok_or_else(unknown)?;
    Ok(info
        .processor_info()
        .map(|p| {
            p.supported_architectures()
                .iter()
                .map(|a| a.as_str().to_string())
                .collect()
        })
        .unwrap_or_default())
}

/// Creates a version from `source_version` with only `ImageId` changed; returns its number.
async fn create_version(
    ec2: &aws_sdk_ec2::Client,
    template_id: &str,
    source_version: i64,
    image_id: &str,
    description: &str,
) -> Result<i64, PilotLightError> {
    let created = ec2
        .create_launch_template_version()
        .launch_template_id(template_id)
        .source_version(source_version.to_string())
        .version_description(description)
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id(image_id)
                .build(),
        )
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CreateLaunchTemplateVersion", &err))?;
    created
        .launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| incomplete("CreateLaunchTemplateVersion", "VersionNumber"))
}

/// Makes `version` the template's default version.
async fn make_default(
    ec2: &aws_sdk_ec2::Client,
    template_id: &str,
    version: i64,
) -> Result<(), PilotLightError> {
    ec2.modify_launch_template()
        .launch_template_id(template_id)
        .default_version(version.to_string())
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("ModifyLaunchTemplate", &err))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str) -> ImageView {
        ImageView {
            image_id: id.into(),
            state: "available".into(),
            architecture: Some("x86_64".into()),
            ..ImageView::default()
        }
    }

    fn version(number: i64, image: Option<&str>) -> VersionObservation {
        VersionObservation {
            number,
            image_id: image.map(str::to_string),
            instance_type: Some("t3.micro".into()),
        }
    }

    fn template(
        default: VersionObservation,
        latest: VersionObservation,
        only_image: bool,
    ) -> TemplateObservation {
        TemplateObservation {
            id: "lt-0123".into(),
            name: "web".into(),
            default,
            latest,
            latest_differs_only_in_image: only_image,
        }
    }

    #[test]
    fn update_decisions() {
        use TemplateDecision::*;
        let cases = vec![
            // The default already runs the image.
            (
                template(
                    version(3, Some("ami-new")),
                    version(3, Some("ami-new")),
                    false,
                ),
                AlreadyDone,
            ),
            // Even when a later, unrelated version exists.
            (
                template(
                    version(3, Some("ami-new")),
                    version(5, Some("ami-x")),
                    false,
                ),
                AlreadyDone,
            ),
            // The usual case: create from the default.
            (
                template(
                    version(3, Some("ami-old")),
                    version(3, Some("ami-old")),
                    false,
                ),
                CreateVersion { source_version: 3 },
            ),
            // A default version without an image.
            (
                template(version(1, None), version(1, None), false),
                CreateVersion { source_version: 1 },
            ),
            // An earlier run created the version and crashed before making it the default.
            (
                template(
                    version(3, Some("ami-old")),
                    version(4, Some("ami-new")),
                    true,
                ),
                MakeLatestDefault { version: 4 },
            ),
            // The latest has the image but other changes too: not ours, build from the default.
            (
                template(
                    version(3, Some("ami-old")),
                    version(4, Some("ami-new")),
                    false,
                ),
                CreateVersion { source_version: 3 },
            ),
            // The latest differs only in the image, but it is another image.
            (
                template(
                    version(3, Some("ami-old")),
                    version(4, Some("ami-other")),
                    true,
                ),
                CreateVersion { source_version: 3 },
            ),
            // A latest version older than the default (the default was moved forward by hand).
            (
                template(
                    version(4, Some("ami-old")),
                    version(4, Some("ami-old")),
                    false,
                ),
                CreateVersion { source_version: 4 },
            ),
        ];
        for (observation, expected) in cases {
            assert_eq!(
                decide_update(&observation, "ami-new"),
                expected,
                "{observation:?}"
            );
        }
    }

    #[test]
    fn architecture_checks() {
        let with_arch = |arch: Option<&str>| ImageView {
            architecture: arch.map(str::to_string),
            ..image("ami-1")
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (image architecture, instance type, its architectures, expected)
        type Case<'a> = (Option<&'a str>, &'a str, Vec<String>, Result<(), &'a str>);
        let cases: Vec<Case> = vec![
            (Some("x86_64"), "t3.micro", strings(&["x86_64"]), Ok(())),
            (
                Some("x86_64"),
                "t2.micro",
                strings(&["i386", "x86_64"]),
                Ok(()),
            ),
            (Some("arm64"), "t4g.micro", strings(&["arm64"]), Ok(())),
            (
                Some("arm64"),
                "t3.micro",
                strings(&["x86_64"]),
                Err("ArchitectureMismatch"),
            ),
            (
                Some("x86_64"),
                "t4g.micro",
                strings(&["arm64"]),
                Err("ArchitectureMismatch"),
            ),
            (
                Some("arm64_mac"),
                "mac2.metal",
                strings(&["arm64_mac"]),
                Ok(()),
            ),
            // Nothing to compare with: not refused.
            (None, "t3.micro", strings(&["x86_64"]), Ok(())),
            (Some("arm64"), "t3.micro", vec![], Ok(())),
        ];
        for (arch, instance_type, supported, expected) in cases {
            let got = check_architecture(&with_arch(arch), instance_type, &supported)
                .map_err(|e| e.error_type());
            assert_eq!(got, expected, "{arch:?} on {instance_type} {supported:?}");
        }
        let err = check_architecture(&with_arch(Some("arm64")), "t3.micro", &strings(&["x86_64"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "image ami-1 is arm64, but instance type t3.micro supports x86_64"
        );
    }

    #[test]
    fn version_descriptions() {
        assert_eq!(
            version_description("ami-1", 3, None),
            "pilot-light: ami-1 on version 3"
        );
        assert_eq!(
            version_description("ami-1", 3, Some("arn:aws:states:us-west-2:1:execution:m:e")),
            "pilot-light: ami-1 on version 3 by arn:aws:states:us-west-2:1:execution:m:e"
        );
        assert_eq!(
            version_description("ami-1", 3, Some("")),
            "pilot-light: ami-1 on version 3"
        );
        let long = "x".repeat(400);
        assert_eq!(
            version_description("ami-1", 3, Some(&long)).chars().count(),
            MAX_VERSION_DESCRIPTION
        );
    }

    #[test]
    fn same_data_but_the_image() {
        let data = |image: &str, instance_type: &str| {
            ResponseLaunchTemplateData::builder()
                .image_id(image)
                .instance_type(InstanceType::from(instance_type))
                .user_data("IyEvYmluL3NoCg==")
                .build()
        };
        let a = data("ami-1", "t3.micro");
        assert!(same_but_image(Some(&a), Some(&data("ami-2", "t3.micro"))));
        assert!(!same_but_image(Some(&a), Some(&data("ami-2", "t3.small"))));
        assert!(same_but_image(None, None));
        assert!(!same_but_image(Some(&a), None));
    }
}

#[cfg(test)]
mod action_list {
    use super::{UpdateAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`UpdateAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<UpdateAction>(ACTIONS).unwrap();
        let index = |action: &UpdateAction| match action {
            UpdateAction::Update => 0,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1).collect::<Vec<_>>());
    }
}
