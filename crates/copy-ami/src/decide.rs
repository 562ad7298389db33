//! The AMI pipeline's pure decisions: the tags it writes, which way to copy, which instance to
//! image, which image to reuse or prune, names and tokens, and input checks. No AWS call here.

use crate::CopyAmiAction;
use pilot_light_core::config::{ComputeGroupConfig, Side};
use pilot_light_core::direction::copy_direction;
use pilot_light_core::images::{newest_first, ImageView};
use pilot_light_core::{PilotLightConfig, PilotLightError, StepStatus, Timestamp, ENV_TAG_KEY};
use std::collections::{BTreeMap, BTreeSet};

use pilot_light_core::tags::is_pilot_light_tag_key;
pub use pilot_light_core::tags::{
    CREATED_AT_TAG_KEY, CREATED_BY_AMI_PIPELINE, CREATED_BY_TAG_KEY, EXECUTION_TAG, IMAGE_TAG_KEY,
    SOURCE_IMAGE_TAG_KEY, SOURCE_INSTANCE_TAG_KEY, SOURCE_REGION_TAG_KEY,
};

/// EC2 limits: image names 3–128 characters, tag values 256, client tokens 64.
pub(crate) const MAX_IMAGE_NAME: usize = 128;
pub(crate) const MAX_TAG_VALUE: usize = 256;
pub(crate) const MAX_CLIENT_TOKEN: usize = 64;
pub(crate) const MAX_DESCRIPTION: usize = 255;

/// The direction and the slice of configuration, decided from the configuration and the active
/// region alone.
pub fn plan_copies(
    config: &PilotLightConfig,
    active_region: Option<&str>,
) -> Result<(pilot_light_core::direction::CopyDirection, Option<String>), PilotLightError> {
    let direction = copy_direction(&config.regions, active_region)?;
    let kms_key_id = match direction.target_side {
        Side::Standby => config.ami_policy.standby_kms_key_id.clone(),
        Side::Primary => config.ami_policy.primary_kms_key_id.clone(),
    }
    .filter(|k| !k.trim().is_empty());
    Ok((direction, kms_key_id))
}

/// One instance of an Auto Scaling group, as Auto Scaling and EC2 describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceObservation {
    pub instance_id: String,
    /// Auto Scaling's lifecycle state: `InService`, `Pending`, `Terminating`, `Standby`, …
    pub lifecycle_state: String,
    /// Auto Scaling's health: `Healthy` or `Unhealthy`.
    pub health_status: String,
    /// EC2's state: `running`, `pending`, `shutting-down`, `stopped`, … (`None`: EC2 did not list it).
    pub ec2_state: Option<String>,
}

impl InstanceObservation {
    /// Only an instance that is `InService`, `Healthy` and `running` is imaged: never one that is
    /// launching, terminating, in standby, unhealthy or stopped.
    pub fn can_be_imaged(&self) -> bool {
        self.lifecycle_state == "InService"
            && self.health_status == "Healthy"
            && self.ec2_state.as_deref() == Some("running")
    }
}

/// The instance to image: a healthy `InService` `running` one; the lowest id, so re-runs agree.
pub fn choose_instance(instances: &[InstanceObservation]) -> Option<&InstanceObservation> {
    instances
        .iter()
        .filter(|i| i.can_be_imaged())
        .min_by(|a, b| a.instance_id.cmp(&b.instance_id))
}

/// An image an earlier attempt already made (same execution, or same source), unless it failed.
pub fn reusable_image(images: &[ImageView]) -> Option<&ImageView> {
    images
        .iter()
        .filter(|i| !i.is_failed())
        .min_by(|a, b| newest_first(a, b))
}

/// `done` when available, `inProgress` while pending; anything else cannot become available.
pub fn image_progress(image: &ImageView) -> Result<StepStatus, PilotLightError> {
    match image.state.as_str() {
        "available" => Ok(StepStatus::Done),
        "pending" => Ok(StepStatus::InProgress),
        other => Err(PilotLightError::InvalidState {
            resource: format!("image {}", image.image_id),
            state: other.to_string(),
            reason: "the image will not become available; the next run makes a new one".into(),
        }),
    }
}

/// What `prune` does with a group's images in one region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePlan {
    pub keep: Vec<String>,
    pub keep_referenced: Vec<String>,
    pub keep_pending: Vec<String>,
    pub deregister: Vec<String>,
}

