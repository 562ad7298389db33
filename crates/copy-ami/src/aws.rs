//! The SDK calls of the AMI pipeline: observe (images, snapshots, launch templates, a group's
//! instances), act (create, copy, tag, deregister, delete) and the mapping of SDK errors.

use crate::decide::{
    missing_tags, InstanceObservation, CREATED_BY_AMI_PIPELINE, CREATED_BY_TAG_KEY, IMAGE_TAG_KEY,
};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use pilot_light_core::images::{describe_own_images, ImageView};
use pilot_light_core::{PilotLightError, ENV_TAG_KEY};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) use pilot_light_core::parameters::get_parameter_value as get_parameter;

/// At most this many pages of a paginated describe call are read (a bound, not an expectation).
const MAX_PAGES: usize = 100;
/// EC2 accepts up to 200 values in one filter; stay well below.
const FILTER_CHUNK: usize = 100;

/// EC2 answered, but without a field it always sends.
fn incomplete(operation: &str, what: &str) -> PilotLightError {
    PilotLightError::AwsServiceError {
        operation: operation.to_string(),
        code: "IncompleteResponse".into(),
        message: format!("the answer has no {what}"),
    }
}

pub(crate) fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// The images named exactly `name`.
pub(crate) fn image_name_filter(name: &str) -> Filter {
    Filter::builder().name("name").values(name).build()
}

fn to_ec2_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn is_image_gone(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidAMIID.NotFound" | "InvalidAMIID.Unavailable")
    )
}

/// One image by id; a missing or deregistered one is `ResourceNotFound` (kind `Image`).
pub(crate) async fn describe_image(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
    region: &str,
) -> Result<ImageView, PilotLightError> {
    let missing = || PilotLightError::ResourceNotFound {
        kind: "Image".into(),
        id: image_id.to_string(),
        region: region.to_string(),
    };
    let described = ec2
        .describe_images()
        .image_ids(image_id)
        .send()
        .await
        .map_err(|err| match err.code() {
            Some(code) if code.starts_with("InvalidAMIID") => missing(),
            _ => PilotLightError::from_sdk("DescribeImages", &err),
        })?;
    described
        .images()
        .iter()
        .find(|i| i.image_id() == Some(image_id))
        .map(ImageView::from)
        .ok_or_else(missing)
}

pub(crate) async fn create_tags(
    ec2: &aws_sdk_ec2::Client,
    resources: &[String],
    tags: &[(String, String)],
) -> Result<(), PilotLightError> {
    if resources.is_empty() || tags.is_empty() {
        return Ok(());
    }
    ec2.create_tags()
        .set_resources(Some(resources.to_vec()))
        .set_tags(Some(to_ec2_tags(tags)))
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CreateTags", &err))?;
    Ok(())
}

/// `CreateImage` of an instance, tagged at creation; the new image's id.
pub(crate) async fn create_image(
    ec2: &aws_sdk_ec2::Client,
    instance_id: &str,
    name: &str,
    description: String,
    no_reboot: bool,
    tags: &[(String, String)],
) -> Result<String, PilotLightError> {
    let created = ec2
        .create_image()
        .instance_id(instance_id)
        .name(name)
        .description(description)
        .no_reboot(no_reboot)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Image)
                .set_tags(Some(to_ec2_tags(tags)))
                .build(),
        )
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CreateImage", &err))?;
    Ok(created
        .image_id()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| incomplete("CreateImage", "ImageId"))?
        .to_string())
}

/// What `copy` asks `CopyImage` for.
pub(crate) struct CopyImageRequest<'a> {
    pub source_region: &'a str,
    pub source_image_id: &'a str,
    pub name: &'a str,
    pub description: String,
    pub client_token: String,
    /// Encrypt the copy with this key (`None`: keep the source's encryption).
    pub kms_key_id: Option<&'a str>,
    pub tags: &'a [(String, String)],
}

