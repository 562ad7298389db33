//! Compute checks: the newest AMI's age, the launch template, and the capacity the next move asks
//! for.

use pilot_light_core::config::{CapacityPolicy, ComputeGroupConfig, TagFilter};
use pilot_light_core::images::{pick_newest_tagged, ImageView};

use super::{format_age, parse_epoch_seconds, Check, NextMove};

/// The newest image of a group in `region` (the region the next move brings up; chosen as
/// `update-launch-template` chooses) is younger than `max_age_seconds`. `now_epoch_seconds` and
/// the images' creation dates decide its age.
pub fn check_ami_age(
    group: &ComputeGroupConfig,
    region: &str,
    images: &[ImageView],
    now_epoch_seconds: i64,
    max_age_seconds: u64,
) -> Check {
    let name = format!("ami-age:{}", group.name);
    let Some(newest) = pick_newest_tagged(images, &group.ami_tag) else {
        return Check::fail(
            name,
            format!(
                "no available AMI tagged {} in {region}",
                tag_text(&group.ami_tag)
            ),
            format!("run the AMI pipeline (or copy an image tagged with the group's amiTag to {region})"),
        );
    };
    let created = newest
        .creation_date
        .as_deref()
        .and_then(parse_epoch_seconds);
    let Some(created) = created else {
        return Check::warn(
            name,
            format!("{} has no readable creation date", newest.image_id),
            "check the image in the EC2 console",
        );
    };
    let age = (now_epoch_seconds - created).max(0) as u64;
    if age > max_age_seconds {
        Check::fail(
            name,
            format!(
                "newest AMI {} is {} old, more than {}",
                newest.image_id,
                format_age(age),
                format_age(max_age_seconds)
            ),
            "run the AMI pipeline: pilot-light's ami-pipeline state machine, or check why its schedule stopped",
        )
    } else {
        Check::pass(
            name,
            format!(
                "newest AMI {} is {} old (at most {})",
                newest.image_id,
                format_age(age),
                format_age(max_age_seconds)
            ),
        )
    }
}

/// The standby launch template's default version, and its image as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateObservation {
    /// No launch template of that name in the standby region.
    Missing,
    /// The default version and its `ImageId` (`None`: the version names no image), and that image's
    /// state (`None`: no such image any more).
    Found {
        default_version: i64,
        image_id: Option<String>,
        image_state: Option<String>,
    },
}

/// The launch template of the side the next move brings up exists and its default version uses
/// an image that exists.
pub fn check_launch_template(
    group: &ComputeGroupConfig,
    next: NextMove,
    region: &str,
    observed: &TemplateObservation,
) -> Check {
    let name = format!("launch-template:{}", group.name);
    let side = next.target_side();
    let template = &side.of_group(group).launch_template_name;
    match observed {
        TemplateObservation::Missing => Check::fail(
            name,
            format!("launch template `{template}` not found in {region}"),
            format!(
                "re-create the {side} launch template (or fix computeGroups[].{side}.launchTemplateName)",
                side = side.name()
            ),
        ),
        TemplateObservation::Found {
            default_version,
            image_id: None,
            ..
        } => Check::fail(
            name,
            format!("`{template}` default version {default_version} names no image"),
            format!(
                "set an ImageId on the default version ({}'s launch-template step sets the newest tagged AMI only when one exists)",
                next.name()
            ),
        ),
        TemplateObservation::Found {
            default_version,
            image_id: Some(image),
            image_state: None,
        } => Check::fail(
            name,
            format!("`{template}` default version {default_version} uses {image}, which no longer exists"),
            "make a version with an existing image the default (or run the AMI pipeline, which pre-stages the newest)",
        ),
        TemplateObservation::Found {
            default_version,
            image_id: Some(image),
            image_state: Some(state),
        } if state != "available" => Check::fail(
            name,
            format!("`{template}` default version {default_version} uses {image}, which is `{state}`"),
            "make a version with an available image the default",
        ),
        TemplateObservation::Found {
            default_version,
            image_id: Some(image),
            ..
        } => Check::pass(
            name,
            format!("`{template}` default version {default_version} uses {image} (available)"),
        ),
    }
}

/// The group of the side the next move brings up can grow to the capacity that move will ask for
/// (as `scale-asg` works it out). `max_size` is `None` when the group does not exist.
pub fn check_capacity(
    group: &ComputeGroupConfig,
    next: NextMove,
    region: &str,
    recorded_primary_capacity: Option<u32>,
    max_size: Option<u32>,
) -> Check {
    let name = format!("capacity:{}", group.name);
    let side = next.target_side();
    let asg = &side.of_group(group).auto_scaling_group_name;
    let wanted = requested_capacity(&group.capacity, recorded_primary_capacity);
    let (side, next) = (side.name(), next.name());
    match max_size {
        None => Check::fail(
            name,
            format!("Auto Scaling group `{asg}` not found in {region}"),
            format!(
                "re-create the {side} group (or fix computeGroups[].{side}.autoScalingGroupName)"
            ),
        ),
        Some(max) if max < wanted => Check::fail(
            name,
            format!("`{asg}` MaxSize is {max}; {next} will ask for {wanted}"),
            format!("raise the group's MaxSize to at least {wanted}"),
        ),
        Some(max) => Check::pass(
            name,
            format!("`{asg}` MaxSize {max} ≥ {wanted} {next} will ask for"),
        ),
    }
}

