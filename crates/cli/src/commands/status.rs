//! `status`: the readiness checks run from this machine, printed; exit 3 when one failed.

use crate::commands::{require_env, sdk_config};
use crate::{Cli, Output};
use pilot_light_cli::{exit, explain, CliError};

pub(crate) async fn status(cli: &Cli) -> Result<i32, CliError> {
    let env = require_env(cli.env.as_ref())?;
    let (config, region) = sdk_config(cli.region.as_deref()).await?;
    let clients = pilot_light_domain::readiness::Clients::from_config(config);
    let report = pilot_light_domain::readiness::run_checks(&clients, &env, &region)
        .await
        .map_err(|e| explain(&e, &env, &region))?;
    match cli.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Text => print!("{}", pilot_light_domain::readiness::render_text(&report)),
    }
    Ok(
        if report.overall == pilot_light_domain::readiness::CheckStatus::Fail {
            exit::NOT_OK
        } else {
            exit::OK
        },
    )
}