/// `CopyImage` into `target`'s region; the copy's id.
pub(crate) async fn copy_image(
    target: &aws_sdk_ec2::Client,
    copy: CopyImageRequest<'_>,
) -> Result<String, PilotLightError> {
    let mut request = target
        .copy_image()
        .source_image_id(copy.source_image_id)
        .source_region(copy.source_region)
        .name(copy.name)
        .description(copy.description)
        .client_token(copy.client_token);
    if let Some(key) = copy.kms_key_id {
        request = request.encrypted(true).kms_key_id(key);
    }
    // Tagged at creation (what the IAM condition `aws:RequestTag/pilot-light:env` on CopyImage
    // checks); `copy` tags again explicitly: the emulator ignores CopyImage's tag specifications.
    request = request.tag_specifications(
        TagSpecification::builder()
            .resource_type(ResourceType::Image)
            .set_tags(Some(to_ec2_tags(copy.tags)))
            .build(),
    );
    let copied = request
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CopyImage", &err))?;
    Ok(copied
        .image_id()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| incomplete("CopyImage", "ImageId"))?
        .to_string())
}

/// Deregisters an image; `false` when it was already gone.
pub(crate) async fn deregister_image(
    ec2: &aws_sdk_ec2::Client,
    image_id: &str,
) -> Result<bool, PilotLightError> {
    match ec2.deregister_image().image_id(image_id).send().await {
        Ok(_) => Ok(true),
        Err(err) if is_image_gone(err.code()) => Ok(false),
        Err(err) => Err(PilotLightError::from_sdk("DeregisterImage", &err)),
    }
}

/// Tags the snapshots that lack any of `wanted` (described by id: never the whole account's list).
pub(crate) async fn tag_snapshots(
    ec2: &aws_sdk_ec2::Client,
    snapshot_ids: &[String],
    wanted: &[(String, String)],
) -> Result<(), PilotLightError> {
    if snapshot_ids.is_empty() {
        return Ok(());
    }
    let described = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(
            Filter::builder()
                .name("snapshot-id")
                .set_values(Some(snapshot_ids.to_vec()))
                .build(),
        )
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeSnapshots", &err))?;
    let untagged: Vec<String> = described
        .snapshots()
        .iter()
        .filter(|s| {
            let have: BTreeMap<String, String> = s
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            !missing_tags(&have, wanted).is_empty()
        })
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect();
    create_tags(ec2, &untagged, wanted).await
}

/// Deletes a snapshot; `false` when it was already gone or is still in use by a registered image
/// (EC2 refuses that, and such a snapshot is not ours to remove yet).
pub(crate) async fn delete_snapshot(
    ec2: &aws_sdk_ec2::Client,
    snapshot_id: &str,
) -> Result<bool, PilotLightError> {
    match ec2.delete_snapshot().snapshot_id(snapshot_id).send().await {
        Ok(_) => Ok(true),
        Err(err)
            if matches!(
                err.code(),
                Some("InvalidSnapshot.NotFound" | "InvalidSnapshot.InUse")
            ) =>
        {
            Ok(false)
        }
        Err(err) => Err(PilotLightError::from_sdk("DeleteSnapshot", &err)),
    }
}

/// Snapshots pilot-light tagged for one of its images whose image no longer exists.
pub(crate) async fn orphaned_snapshots(
    ec2: &aws_sdk_ec2::Client,
    env: &str,
) -> Result<Vec<String>, PilotLightError> {
    let mut snapshots: Vec<(String, String)> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(tag_filter(ENV_TAG_KEY, env))
            .filters(tag_filter(CREATED_BY_TAG_KEY, CREATED_BY_AMI_PIPELINE))
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeSnapshots", &err))?;
        for snapshot in page.snapshots() {
            let image = snapshot
                .tags()
                .iter()
                .find(|t| t.key() == Some(IMAGE_TAG_KEY))
                .and_then(|t| t.value());
            if let (Some(id), Some(image)) = (snapshot.snapshot_id(), image) {
                snapshots.push((id.to_string(), image.to_string()));
            }
        }
        token = pilot_light_core::step::next_page_token(page.next_token());
        if token.is_none() {
            break;
        }
    }
    if snapshots.is_empty() {
        return Ok(vec![]);
    }
    let image_ids: BTreeSet<String> = snapshots.iter().map(|(_, i)| i.clone()).collect();
    let image_ids: Vec<String> = image_ids.into_iter().collect();
    let mut existing = BTreeSet::new();
    for chunk in image_ids.chunks(FILTER_CHUNK) {
        let found = describe_own_images(
            ec2,
            vec![Filter::builder()
                .name("image-id")
                .set_values(Some(chunk.to_vec()))
                .build()],
            "DescribeImages",
        )
        .await?;
        existing.extend(
            found
                .into_iter()
                .filter(|i| i.state != "deregistered")
                .map(|i| i.image_id),
        );
    }
    Ok(snapshots
        .into_iter()
        .filter(|(_, image)| !existing.contains(image))
        .map(|(snapshot, _)| snapshot)
        .collect())
}

