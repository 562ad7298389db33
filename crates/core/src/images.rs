//! Machine images (AMIs) as pilot-light's decisions see them, and the one rule for "newest".
//!
//! `update-launch-template` points a group's template at the newest image carrying the group's tag,
//! `copy-ami` copies and prunes images by the same order, and readiness checks that the standby's
//! template already uses that image. All three read an [`ImageView`] and choose with
//! [`pick_newest_tagged`], so "newest" means the same thing everywhere.

use crate::config::TagFilter;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// An image, reduced to what the decisions need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageView {
    pub image_id: String,
    pub name: Option<String>,
    /// `available`, `pending`, `failed`, …
    pub state: String,
    /// `x86_64`, `arm64`, …; `None` when EC2 did not say.
    pub architecture: Option<String>,
    /// ISO 8601 (`2026-11-22T02:13:04.000Z`); these sort as text.
    pub creation_date: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The EBS snapshots behind the image's block devices.
    pub snapshot_ids: Vec<String>,
}

impl ImageView {
    /// The value of tag `key`, if the image carries it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// The image carries exactly this tag (key and value).
    pub fn carries(&self, tag: &TagFilter) -> bool {
        self.tag(&tag.key) == Some(tag.value.as_str())
    }

    /// `available`, with an id: an instance can be launched from it.
    pub fn is_usable(&self) -> bool {
        self.state == "available" && !self.image_id.is_empty()
    }

    /// Gone, or never going to be usable.
    pub fn is_failed(&self) -> bool {
        matches!(
            self.state.as_str(),
            "failed" | "error" | "invalid" | "deregistered" | "transient"
        )
    }
}

#[cfg(feature = "ec2")]
impl From<&aws_sdk_ec2::types::Image> for ImageView {
    fn from(image: &aws_sdk_ec2::types::Image) -> Self {
        Self {
            image_id: image.image_id().unwrap_or_default().to_string(),
            name: image.name().map(str::to_string),
            state: image
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "unknown".into()),
            architecture: image.architecture().map(|a| a.as_str().to_string()),
            creation_date: image.creation_date().map(str::to_string),
            tags: image
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            snapshot_ids: image
                .block_device_mappings()
                .iter()
                .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// At most this many pages of `DescribeImages` are read (a bound, not an expectation).
#[cfg(feature = "ec2")]
const MAX_IMAGE_PAGES: usize = 100;

/// Every image the account owns that matches all of `filters`, in any state (the decisions filter).
/// `operation` names the call in errors.
#[cfg(feature = "ec2")]
pub async fn describe_own_images(
    ec2: &aws_sdk_ec2::Client,
    filters: Vec<aws_sdk_ec2::types::Filter>,
    operation: &str,
) -> Result<Vec<ImageView>, crate::PilotLightError> {
    let mut images = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_IMAGE_PAGES {
        let page = ec2
            .describe_images()
            .owners("self")
            .set_filters(Some(filters.clone()))
            .set_next_token(token)
            .send()
            .await
            .map_err(|err| crate::PilotLightError::from_sdk(operation, &err))?;
        images.extend(page.images().iter().map(ImageView::from));
        token = crate::step::next_page_token(page.next_token());
        if token.is_none() {
            break;
        }
    }
    Ok(images)
}

/// Every image the account owns that carries `tag` (a group's `amiTag`), in any state.
#[cfg(feature = "ec2")]
pub async fn find_own_tagged_images(
    ec2: &aws_sdk_ec2::Client,
    tag: &TagFilter,
) -> Result<Vec<ImageView>, crate::PilotLightError> {
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{}", tag.key))
        .values(&tag.value)
        .build();
    describe_own_images(ec2, vec![filter], "DescribeImages").await
}

/// Newest first: the later creation date, ties broken by the higher image id, so every run and
/// every handler orders the same images the same way.
pub fn newest_first(a: &ImageView, b: &ImageView) -> Ordering {
    (b.creation_date.as_deref(), b.image_id.as_str())
        .cmp(&(a.creation_date.as_deref(), a.image_id.as_str()))
}

/// The newest usable image carrying `tag`. Pending, failed and untagged images never win.
pub fn pick_newest_tagged<'a>(images: &'a [ImageView], tag: &TagFilter) -> Option<&'a ImageView> {
    images
        .iter()
        .filter(|i| i.is_usable() && i.carries(tag))
        .min_by(|a, b| newest_first(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> TagFilter {
        TagFilter {
            key: "pilot-light:group".into(),
            value: "web".into(),
        }
    }

    fn image(id: &str, state: &str, created: &str, group: &str) -> ImageView {
        ImageView {
            image_id: id.into(),
            state: state.into(),
            creation_date: Some(created.into()),
            tags: BTreeMap::from([("pilot-light:group".to_string(), group.to_string())]),
            ..ImageView::default()
        }
    }

    #[test]
    fn newest_available_tagged_image_wins() {
        let cases: Vec<(Vec<ImageView>, Option<&str>)> = vec![
            (vec![], None),
            (
                vec![
                    image("ami-old", "available", "2026-11-01T00:00:00.000Z", "web"),
                    image("ami-new", "available", "2026-11-20T00:00:00.000Z", "web"),
                ],
                Some("ami-new"),
            ),
            // Order of the answer does not matter.
            (
                vec![
                    image("ami-new", "available", "2026-11-20T00:00:00.000Z", "web"),
                    image("ami-old", "available", "2026-11-01T00:00:00.000Z", "web"),
                ],
                Some("ami-new"),
            ),
            // A newer pending (or failed) image is not ready.
            (
                vec![
                    image("ami-old", "available", "2026-11-01T00:00:00.000Z", "web"),
                    image("ami-pending", "pending", "2026-11-20T00:00:00.000Z", "web"),
                    image("ami-failed", "failed", "2026-11-21T00:00:00.000Z", "web"),
                ],
                Some("ami-old"),
            ),
            // A newer image with another value of the tag is another group's.
            (
                vec![
                    image("ami-web", "available", "2026-11-01T00:00:00.000Z", "web"),
                    image("ami-api", "available", "2026-11-20T00:00:00.000Z", "api"),
                ],
                Some("ami-web"),
            ),
            (
                vec![image("ami-p", "pending", "2026-11-20T00:00:00.000Z", "web")],
                None,
            ),
            // An image without an id cannot be launched.
            (
                vec![image("", "available", "2026-11-20T00:00:00.000Z", "web")],
                None,
            ),
            // Same creation time: the higher id, on every run.
            (
                vec![
                    image("ami-b", "available", "2026-11-20T00:00:00.000Z", "web"),
                    image("ami-a", "available", "2026-11-20T00:00:00.000Z", "web"),
                ],
                Some("ami-b"),
            ),
        ];
        for (images, expected) in cases {
            let got = pick_newest_tagged(&images, &tag()).map(|i| i.image_id.as_str());
            assert_eq!(got, expected, "{images:?}");
        }
    }

    #[test]
    fn failed_states_are_the_ones_that_never_become_available() {
        for (state, failed) in [
            ("available", false),
            ("pending", false),
            ("failed", true),
            ("error", true),
            ("invalid", true),
            ("deregistered", true),
            ("transient", true),
        ] {
            let view = image("ami-1", state, "2026-11-01T00:00:00.000Z", "web");
            assert_eq!(view.is_failed(), failed, "{state}");
        }
    }
}
