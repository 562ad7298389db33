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
//!
//! Layout: the pure decisions are in `decide`, the SDK calls in `aws`, and each action has its own
//! module (`plan`, `create`, `status`, `copy`, `prune`) that observes, decides and acts.

mod aws;
pub mod copy;
pub mod create;
pub mod decide;
pub mod plan;
pub mod prune;
pub mod status;

pub use copy::copy;
pub use create::create;
pub use decide::{
    choose_instance, copy_client_token, copy_tags, created_image_tags, image_name, image_progress,
    missing_tags, name_stamp, plan_copies, plan_prune, reusable_image, InstanceObservation,
    PrunePlan, CREATED_AT_TAG_KEY, CREATED_BY_AMI_PIPELINE, CREATED_BY_TAG_KEY, EXECUTION_TAG,
    IMAGE_TAG_KEY, SOURCE_IMAGE_TAG_KEY, SOURCE_INSTANCE_TAG_KEY, SOURCE_REGION_TAG_KEY,
};
pub use plan::plan;
pub use prune::prune;
pub use status::status;

use pilot_light_core::config::{AmiPolicy, AmiSource, ComputeGroupConfig, PollPolicy, Side};
use pilot_light_core::converge::observe_again_if_landed;
use pilot_light_core::step::{to_json_value as to_json, ActionOnly};
use pilot_light_core::{
    parse_step_input, EnvName, PilotLightError, Regional, StepStatus, Timestamp,
};
use serde::{Deserialize, Serialize};

/// The actions of this handler.
pub const ACTIONS: &[&str] = &["plan", "create", "status", "copy", "prune"];

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
    pub env: EnvName,
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
    pub env: EnvName,
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
    pub env: EnvName,
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
    pub env: EnvName,
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
    pub env: EnvName,
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
    pub env: EnvName,
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
// Handler
// ---------------------------------------------------------------------------------------------

/// The Lambda handler: decode, validate, observe, act. The answer is the action's output as JSON.
pub async fn handler(
    event: serde_json::Value,
    clients: &Clients,
) -> Result<serde_json::Value, PilotLightError> {
    let ActionOnly::<CopyAmiAction> { action } = parse_step_input(event.clone(), ACTIONS)?;
    match action {
        CopyAmiAction::Plan => to_json(plan(parse_step_input(event, ACTIONS)?, clients).await?),
        // Create and copy observe first (by this run's tags): when AWS refuses the image the way it
        // refuses a retry whose first attempt landed, they look again and find it.
        CopyAmiAction::Create => to_json(
            observe_again_if_landed("create", || async {
                create(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?,
        ),
        CopyAmiAction::Status => to_json(status(parse_step_input(event, ACTIONS)?, clients).await?),
        CopyAmiAction::Copy => to_json(
            observe_again_if_landed("copy", || async {
                copy(parse_step_input(event.clone(), ACTIONS)?, clients).await
            })
            .await?,
        ),
        CopyAmiAction::Prune => to_json(prune(parse_step_input(event, ACTIONS)?, clients).await?),
    }
}

#[cfg(test)]
mod action_list {
    use super::{CopyAmiAction, ACTIONS};

    /// `ACTIONS` (what `UnknownAction` quotes and the state machines may send) names every action
    /// of [`CopyAmiAction`] once, by its wire name. A new action does not compile here until it is counted.
    #[test]
    fn the_action_list_names_every_action_once() {
        let listed = pilot_light_core::step::check_action_list::<CopyAmiAction>(ACTIONS).unwrap();
        let index = |action: &CopyAmiAction| match action {
            CopyAmiAction::Plan => 0,
            CopyAmiAction::Create => 1,
            CopyAmiAction::Status => 2,
            CopyAmiAction::Copy => 3,
            CopyAmiAction::Prune => 4,
        };
        let mut seen: Vec<usize> = listed.iter().map(index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..5).collect::<Vec<_>>());
    }
}