/// Every image id a launch template's default or latest version uses in the region.
pub(crate) async fn launch_template_images(
    ec2: &aws_sdk_ec2::Client,
) -> Result<BTreeSet<String>, PilotLightError> {
    let mut templates: Vec<(String, i64, i64)> = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ec2
            .describe_launch_templates()
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| PilotLightError::from_sdk("DescribeLaunchTemplates", &err))?;
        for template in page.launch_templates() {
            if let (Some(id), Some(default), Some(latest)) = (
                template.launch_template_id(),
                template.default_version_number(),
                template.latest_version_number(),
            ) {
                templates.push((id.to_string(), default, latest));
            }
        }
        token = pilot_light_core::step::next_page_token(page.next_token());
        if token.is_none() {
            break;
        }
    }
    let mut images = BTreeSet::new();
    for (id, default, latest) in templates {
        let mut request = ec2
            .describe_launch_template_versions()
            .launch_template_id(&id)
            .versions(default.to_string());
        if latest != default {
            request = request.versions(latest.to_string());
        }
        let versions = match request.send().await {
            Ok(v) => v,
            // Deleted between the two calls: it references nothing any more.
            Err(err)
                if err
                    .code()
                    .is_some_and(|c| c.starts_with("InvalidLaunchTemplate")) =>
            {
                continue
            }
            Err(err) => {
                return Err(PilotLightError::from_sdk(
                    "DescribeLaunchTemplateVersions",
                    &err,
                ))
            }
        };
        for version in versions.launch_template_versions() {
            if let Some(image) = version
                .launch_template_data()
                .and_then(|d| d.image_id())
                .filter(|s| !s.is_empty())
            {
                images.insert(image.to_string());
            }
        }
    }
    Ok(images)
}

/// The group's instances: Auto Scaling's lifecycle and health, and EC2's state.
pub(crate) async fn observe_group_instances(
    autoscaling: &aws_sdk_autoscaling::Client,
    ec2: &aws_sdk_ec2::Client,
    group_name: &str,
    region: &str,
) -> Result<Vec<InstanceObservation>, PilotLightError> {
    let described = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group_name)
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("DescribeAutoScalingGroups", &err))?;
    let group = described
        .auto_scaling_groups()
        .iter()
        .find(|g| g.auto_scaling_group_name() == Some(group_name))
        .ok_or_else(|| PilotLightError::ResourceNotFound {
            kind: "AutoScalingGroup".into(),
            id: group_name.to_string(),
            region: region.to_string(),
        })?;
    let mut instances: Vec<InstanceObservation> = group
        .instances()
        .iter()
        .filter_map(|i| {
            Some(InstanceObservation {
                instance_id: i.instance_id()?.to_string(),
                lifecycle_state: i
                    .lifecycle_state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                health_status: i.health_status().unwrap_or_default().to_string(),
                ec2_state: None,
            })
        })
        .collect();
    // EC2's own view, for the instances Auto Scaling would allow (by filter: a vanished id is not
    // an error).
    let ids: Vec<String> = instances
        .iter()
        .filter(|i| i.lifecycle_state == "InService" && i.health_status == "Healthy")
        .map(|i| i.instance_id.clone())
        .collect();
    let mut states: BTreeMap<String, String> = BTreeMap::new();
    for chunk in ids.chunks(FILTER_CHUNK) {
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = ec2
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("instance-id")
                        .set_values(Some(chunk.to_vec()))
                        .build(),
                )
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("DescribeInstances", &err))?;
            for reservation in page.reservations() {
                for instance in reservation.instances() {
                    if let (Some(id), Some(state)) = (
                        instance.instance_id(),
                        instance.state().and_then(|s| s.name()),
                    ) {
                        states.insert(id.to_string(), state.as_str().to_string());
                    }
                }
            }
            token = pilot_light_core::step::next_page_token(page.next_token());
            if token.is_none() {
                break;
            }
        }
    }
    for instance in &mut instances {
        instance.ec2_state = states.get(&instance.instance_id).cloned();
    }
    Ok(instances)
}