/// Keeps the newest `keep` available images; of the others, keeps those a launch template uses
/// and those still pending, and deregisters the rest (older available ones and failed ones).
pub fn plan_prune(images: &[ImageView], keep: usize, referenced: &BTreeSet<String>) -> PrunePlan {
    let mut sorted: Vec<&ImageView> = images
        .iter()
        .filter(|i| !i.image_id.is_empty() && i.state != "deregistered")
        .collect();
    sorted.sort_by(|a, b| newest_first(a, b));
    let mut plan = PrunePlan::default();
    let mut available_kept = 0;
    for image in sorted {
        let id = image.image_id.clone();
        if image.state == "pending" {
            plan.keep_pending.push(id);
        } else if image.state == "available" && available_kept < keep {
            available_kept += 1;
            plan.keep.push(id);
        } else if referenced.contains(&id) {
            plan.keep_referenced.push(id);
        } else {
            plan.deregister.push(id);
        }
    }
    plan
}

/// An image name: `<env>-<group>-<label>`, only characters EC2 accepts, at most 128 of them.
pub fn image_name(env: &str, group: &str, label: &str) -> String {
    let raw = format!("{env}-{group}-{label}");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(MAX_IMAGE_NAME)
        .collect()
}

/// A timestamp as an image-name label: `2026-11-22T021304.512Z` (no colons).
pub fn name_stamp(timestamp: &Timestamp) -> String {
    timestamp.0.replace(':', "")
}

/// The client token of a copy: the same source into the same region is the same request, so a
/// retried `CopyImage` returns the first copy instead of making a second.
pub fn copy_client_token(
    source_region: &str,
    source_image_id: &str,
    target_region: &str,
) -> String {
    format!("pilot-light-{source_region}-{source_image_id}-{target_region}")
        .chars()
        .take(MAX_CLIENT_TOKEN)
        .collect()
}

