//! `copy-ami`: the steps of the AMI pipeline, which keeps the other region's images current.
//!
//! * `plan`: reads the configuration and the run state (in the handler's own region, where the stack
//!   runs) and says which way to copy: from the active region to the other one.
//! * `create`: the source image of one compute group in the active region: an image of a healthy
//!   `InService`, `running` instance of the group (`amiPolicy.source = instance`), or the newest
//!   `available` image carrying the group's AMI tag (`tag`, for images baked elsewhere). Either way
//!   the image carries the environment's tag.
//! * `status`: `done` when the image is `available` (and its snapshots carry the environment's tags),
//!   `inProgress` while `pending`.
//! * `copy`: copies the source image into the other region (encrypted with that region's KMS key when
//!   one is configured) and tags the copy explicitly: source image, source region, created-at, the
//!   environment and the group's AMI tag, so `update-launch-template` finds it.
//! * `prune`: keeps the newest `keepCopies` images this pipeline made for a group in a region,
//!   deregisters older ones and deletes their snapshots; never an image that a launch template's
//!   default or latest version uses, never an image still `pending`.
//!
//! Observe, then act: every action describes first and changes only what is missing. A retried
//! `create` finds the image it made by the execution tag; a retried `copy` finds the copy by its
//! deterministic name and source tags. Nothing here waits: the state machine polls `status`.

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use pilot_light_core::config::{
    config_parameter_name, lock_parameter_name, state_parameter_name, AmiPolicy, AmiSource,
    ComputeGroupConfig, PollPolicy, Side,
};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::direction::{active_region_in_state, copy_direction};
use pilot_light_core::images::{describe_own_images, newest_first, pick_newest_tagged, ImageView};
use pilot_light_core::lock::{held_lock, standing_aside};
use pilot_light_core::{
    parse_step_input, PilotLightConfig, PilotLightError, Regional, StepStatus, Timestamp,
    ENV_TAG_KEY,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["plan", "create", "status", "copy", "prune"];

/// Marks every image (and snapshot) this pipeline made; only these are ever pruned.
pub const CREATED_BY_TAG_KEY: &str = "pilot-light:created-by";
/// The value of [`CREATED_BY_TAG_KEY`].
pub const CREATED_BY: &str = "copy-ami";
/// The execution that made an image: how a retried `create` finds it.
pub const EXECUTION_TAG_KEY: &str = "pilot-light:execution";
/// When pilot-light made the image (RFC 3339 UTC).
pub const CREATED_AT_TAG_KEY: &str = "pilot-light:created-at";
/// On a copy: the image it was copied from.
pub const SOURCE_IMAGE_TAG_KEY: &str = "pilot-light:source-image";
/// On a copy: the region it was copied from.
pub const SOURCE_REGION_TAG_KEY: &str = "pilot-light:source-region";
/// On an image of an instance: the instance.
pub const SOURCE_INSTANCE_TAG_KEY: &str = "pilot-light:source-instance";
/// On a snapshot: the image it belongs to (so a snapshot left behind is found and deleted).
pub const IMAGE_TAG_KEY: &str = "pilot-light:image";

/// Tag keys pilot-light sets itself; a group's AMI tag must not be one of them.
const RESERVED_TAG_KEYS: &[&str] = &[
    ENV_TAG_KEY,
    CREATED_BY_TAG_KEY,
    EXECUTION_TAG_KEY,
    CREATED_AT_TAG_KEY,
    SOURCE_IMAGE_TAG_KEY,
    SOURCE_REGION_TAG_KEY,
    SOURCE_INSTANCE_TAG_KEY,
    IMAGE_TAG_KEY,
];

/// At most this many pages of a paginated describe call are read (a bound, not an expectation).
const MAX_PAGES: usize = 100;
/// EC2 accepts up to 200 values in one filter; stay well below.
const FILTER_CHUNK: usize = 100;
/// EC2 limits: image names 3–128 characters, tag values 256, client tokens 64.
const MAX_IMAGE_NAME: usize = 128;
const MAX_TAG_VALUE: usize = 256;
const MAX_CLIENT_TOKEN: usize = 64;
const MAX_DESCRIPTION: usize = 255;

/// The clients this handler uses, built once per Lambda instance.
pub struct Clients {
    pub ec2: Regional<aws_sdk_ec2::Client>,
    pub autoscaling: Regional<aws_sdk_autoscaling::Client>,
    pub ssm: Regional<aws_sdk_ssm::Client>,
    /// The region this handler runs in (the standby, where the configuration and run state live):
    /// the loaded `SdkConfig`'s region. `plan`'s `region` overrides it.
    pub home_region: Option<String>,
}

impl Clients {
    /// Clients from the environment (honours `AWS_ENDPOINT_URL`); the home region is `AWS_REGION`.
    pub async fn from_env() -> Self {
        let base = pilot_light_core::clients::load_sdk_config().await;
        let home_region = base.region().map(|r| r.to_string());
        Self {
            ec2: Regional::new(base.clone(), aws_sdk_ec2::Client::new),
            autoscaling: Regional::new(base.clone(), aws_sdk_autoscaling::Client::new),
            ssm: Regional::new(base, aws_sdk_ssm::Client::new),
            home_region,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CopyAmiAction {
    /// Which way to copy, and the slice of configuration the pipeline needs.
    Plan,
    /// The source image of one group in the active region.
    Create,
    /// Whether an image is `available` yet.
    Status,
    /// Copy the source image to the other region.
    Copy,
    /// Keep the newest copies of a group in a region, remove older ones.
    Prune,
}

// ---------------------------------------------------------------------------------------------
// Inputs and outputs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanInput {
    pub action: CopyAmiAction,
    pub env: String,
    #[serde(default)]
    pub execution_id: Option<String>,
    /// Where the configuration and the run state are (default: the handler's own region).
    #[serde(default)]
    pub region: Option<String>,
}

/// Which way the pipeline copies, and what it needs for every group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOutput {
    pub action: CopyAmiAction,
    pub status: StepStatus,
    pub env: String,
    /// The active region as the run state says (`null` when never written: the primary).
    pub active_region: Option<String>,
    pub source_region: String,
    pub source_side: Side,
    pub target_region: String,
    pub target_side: Side,
    pub policy: AmiPolicy,
    /// The target region's KMS key for copies (`null`: the copy keeps the source's encryption).
    pub kms_key_id: Option<String>,
    /// How often and how long the pipeline polls an image.
    pub poll: PollPolicy,
    pub groups: Vec<ComputeGroupConfig>,
    /// Why this run copies nothing: a failover or failback holds the lock (`groups` is then
    /// empty). `null` otherwise.
    pub skipped: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInput {
    pub action: CopyAmiAction,
    pub env: String,
    /// The active region.
    pub region: String,
    /// The active side.
    pub side: Side,
    pub group: ComputeGroupConfig,
    #[serde(default)]
    pub policy: AmiPolicy,
    /// The Step Functions execution: the image is tagged with it, so a retried `create` reuses it.
    pub execution_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOutput {
    pub action: CopyAmiAction,
    pub status: StepStatus,
    pub group: String,
    pub region: String,
    pub side: Side,
    pub source: AmiSource,
    pub image_id: String,
    pub image_name: Option<String>,
    pub image_state: String,
    /// The instance that was imaged (`source: instance`).
    pub instance_id: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusInput {
    pub action: CopyAmiAction,
    pub env: String,
    pub region: String,
    pub image_id: String,
    #[serde(default)]
    pub execution_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusOutput {
    pub action: CopyAmiAction,
    pub status: StepStatus,
    pub region: String,
    pub image_id: String,
    pub image_state: String,
    pub snapshot_ids: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopyInput {
    pub action: CopyAmiAction,
    pub env: String,
    pub source_region: String,
    pub source_image_id: String,
    pub target_region: String,
    pub group: ComputeGroupConfig,
    /// The target region's KMS key (`null`: keep the source's encryption).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub execution_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyOutput {
    pub action: CopyAmiAction,
    pub status: StepStatus,
    pub group: String,
    pub source_region: String,
    pub source_image_id: String,
    pub target_region: String,
    /// The copy.
    pub image_id: String,
    pub image_name: String,
    pub image_state: String,
    pub kms_key_id: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PruneInput {
    pub action: CopyAmiAction,
    pub env: String,
    pub region: String,
    pub group: ComputeGroupConfig,
    /// Images kept per group in this region (at least 1).
    pub keep_copies: u32,
    #[serde(default)]
    pub execution_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneOutput {
    pub action: CopyAmiAction,
    pub status: StepStatus,
    pub group: String,
    pub region: String,
    pub keep_copies: u32,
    /// The newest `keepCopies` available images.
    pub kept: Vec<String>,
    /// Older images kept because a launch template's default or latest version uses them.
    pub kept_referenced: Vec<String>,
    /// Images still `pending` (an operation in flight), never touched.
    pub kept_pending: Vec<String>,
    pub deregistered: Vec<String>,
    pub deleted_snapshots: Vec<String>,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub resources: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Pure decisions
// ---------------------------------------------------------------------------------------------

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

fn clip(value: &str, max: usize) -> String {
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
        (CREATED_BY_TAG_KEY.into(), CREATED_BY.into()),
        (EXECUTION_TAG_KEY.into(), clip(execution_id, MAX_TAG_VALUE)),
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
        (CREATED_BY_TAG_KEY.into(), CREATED_BY.into()),
        (SOURCE_IMAGE_TAG_KEY.into(), source_image_id.into()),
        (SOURCE_REGION_TAG_KEY.into(), source_region.into()),
        (CREATED_AT_TAG_KEY.into(), created_at.0.clone()),
        (
            "Name".into(),
            format!("pilot-light {env} {} from {source_region}", group.name),
        ),
    ];
    if let Some(execution) = execution_id.filter(|e| !e.is_empty()) {
        tags.push((EXECUTION_TAG_KEY.into(), clip(execution, MAX_TAG_VALUE)));
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
            Some(_) if k == CREATED_AT_TAG_KEY || k == EXECUTION_TAG_KEY || k == "Name" => false,
            Some(current) => current != v,
        })
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Handler
// ---------------------------------------------------------------------------------------------

/// The Lambda handler: decode, validate, observe, act. The answer is the action's output as JSON.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<serde_json::Value, PilotLightError> {
    let action = match event.get("action") {
        Some(serde_json::Value::String(a)) => a.clone(),
        Some(_) => {
            return Err(PilotLightError::InvalidInput {
                field: "action".into(),
                reason: "must be a string".into(),
            })
        }
        None => {
            return Err(PilotLightError::InvalidInput {
                field: "action".into(),
                reason: "missing field `action`".into(),
            })
        }
    };
    match action.as_str() {
        "plan" => to_json(plan(parse_step_input(event, ACTIONS)?, clients).await?),
        // Create and copy observe first (by this run's tags): when AWS refuses the image the way it
        // refuses a retry whose first attempt landed, they look again and find it.
        "create" => to_json(
            observe_again_if_landed("create", || async {
                create(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?,
        ),
        "status" => to_json(status(parse_step_input(event, ACTIONS)?, clients).await?),
        "copy" => to_json(
            observe_again_if_landed("copy", || async {
                copy(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?,
        ),
        "prune" => to_json(prune(parse_step_input(event, ACTIONS)?, clients).await?),
        other => Err(PilotLightError::UnknownAction {
            action: other.to_string(),
            expected: ACTIONS.join(", "),
        }),
    }
}

fn to_json<T: Serialize>(value: T) -> Result<serde_json::Value, PilotLightError> {
    serde_json::to_value(value).map_err(|e| PilotLightError::InvalidInput {
        field: ".".into(),
        reason: format!("cannot serialize the answer: {e}"),
    })
}

fn check_action(got: CopyAmiAction, want: CopyAmiAction) -> Result<(), PilotLightError> {
    if got == want {
        Ok(())
    } else {
        Err(PilotLightError::InvalidInput {
            field: "action".into(),
            reason: format!("expected {want:?}"),
        })
    }
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

/// A group's AMI tag must be set and must not be one of the tags pilot-light writes itself.
fn check_group(group: &ComputeGroupConfig) -> Result<(), PilotLightError> {
    check_not_empty("group.name", &group.name)?;
    check_not_empty("group.amiTag.key", &group.ami_tag.key)?;
    if RESERVED_TAG_KEYS.contains(&group.ami_tag.key.as_str()) {
        return Err(PilotLightError::InvalidInput {
            field: "group.amiTag.key".into(),
            reason: format!("`{}` is a tag pilot-light sets itself", group.ami_tag.key),
        });
    }
    Ok(())
}

/// `plan`: the direction from the run state, and the configuration slice.
pub async fn plan(input: PlanInput, clients: &Clients) -> Result<PlanOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Plan)?;
    check_not_empty("env", &input.env)?;
    let region = input
        .region
        .clone()
        .or_else(|| clients.home_region.clone())
        .ok_or_else(|| PilotLightError::InvalidInput {
            field: "region".into(),
            reason: "no region given and the handler has none configured".into(),
        })?;
    let ssm = clients.ssm.get(&region)?;
    let config_name = config_parameter_name(&input.env);
    let state_name = state_parameter_name(&input.env);
    let text = get_parameter(&ssm, &config_name).await?.ok_or_else(|| {
        PilotLightError::config(
            config_name.clone(),
            format!("no configuration document for `{}` in {region}", input.env),
        )
    })?;
    let config = PilotLightConfig::from_json_str(&text)?;
    if config.env != input.env {
        return Err(PilotLightError::config(
            "env",
            format!(
                "the document at {config_name} is for `{}`, not `{}`",
                config.env, input.env
            ),
        ));
    }
    let state = get_parameter(&ssm, &state_name).await?;
    let active_region = active_region_in_state(state.as_deref())?;
    let (direction, kms_key_id) = plan_copies(&config, active_region.as_deref())?;
    // Read now, when the pipeline starts: a run that holds the lock is moving production.
    let lock_name = lock_parameter_name(&input.env);
    let skipped = held_lock(get_parameter(&ssm, &lock_name).await?.as_deref())
        .map(|lock| standing_aside("the AMI pipeline", &input.env, &lock));
    if let Some(notice) = &skipped {
        tracing::warn!(env = %input.env, notice = %notice, "copy-ami plan");
    }
    tracing::info!(
        env = %input.env,
        source_region = %direction.source_region,
        target_region = %direction.target_region,
        groups = config.compute_groups.len(),
        "copy-ami plan"
    );
    Ok(PlanOutput {
        action: input.action,
        status: StepStatus::Done,
        env: input.env.clone(),
        active_region,
        source_region: direction.source_region,
        source_side: direction.source_side,
        target_region: direction.target_region,
        target_side: direction.target_side,
        policy: config.ami_policy.clone(),
        kms_key_id,
        poll: config.poll.image,
        groups: if skipped.is_some() {
            Vec::new()
        } else {
            config.compute_groups.clone()
        },
        skipped,
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![config_name, state_name, lock_name],
    })
}

/// `create`: the group's source image in the active region.
pub async fn create(
    input: CreateInput,
    clients: &Clients,
) -> Result<CreateOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Create)?;
    check_not_empty("env", &input.env)?;
    check_not_empty("executionId", &input.execution_id)?;
    check_group(&input.group)?;
    let ec2 = clients.ec2.get(&input.region)?;
    let region = input.region.as_str();
    let group = &input.group;

    let output = |status, image: &ImageView, instance_id: Option<String>| CreateOutput {
        action: input.action,
        status,
        group: group.name.clone(),
        region: region.to_string(),
        side: input.side,
        source: input.policy.source,
        image_id: image.image_id.clone(),
        image_name: image.name.clone(),
        image_state: image.state.clone(),
        instance_id,
        started_at: started_at.clone(),
        finished_at: Timestamp::now(),
        resources: vec![image.image_id.clone()],
    };

    match input.policy.source {
        AmiSource::Tag => {
            let tag = &group.ami_tag;
            let images = describe_own_images(
                &ec2,
                vec![tag_filter(&tag.key, &tag.value)],
                "DescribeImages",
            )
            .await?;
            let image =
                pick_newest_tagged(&images, tag).ok_or_else(|| PilotLightError::ImageNotFound {
                    tag: format!("{}={}", tag.key, tag.value),
                    region: region.to_string(),
                })?;
            let wanted = vec![(ENV_TAG_KEY.to_string(), input.env.clone())];
            let missing = missing_tags(&image.tags, &wanted);
            let status = if missing.is_empty() {
                StepStatus::AlreadyDone
            } else {
                create_tags(&ec2, std::slice::from_ref(&image.image_id), &missing).await?;
                StepStatus::Done
            };
            tracing::info!(group = %group.name, region, image_id = %image.image_id, status = ?status, "copy-ami create (tag)");
            Ok(output(status, image, None))
        }
        AmiSource::Instance => {
            // A retried create finds the image its first attempt made.
            let made = describe_own_images(
                &ec2,
                vec![
                    tag_filter(EXECUTION_TAG_KEY, &clip(&input.execution_id, MAX_TAG_VALUE)),
                    tag_filter(&group.ami_tag.key, &group.ami_tag.value),
                    tag_filter(ENV_TAG_KEY, &input.env),
                ],
                "DescribeImages",
            )
            .await?;
            if let Some(image) = reusable_image(&made) {
                let status = match image.state.as_str() {
                    "available" => StepStatus::AlreadyDone,
                    _ => StepStatus::InProgress,
                };
                let instance = image.tag(SOURCE_INSTANCE_TAG_KEY).map(str::to_string);
                return Ok(output(status, image, instance));
            }
            let side = input.side.of_group(group);
            check_not_empty(
                &format!("group.{}.autoScalingGroupName", input.side.name()),
                &side.auto_scaling_group_name,
            )?;
            let autoscaling = clients.autoscaling.get(region)?;
            let instances =
                observe_group_instances(&autoscaling, &ec2, &side.auto_scaling_group_name, region)
                    .await?;
            let instance = choose_instance(&instances).ok_or_else(|| {
                let seen = if instances.is_empty() {
                    "no instances".to_string()
                } else {
                    instances
                        .iter()
                        .map(|i| {
                            format!(
                                "{} {}/{}/{}",
                                i.instance_id,
                                i.lifecycle_state,
                                i.health_status,
                                i.ec2_state.as_deref().unwrap_or("unknown")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                PilotLightError::InvalidState {
                    resource: format!("Auto Scaling group {}", side.auto_scaling_group_name),
                    state: "no healthy InService instance".into(),
                    reason: format!("nothing to image: {seen}"),
                }
            })?;
            let created_at = Timestamp::now();
            let name = image_name(&input.env, &group.name, &name_stamp(&created_at));
            let tags = created_image_tags(
                &input.env,
                group,
                &input.execution_id,
                &instance.instance_id,
                &created_at,
            );
            let description = clip(
                &format!(
                    "pilot-light {} {}: image of {} by {}",
                    input.env, group.name, instance.instance_id, input.execution_id
                ),
                MAX_DESCRIPTION,
            );
            let created = ec2
                .create_image()
                .instance_id(&instance.instance_id)
                .name(&name)
                .description(description)
                .no_reboot(input.policy.no_reboot)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::Image)
                        .set_tags(Some(to_ec2_tags(&tags)))
                        .build(),
                )
                .send()
                .await
                .map_err(|err| PilotLightError::from_sdk("CreateImage", &err))?;
            let image_id = created
                .image_id()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| incomplete("CreateImage", "ImageId"))?
                .to_string();
            tracing::info!(
                group = %group.name,
                region,
                instance_id = %instance.instance_id,
                image_id = %image_id,
                no_reboot = input.policy.no_reboot,
                "copy-ami create (instance): CreateImage"
            );
            let image = ImageView {
                image_id,
                name: Some(name),
                state: "pending".into(),
                tags: tags.into_iter().collect(),
                ..ImageView::default()
            };
            Ok(output(
                StepStatus::Started,
                &image,
                Some(instance.instance_id.clone()),
            ))
        }
    }
}

/// `status`: `done` once the image is available. Images pilot-light made get their snapshots
/// tagged (environment, image, created-by), so `prune` may delete them and finds any left behind.
pub async fn status(
    input: StatusInput,
    clients: &Clients,
) -> Result<StatusOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Status)?;
    check_not_empty("env", &input.env)?;
    check_not_empty("imageId", &input.image_id)?;
    let ec2 = clients.ec2.get(&input.region)?;
    let image = describe_image(&ec2, &input.image_id, &input.region).await?;
    let status = image_progress(&image)?;
    if status == StepStatus::Done && image.tag(CREATED_BY_TAG_KEY) == Some(CREATED_BY) {
        let wanted = vec![
            (ENV_TAG_KEY.to_string(), input.env.clone()),
            (CREATED_BY_TAG_KEY.to_string(), CREATED_BY.to_string()),
            (IMAGE_TAG_KEY.to_string(), image.image_id.clone()),
        ];
        tag_snapshots(&ec2, &image.snapshot_ids, &wanted).await?;
    }
    Ok(StatusOutput {
        action: input.action,
        status,
        region: input.region.clone(),
        image_id: image.image_id.clone(),
        image_state: image.state.clone(),
        snapshot_ids: image.snapshot_ids.clone(),
        started_at,
        finished_at: Timestamp::now(),
        resources: vec![image.image_id.clone()],
    })
}

/// `copy`: the source image into the target region, once.
pub async fn copy(input: CopyInput, clients: &Clients) -> Result<CopyOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Copy)?;
    check_not_empty("env", &input.env)?;
    check_not_empty("sourceImageId", &input.source_image_id)?;
    check_group(&input.group)?;
    if input.source_region == input.target_region {
        return Err(PilotLightError::UnsafeOperation {
            reason: format!(
                "a copy from {} into {} is no disaster recovery: the target must be the other region",
                input.source_region, input.target_region
            ),
        });
    }
    let group = &input.group;
    let target = clients.ec2.get(&input.target_region)?;
    let source = clients.ec2.get(&input.source_region)?;
    let kms_key_id = input.kms_key_id.clone().filter(|k| !k.trim().is_empty());
    let name = image_name(&input.env, &group.name, &input.source_image_id);

    // Observe: a copy of this source (by its tags, or by its deterministic name when an earlier
    // attempt stopped before tagging it).
    let by_tags = describe_own_images(
        &target,
        vec![
            tag_filter(SOURCE_IMAGE_TAG_KEY, &input.source_image_id),
            tag_filter(SOURCE_REGION_TAG_KEY, &input.source_region),
            tag_filter(ENV_TAG_KEY, &input.env),
        ],
        "DescribeImages",
    )
    .await?;
    let by_name = describe_own_images(
        &target,
        vec![Filter::builder().name("name").values(&name).build()],
        "DescribeImages",
    )
    .await?;
    let mut found: Vec<ImageView> = by_tags;
    for image in by_name {
        if let Some(other) = image.tag(SOURCE_IMAGE_TAG_KEY) {
            if other != input.source_image_id {
                return Err(PilotLightError::InvalidState {
                    resource: format!("image {} ({name})", image.image_id),
                    state: image.state.clone(),
                    reason: format!(
                        "it has this copy's name but was copied from {other}; rename or deregister it"
                    ),
                });
            }
        }
        if !found.iter().any(|f| f.image_id == image.image_id) {
            found.push(image);
        }
    }
    let created_at = Timestamp::now();
    let wanted = copy_tags(
        &input.env,
        group,
        &input.source_region,
        &input.source_image_id,
        input.execution_id.as_deref(),
        &created_at,
    );
    let output = |status, image_id: String, image_state: String| CopyOutput {
        action: input.action,
        status,
        group: group.name.clone(),
        source_region: input.source_region.clone(),
        source_image_id: input.source_image_id.clone(),
        target_region: input.target_region.clone(),
        image_id: image_id.clone(),
        image_name: name.clone(),
        image_state,
        kms_key_id: kms_key_id.clone(),
        started_at: started_at.clone(),
        finished_at: Timestamp::now(),
        resources: vec![input.source_image_id.clone(), image_id],
    };

    if let Some(existing) = reusable_image(&found) {
        let missing = missing_tags(&existing.tags, &wanted);
        if !missing.is_empty() {
            create_tags(&target, std::slice::from_ref(&existing.image_id), &missing).await?;
        }
        let status = match existing.state.as_str() {
            "available" => StepStatus::AlreadyDone,
            _ => StepStatus::InProgress,
        };
        return Ok(output(
            status,
            existing.image_id.clone(),
            existing.state.clone(),
        ));
    }

    let source_image =
        describe_image(&source, &input.source_image_id, &input.source_region).await?;
    if source_image.state != "available" {
        return Err(PilotLightError::InvalidState {
            resource: format!("image {}", source_image.image_id),
            state: source_image.state.clone(),
            reason: "only an available image can be copied".into(),
        });
    }
    let description = clip(
        &format!(
            "pilot-light {} {}: copy of {} from {}",
            input.env, group.name, input.source_image_id, input.source_region
        ),
        MAX_DESCRIPTION,
    );
    let mut request = target
        .copy_image()
        .source_image_id(&input.source_image_id)
        .source_region(&input.source_region)
        .name(&name)
        .description(description)
        .client_token(copy_client_token(
            &input.source_region,
            &input.source_image_id,
            &input.target_region,
        ));
    if let Some(key) = &kms_key_id {
        request = request.encrypted(true).kms_key_id(key);
    }
    // Tagged at creation (what the IAM condition `aws:RequestTag/pilot-light:env` on CopyImage
    // checks), and again explicitly below: the emulator ignores CopyImage's tag specifications.
    request = request.tag_specifications(
        TagSpecification::builder()
            .resource_type(ResourceType::Image)
            .set_tags(Some(
                wanted
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .build(),
    );
    let copied = request
        .send()
        .await
        .map_err(|err| PilotLightError::from_sdk("CopyImage", &err))?;
    let image_id = copied
        .image_id()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| incomplete("CopyImage", "ImageId"))?
        .to_string();
    // CopyImage does not carry tags over (and the emulator ignores CopyImageTags): tag explicitly.
    create_tags(&target, std::slice::from_ref(&image_id), &wanted).await?;
    tracing::info!(
        group = %group.name,
        source_region = %input.source_region,
        source_image_id = %input.source_image_id,
        target_region = %input.target_region,
        image_id = %image_id,
        encrypted = kms_key_id.is_some(),
        "copy-ami copy: CopyImage"
    );
    Ok(output(StepStatus::Started, image_id, "pending".into()))
}

/// `prune`: keep the newest copies of a group in a region, deregister older ones and delete their
/// snapshots (and any snapshot of an image pilot-light deregistered earlier).
pub async fn prune(input: PruneInput, clients: &Clients) -> Result<PruneOutput, PilotLightError> {
    let started_at = Timestamp::now();
    check_action(input.action, CopyAmiAction::Prune)?;
    check_not_empty("env", &input.env)?;
    check_group(&input.group)?;
    if input.keep_copies == 0 {
        return Err(PilotLightError::InvalidInput {
            field: "keepCopies".into(),
            reason: "must be at least 1: pruning never removes every image".into(),
        });
    }
    let ec2 = clients.ec2.get(&input.region)?;
    let group = &input.group;
    let images = describe_own_images(
        &ec2,
        vec![
            tag_filter(ENV_TAG_KEY, &input.env),
            tag_filter(CREATED_BY_TAG_KEY, CREATED_BY),
            tag_filter(&group.ami_tag.key, &group.ami_tag.value),
        ],
        "DescribeImages",
    )
    .await?;
    let referenced = launch_template_images(&ec2).await?;
    let plan = plan_prune(&images, input.keep_copies as usize, &referenced);

    let mut deregistered = Vec::new();
    let mut deleted_snapshots = Vec::new();
    for image_id in &plan.deregister {
        let Some(image) = images.iter().find(|i| &i.image_id == image_id) else {
            continue;
        };
        match ec2.deregister_image().image_id(image_id).send().await {
            Ok(_) => deregistered.push(image_id.clone()),
            Err(err) if is_image_gone(err.code()) => {}
            Err(err) => return Err(PilotLightError::from_sdk("DeregisterImage", &err)),
        }
        for snapshot_id in &image.snapshot_ids {
            if delete_snapshot(&ec2, snapshot_id).await? {
                deleted_snapshots.push(snapshot_id.clone());
            }
        }
    }
    // Snapshots an earlier prune left behind (it stopped between deregistering and deleting).
    for snapshot_id in orphaned_snapshots(&ec2, &input.env).await? {
        if !deleted_snapshots.contains(&snapshot_id) && delete_snapshot(&ec2, &snapshot_id).await? {
            deleted_snapshots.push(snapshot_id);
        }
    }
    let status = if deregistered.is_empty() && deleted_snapshots.is_empty() {
        StepStatus::AlreadyDone
    } else {
        StepStatus::Done
    };
    tracing::info!(
        group = %group.name,
        region = %input.region,
        kept = ?plan.keep,
        kept_referenced = ?plan.keep_referenced,
        deregistered = ?deregistered,
        deleted_snapshots = ?deleted_snapshots,
        "copy-ami prune"
    );
    let mut resources: Vec<String> = plan.keep.clone();
    resources.extend(plan.keep_referenced.iter().cloned());
    resources.extend(deregistered.iter().cloned());
    resources.extend(deleted_snapshots.iter().cloned());
    Ok(PruneOutput {
        action: input.action,
        status,
        group: group.name.clone(),
        region: input.region.clone(),
        keep_copies: input.keep_copies,
        kept: plan.keep,
        kept_referenced: plan.keep_referenced,
        kept_pending: plan.keep_pending,
        deregistered,
        deleted_snapshots,
        started_at,
        finished_at: Timestamp::now(),
        resources,
    })
}

// ---------------------------------------------------------------------------------------------
// AWS calls
// ---------------------------------------------------------------------------------------------

/// EC2 answered, but without a field it always sends.
fn incomplete(operation: &str, what: &str) -> PilotLightError {
    PilotLightError::AwsServiceError {
        operation: operation.to_string(),
        code: "IncompleteResponse".into(),
        message: format!("the answer has no {what}"),
    }
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
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

use pilot_light_core::parameters::get_parameter_value as get_parameter;

/// One image by id; a missing or deregistered one is `ResourceNotFound` (kind `Image`).
async fn describe_image(
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

async fn create_tags(
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

/// Tags the snapshots that lack any of `wanted` (described by id: never the whole account's list).
async fn tag_snapshots(
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
async fn delete_snapshot(
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
async fn orphaned_snapshots(
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
            .filters(tag_filter(CREATED_BY_TAG_KEY, CREATED_BY))
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
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
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
async fn launch_template_images(
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
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
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
async fn observe_group_instances(
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
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
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
        assert_eq!(tags[CREATED_BY_TAG_KEY], CREATED_BY);
        assert_eq!(tags[EXECUTION_TAG_KEY], "arn:exec");
        let without = copy_tags("prod", &group(), "us-east-1", "ami-src", None, &at);
        assert!(!without.iter().any(|(k, _)| k == EXECUTION_TAG_KEY));
    }

    #[test]
    fn missing_tags_keep_when_and_by_whom() {
        let wanted = vec![
            (ENV_TAG_KEY.to_string(), "prod".to_string()),
            (CREATED_AT_TAG_KEY.to_string(), "new".to_string()),
            (EXECUTION_TAG_KEY.to_string(), "exec-2".to_string()),
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
                    (EXECUTION_TAG_KEY, "exec-1")
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
