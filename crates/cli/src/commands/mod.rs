//! The commands of the `pilot-light` binary, one module each, and what they share: the AWS
//! configuration (`--region`) and the env (`--env`).

mod approval;
mod report;
mod start;
mod status;
mod unlock;

pub(crate) use approval::answer_approval;
pub(crate) use report::report_command;
pub(crate) use start::start_and_follow;
pub(crate) use status::status;
pub(crate) use unlock::unlock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use pilot_light_cli::{check_region, CliError};
use pilot_light_core::EnvName;

/// The AWS configuration: credentials and endpoint from the environment, the region from `--region`
/// or the environment.
pub(crate) async fn sdk_config(region: Option<&str>) -> Result<(SdkConfig, String), CliError> {
    if let Some(r) = region {
        check_region(r)?;
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let config = loader.load().await;
    let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
        CliError::new("no region: give --region <standby region> or set AWS_REGION")
    })?;
    check_region(&region)?;
    Ok((config, region))
}

/// The env the command works on (`--env` or `PILOT_LIGHT_ENV`, checked as clap read it).
pub(crate) fn require_env(env: Option<&EnvName>) -> Result<EnvName, CliError> {
    env.cloned()
        .ok_or_else(|| CliError::new("no env: give --env <env> or set PILOT_LIGHT_ENV"))
}