pub(crate) fn clip(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

/// The tags of an image pilot-light made from an instance.
pub fn created_image_tags(
    env: &str,
    group: &ComputeGroupConfig,
    execution_id: &str,
    instance_id: &str,
    created_at: &Timestamp,
) -> Vec<(String, String)> {
    vec![
        (ENV_TAG_KEY.into(), env.into()),
        (group.ami_tag.key.clone(), group.ami_tag.value.clone()),
        (CREATED_BY_TAG_KEY.into(), CREATED_BY_AMI_PIPELINE.into()),
        (EXECUTION_TAG.into(), clip(execution_id, MAX_TAG_VALUE)),
        (CREATED_AT_TAG_KEY.into(), created_at.0.clone()),
        (SOURCE_INSTANCE_TAG_KEY.into(), instance_id.into()),
        ("Name".into(), format!("pilot-light {env} {}", group.name)),
    ]
}

/// The tags of a copy: source image and region, created-at, the environment, the group's AMI tag.
pub fn copy_tags(
    env: &str,
    group: &ComputeGroupConfig,
    source_region: &str,
    source_image_id: &str,
    execution_id: Option<&str>,
    created_at: &Timestamp,
) -> Vec<(String, String)> {
    let mut tags = vec![
        (ENV_TAG_KEY.to_string(), env.to_string()),
        (group.ami_tag.key.clone(), group.ami_tag.value.clone()),
        (CREATED_BY_TAG_KEY.into(), CREATED_BY_AMI_PIPELINE.into()),
        (SOURCE_IMAGE_TAG_KEY.into(), source_image_id.into()),
        (SOURCE_REGION_TAG_KEY.into(), source_region.into()),
        (CREATED_AT_TAG_KEY.into(), created_at.0.clone()),
        (
            "Name".into(),
            format!("pilot-light {env} {} from {source_region}", group.name),
        ),
    ];
    if let Some(execution) = execution_id.filter(|e| !e.is_empty()) {
        tags.push((EXECUTION_TAG.into(), clip(execution, MAX_TAG_VALUE)));
    }
    tags
}

/// The tags of `wanted` the image lacks (or has with another value). `created-at` and `execution`
/// are only added when missing: an existing copy keeps when and by whom it was made.
pub fn missing_tags(
    have: &BTreeMap<String, String>,
    wanted: &[(String, String)],
) -> Vec<(String, String)> {
    wanted
        .iter()
        .filter(|(k, v)| match have.get(k) {
            None => true,
            Some(_) if k == CREATED_AT_TAG_KEY || k == EXECUTION_TAG || k == "Name" => false,
            Some(current) => current != v,
        })
        .cloned()
        .collect()
}

pub(crate) fn check_action(got: CopyAmiAction, want: CopyAmiAction) -> Result<(), PilotLightError> {
    if got == want {
        Ok(())
    } else {
        Err(PilotLightError::InvalidInput {
            field: "action".into(),
            reason: format!("expected {want:?}"),
        })
    }
}

pub(crate) fn check_not_empty(field: &str, value: &str) -> Result<(), PilotLightError> {
    if value.trim().is_empty() {
        Err(PilotLightError::InvalidInput {
            field: field.to_string(),
            reason: "must not be empty".into(),
        })
    } else {
        Ok(())
    }
}

/// A group's AMI tag must be set and must not be one of the tags pilot-light writes itself.
pub(crate) fn check_group(group: &ComputeGroupConfig) -> Result<(), PilotLightError> {
    check_not_empty("group.name", &group.name)?;
    check_not_empty("group.amiTag.key", &group.ami_tag.key)?;
    if is_pilot_light_tag_key(&group.ami_tag.key) {
        return Err(PilotLightError::InvalidInput {
            field: "group.amiTag.key".into(),
            reason: format!("`{}` is a tag pilot-light sets itself", group.ami_tag.key),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pilot_light_core::config::{CapacityPolicy, GroupRef, RegionPair, TagFilter};

    fn observed(id: &str, lifecycle: &str, health: &str, ec2: Option<&str>) -> InstanceObservation {
        InstanceObservation {
            instance_id: id.into(),
            lifecycle_state: lifecycle.into(),
            health_status: health.into(),
            ec2_state: ec2.map(str::to_string),
        }
    }

    #[test]
    fn only_a_healthy_in_service_running_instance_is_imaged() {
        let cases: Vec<(Vec<InstanceObservation>, Option<&str>)> = vec![
            (vec![], None),
            (
                vec![observed("i-1", "InService", "Healthy", Some("running"))],
                Some("i-1"),
            ),
            // Launching, terminating, standby, detaching: never.
            (
                vec![
                    observed("i-1", "Pending", "Healthy", Some("pending")),
                    observed("i-2", "Pending:Wait", "Healthy", Some("running")),
                    observed("i-3", "Terminating", "Healthy", Some("running")),
                    observed("i-4", "Terminating:Wait", "Healthy", Some("running")),
                    observed("i-5", "Standby", "Healthy", Some("running")),
                    observed("i-6", "Detaching", "Healthy", Some("running")),
                    observed("i-7", "Terminated", "Healthy", Some("terminated")),
                ],
                None,
            ),
            // Unhealthy: never.
            (
                vec![observed("i-1", "InService", "Unhealthy", Some("running"))],
                None,
            ),
            // Auto Scaling has not noticed yet, but EC2 is stopping or terminating it: never.
            (
                vec![
                    observed("i-1", "InService", "Healthy", Some("shutting-down")),
                    observed("i-2", "InService", "Healthy", Some("stopping")),
                    observed("i-3", "InService", "Healthy", Some("stopped")),
                    observed("i-4", "InService", "Healthy", None),
                ],
                None,
            ),
            // The one good instance among bad ones.
            (
                vec![
                    observed("i-1", "Pending", "Healthy", Some("pending")),
                    observed("i-2", "InService", "Unhealthy", Some("running")),
                    observed("i-3", "InService", "Healthy", Some("running")),
                    observed("i-4", "Terminating", "Healthy", Some("running")),
                ],
                Some("i-3"),
            ),
            // Several good ones: the lowest id, on every run.
            (
                vec![
                    observed("i-9", "InService", "Healthy", Some("running")),
                    observed("i-2", "InService", "Healthy", Some("running")),
                ],
                Some("i-2"),
            ),
        ];
        for (instances, expected) in cases {
            let got = choose_instance(&instances).map(|i| i.instance_id.as_str());
            assert_eq!(got, expected, "{instances:?}");
        }
    }

    fn image(id: &str, state: &str, created: &str) -> ImageView {
        ImageView {
            image_id: id.into(),
            name: Some(format!("n-{id}")),
            state: state.into(),
            creation_date: Some(created.into()),
            tags: BTreeMap::from([("pilot-light:group".to_string(), "web".to_string())]),
            snapshot_ids: vec![format!("snap-{id}")],
            ..ImageView::default()
        }
    }

    fn day(d: u32) -> String {
        format!("2026-11-{d:02}T00:00:00.000Z")
    }

    #[test]
    fn prune_keeps_the_newest_and_what_templates_use() {
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let eight: Vec<ImageView> = (1..=8)
            .map(|d| image(&format!("ami-{d}"), "available", &day(d)))
            .collect();
        // (images, keep, referenced, expected plan)
        let cases: Vec<(Vec<ImageView>, usize, BTreeSet<String>, PrunePlan)> = vec![
            (vec![], 3, set(&[]), PrunePlan::default()),
            (
                eight.clone(),
                3,
                set(&[]),
                PrunePlan {
                    keep: ids(&["ami-8", "ami-7", "ami-6"]),
                    deregister: ids(&["ami-5", "ami-4", "ami-3", "ami-2", "ami-1"]),
                    ..Default::default()
                },
            ),
            // A template still uses an old one (and one of the kept ones): it stays.
            (
                eight.clone(),
                3,
                set(&["ami-1", "ami-8", "ami-other"]),
                PrunePlan {
                    keep: ids(&["ami-8", "ami-7", "ami-6"]),
                    keep_referenced: ids(&["ami-1"]),
                    deregister: ids(&["ami-5", "ami-4", "ami-3", "ami-2"]),
                    ..Default::default()
                },
            ),
            // Fewer than N: nothing to do.
            (
                eight[..2].to_vec(),
                3,
                set(&[]),
                PrunePlan {
                    keep: ids(&["ami-2", "ami-1"]),
                    ..Default::default()
                },
            ),
            // Pending images are never touched and do not count; failed ones go.
            (
                vec![
                    image("ami-1", "available", &day(1)),
                    image("ami-2", "available", &day(2)),
                    image("ami-3", "failed", &day(3)),
                    image("ami-4", "pending", &day(4)),
                ],
                1,
                set(&[]),
                PrunePlan {
                    keep: ids(&["ami-2"]),
                    keep_pending: ids(&["ami-4"]),
                    deregister: ids(&["ami-3", "ami-1"]),
                    ..Default::default()
                },
            ),
            // Same creation second: the higher id is the newer (as update-launch-template picks).
            (
                vec![
                    image("ami-a", "available", &day(5)),
                    image("ami-b", "available", &day(5)),
                ],
                1,
                set(&[]),
                PrunePlan {
                    keep: ids(&["ami-b"]),
                    deregister: ids(&["ami-a"]),
                    ..Default::default()
                },
            ),
        ];
        for (images, keep, referenced, expected) in cases {
            assert_eq!(
                plan_prune(&images, keep, &referenced),
                expected,
                "{images:?} keep {keep} referenced {referenced:?}"
            );
        }
    }

    #[test]
    fn an_earlier_attempts_image_is_reused_unless_it_failed() {
        let cases: Vec<(Vec<ImageView>, Option<&str>)> = vec![
            (vec![], None),
            (vec![image("ami-1", "failed", &day(1))], None),
            (
                vec![
                    image("ami-1", "failed", &day(2)),
                    image("ami-2", "pending", &day(1)),
                ],
                Some("ami-2"),
            ),
            (
                vec![
                    image("ami-1", "available", &day(1)),
                    image("ami-2", "available", &day(2)),
                ],
                Some("ami-2"),
            ),
        ];
        for (images, expected) in cases {
            let got = reusable_image(&images).map(|i| i.image_id.as_str());
            assert_eq!(got, expected, "{images:?}");
        }
    }

    #[test]
    fn image_progress_by_state() {
        let cases = [
            ("available", Ok(StepStatus::Done)),
            ("pending", Ok(StepStatus::InProgress)),
            ("failed", Err("InvalidState")),
            ("error", Err("InvalidState")),
            ("deregistered", Err("InvalidState")),
        ];
        for (state, expected) in cases {
            let got = image_progress(&image("ami-1", state, &day(1))).map_err(|e| e.error_type());
            assert_eq!(got, expected, "{state}");
        }
    }

    fn group() -> ComputeGroupConfig {
        ComputeGroupConfig {
            name: "web".into(),
            primary: GroupRef {
                auto_scaling_group_name: "web-use1".into(),
                launch_template_name: "web-use1".into(),
                target_group_arn: None,
            },
            standby: GroupRef {
                auto_scaling_group_name: "web-usw2".into(),
                launch_template_name: "web-usw2".into(),
                target_group_arn: None,
            },
            ami_tag: TagFilter {
                key: "pilot-light:group".into(),
                value: "web".into(),
            },
            capacity: CapacityPolicy::default(),
        }
    }

    #[test]
    fn copies_are_tagged_with_source_region_time_env_and_the_group_tag() {
        let at = Timestamp("2026-11-22T02:13:04.512Z".into());
        let tags: BTreeMap<String, String> = copy_tags(
            "prod",
            &group(),
            "us-east-1",
            "ami-src",
            Some("arn:exec"),
            &at,
        )
        .into_iter()
        .collect();
        assert_eq!(tags[ENV_TAG_KEY], "prod");
        assert_eq!(tags["pilot-light:group"], "web");
        assert_eq!(tags[SOURCE_IMAGE_TAG_KEY], "ami-src");
        assert_eq!(tags[SOURCE_REGION_TAG_KEY], "us-east-1");
        assert_eq!(tags[CREATED_AT_TAG_KEY], "2026-11-22T02:13:04.512Z");
        assert_eq!(tags[CREATED_BY_TAG_KEY], CREATED_BY_AMI_PIPELINE);
        assert_eq!(tags[EXECUTION_TAG], "arn:exec");
        let without = copy_tags("prod", &group(), "us-east-1", "ami-src", None, &at);
        assert!(!without.iter().any(|(k, _)| k == EXECUTION_TAG));
    }

    #[test]
    fn missing_tags_keep_when_and_by_whom() {
        let wanted = vec![
            (ENV_TAG_KEY.to_string(), "prod".to_string()),
            (CREATED_AT_TAG_KEY.to_string(), "new".to_string()),
            (EXECUTION_TAG.to_string(), "exec-2".to_string()),
        ];
        let have = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(missing_tags(&have(&[]), &wanted), wanted);
        assert_eq!(
            missing_tags(
                &have(&[
                    (ENV_TAG_KEY, "prod"),
                    (CREATED_AT_TAG_KEY, "old"),
                    (EXECUTION_TAG, "exec-1")
                ]),
                &wanted
            ),
            vec![]
        );
        assert_eq!(
            missing_tags(&have(&[(ENV_TAG_KEY, "dev")]), &wanted),
            wanted
        );
    }

    #[test]
    fn names_and_tokens_fit_ec2s_rules() {
        let at = Timestamp("2026-11-22T02:13:04.512Z".into());
        assert_eq!(
            image_name("prod", "web", &name_stamp(&at)),
            "prod-web-2026-11-22T021304.512Z"
        );
        assert_eq!(image_name("prod", "web:api", "x"), "prod-web-api-x");
        assert_eq!(
            image_name("prod", &"g".repeat(300), "x").chars().count(),
            128
        );
        let token = copy_client_token("us-east-1", "ami-0123456789abcdef0", "us-west-2");
        assert_eq!(
            token,
            "pilot-light-us-east-1-ami-0123456789abcdef0-us-west-2"
        );
        assert!(token.len() <= 64);
        assert!(
            copy_client_token("ap-southeast-3", &"ami-x".repeat(20), "eu-central-1").len() <= 64
        );
    }

    #[test]
    fn the_plan_copies_from_the_active_region_with_the_targets_key() {
        let mut config = PilotLightConfig::from_json(serde_json::json!({
            "env": "prod",
            "regions": {"primary": "us-east-1", "standby": "us-west-2"},
            "amiPolicy": {"standbyKmsKeyId": "key-west", "primaryKmsKeyId": "key-east"}
        }))
        .expect("config");
        type Expected<'a> = Result<(&'a str, &'a str, Option<&'a str>), &'a str>;
        let cases: &[(Option<&str>, Expected)] = &[
            (None, Ok(("us-east-1", "us-west-2", Some("key-west")))),
            (
                Some("us-east-1"),
                Ok(("us-east-1", "us-west-2", Some("key-west"))),
            ),
            (
                Some("us-west-2"),
                Ok(("us-west-2", "us-east-1", Some("key-east"))),
            ),
            (Some("eu-west-1"), Err("InvalidState")),
        ];
        for (active, expected) in cases {
            let got = plan_copies(&config, *active)
                .map(|(d, k)| (d.source_region, d.target_region, k))
                .map_err(|e| e.error_type());
            let got = got
                .as_ref()
                .map(|(s, t, k)| (s.as_str(), t.as_str(), k.as_deref()))
                .map_err(|e| *e);
            assert_eq!(got, *expected, "{active:?}");
        }
        config.ami_policy.standby_kms_key_id = None;
        let (_, key) = plan_copies(&config, None).unwrap();
        assert_eq!(key, None);
        assert_eq!(
            config.regions,
            RegionPair {
                primary: "us-east-1".into(),
                standby: "us-west-2".into()
            }
        );
    }

    #[test]
    fn a_group_tag_may_not_be_one_pilot_light_sets() {
        let mut g = group();
        assert!(check_group(&g).is_ok());
        g.ami_tag.key = ENV_TAG_KEY.into();
        assert_eq!(check_group(&g).unwrap_err().error_type(), "InvalidInput");
        g.ami_tag.key = " ".into();
        assert_eq!(check_group(&g).unwrap_err().error_type(), "InvalidInput");
    }
}
