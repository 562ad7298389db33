//! Shared library of the pilot-light handlers.
//!
//! * [`automatic_failover`]: which AWS Health events concern the configuration, and the approval
//!   window of an automatic failover.
//! * [`capacity_record`]: the primary groups' sizes while it serves (`/pilot-light/<env>/capacity`).
//! * [`config`]: the one configuration document (`/pilot-light/<env>/config`), typed and validated.
//! * [`clients`]: AWS clients per region, built from one `SdkConfig`.
//! * `replica_lag` (feature `cloudwatch`): a read replica's `ReplicaLag` datapoints.
//! * `db_instances` (feature `rds`): DB instances as `DescribeDBInstances` lists them, with tags.
//! * [`direction`]: which way the AMI pipeline and the SSM sync copy (from the active region).
//! * [`execution_history`]: an execution's events and the timeline of its steps (feature `sfn`:
//!   read from Step Functions).
//! * [`error`]: the one error enum; its `error_type` names are what the state machines match.
//! * [`step`]: the step input/output types shared with the ASL (camelCase JSON).
//! * [`logging`]: JSON logs.
//! * [`metrics`]: CloudWatch Embedded Metric Format lines, in the one `PilotLight` namespace.
//! * [`parameters`]: reading pilot-light's own SSM parameters.
//! * [`run_state`]: the run-state and lock documents, typed once for every reader.
//! * [`lock`]: the lock as the scheduled work reads it (stand aside while a run holds it).
//! * [`converge`]: observe again when AWS refuses a retry whose first attempt landed.
//! * [`production_shape`]: what a pilot-light database is resized to when it becomes production.
//! * [`images`]: machine images as the decisions see them, and the one rule for the newest.
//! * [`ssm_read`]: a region's parameters under a path, values and metadata, as the sync reads them.
//! * [`ssm_plan`]: the SSM sync's pure part: parameters of both regions, scope, and what to write.
//! * [`env_name`]: the one rule for an environment name, and [`EnvName`], a name that passed it:
//!   the type of every `env` (config, handler input and output, CLI `--env`).
//! * [`hooks`]: the team's own Lambda functions run at fixed points of failover and failback.
//! * [`tags`]: every tag key pilot-light writes.
//! * [`kept`]: the instances a failback renamed aside and keeps (old primaries that may hold writes
//!   the standby never received), found by their tags.

pub mod automatic_failover;
pub mod capacity_record;
pub mod clients;
pub mod config;
pub mod converge;
#[cfg(feature = "rds")]
pub mod db_instances;
pub mod direction;
pub mod env_name;
pub mod error;
pub mod execution_history;
pub mod hooks;
pub mod images;
pub mod kept;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod parameters;
pub mod production_shape;
#[cfg(feature = "cloudwatch")]
pub mod replica_lag;
pub mod run_state;
pub mod ssm_plan;
pub mod ssm_read;
pub mod step;
pub mod tags;

pub use clients::Regional;
pub use config::PilotLightConfig;
pub use env_name::EnvName;
pub use error::PilotLightError;
pub use step::{execution_token, parse_step_input, StepStatus, Timestamp};

pub use tags::{ENV_TAG_KEY, FENCED_MIN_SIZE_TAG};