/// The capacity failover asks for: the rule `scale-asg` applies.
pub fn requested_capacity(policy: &CapacityPolicy, recorded: Option<u32>) -> u32 {
    pilot_light_core::capacity_record::failover_capacity(policy, recorded)
}

fn tag_text(tag: &TagFilter) -> String {
    format!("{}={}", tag.key, tag.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::checks::CheckStatus;
    use pilot_light_core::config::GroupRef;
    use std::collections::BTreeMap;

    fn group(target: Option<u32>) -> ComputeGroupConfig {
        let side = |n: &str| GroupRef {
            auto_scaling_group_name: format!("web-{n}"),
            launch_template_name: format!("web-lt-{n}"),
            target_group_arn: None,
        };
        ComputeGroupConfig {
            name: "web".into(),
            primary: side("primary"),
            standby: side("standby"),
            ami_tag: TagFilter {
                key: "app".into(),
                value: "web".into(),
            },
            capacity: CapacityPolicy {
                target,
                ..CapacityPolicy::default()
            },
        }
    }

    fn image(id: &str, state: &str, created: &str, tagged: bool) -> ImageView {
        ImageView {
            image_id: id.into(),
            state: state.into(),
            creation_date: Some(created.into()),
            tags: if tagged {
                BTreeMap::from([("app".to_string(), "web".to_string())])
            } else {
                BTreeMap::new()
            },
            ..ImageView::default()
        }
    }

    #[test]
    fn ami_age_takes_the_newest_available_tagged_image() {
        let now = parse_epoch_seconds("2026-01-10T00:00:00.000Z").unwrap();
        let day = 86_400;
        let cases: Vec<(Vec<ImageView>, CheckStatus, &str)> = vec![
            (vec![], CheckStatus::Fail, "no available AMI"),
            (
                vec![image(
                    "ami-1",
                    "available",
                    "2026-01-09T00:00:00.000Z",
                    false,
                )],
                CheckStatus::Fail,
                "no available AMI",
            ),
            (
                vec![image(
                    "ami-1",
                    "available",
                    "2026-01-09T00:00:00.000Z",
                    true,
                )],
                CheckStatus::Pass,
                "ami-1 is 1d 0h old",
            ),
            (
                vec![
                    image("ami-old", "available", "2026-01-01T00:00:00.000Z", true),
                    image("ami-new", "pending", "2026-01-09T00:00:00.000Z", true),
                ],
                CheckStatus::Fail,
                "ami-old is 9d 0h old",
            ),
            (
                vec![
                    image("ami-old", "available", "2026-01-01T00:00:00.000Z", true),
                    image("ami-new", "available", "2026-01-08T00:00:00.000Z", true),
                ],
                CheckStatus::Pass,
                "ami-new",
            ),
        ];
        for (images, status, evidence) in cases {
            let check = check_ami_age(&group(None), "us-west-2", &images, now, 7 * day);
            assert_eq!(check.status, status, "{check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
        }
    }

    #[test]
    fn launch_template_decisions() {
        let found = |image: Option<&str>, state: Option<&str>| TemplateObservation::Found {
            default_version: 3,
            image_id: image.map(str::to_string),
            image_state: state.map(str::to_string),
        };
        let cases = [
            (TemplateObservation::Missing, CheckStatus::Fail, "not found"),
            (found(None, None), CheckStatus::Fail, "names no image"),
            (
                found(Some("ami-1"), None),
                CheckStatus::Fail,
                "no longer exists",
            ),
            (
                found(Some("ami-1"), Some("deregistered")),
                CheckStatus::Fail,
                "deregistered",
            ),
            (
                found(Some("ami-1"), Some("available")),
                CheckStatus::Pass,
                "ami-1",
            ),
        ];
        for (observed, status, evidence) in cases {
            let check =
                check_launch_template(&group(None), NextMove::Failover, "us-west-2", &observed);
            assert_eq!(check.status, status, "{check:?}");
            assert!(check.evidence.contains(evidence), "{check:?}");
        }
    }

    #[test]
    fn capacity_follows_scale_asg() {
        // (absolute target, recorded primary capacity, MaxSize, expected)
        let cases = [
            (None, Some(4), Some(4), CheckStatus::Pass),
            (None, Some(4), Some(3), CheckStatus::Fail),
            (None, None, Some(1), CheckStatus::Pass), // minimum 1
            (None, None, Some(0), CheckStatus::Fail),
            (Some(6), Some(2), Some(5), CheckStatus::Fail),
            (None, Some(2), None, CheckStatus::Fail),
        ];
        for (target, recorded, max, status) in cases {
            let check = check_capacity(
                &group(target),
                NextMove::Failover,
                "us-west-2",
                recorded,
                max,
            );
            assert_eq!(
                check.status, status,
                "{target:?} {recorded:?} {max:?}: {check:?}"
            );
        }
        // A failback asks the primary's group for the same capacity, and names it.
        let back = check_capacity(
            &group(None),
            NextMove::Failback,
            "us-east-1",
            Some(3),
            Some(2),
        );
        assert_eq!(back.status, CheckStatus::Fail);
        assert!(
            back.evidence.contains("failback will ask for 3"),
            "{back:?}"
        );
        assert!(back
            .evidence
            .contains(&group(None).primary.auto_scaling_group_name));
    }
}
