//! AWS clients per region, all made from one `SdkConfig` loaded at init.
//!
//! `aws_config` honours `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`), so the same binary
//! talks to AWS in production and to the local emulator in tests. A handler keeps one [`Regional`] per
//! service in its `Clients` struct and reuses it across invocations.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::PilotLightError;

/// Environment variable: seconds one attempt of an AWS call may take before it is abandoned and
/// retried (default [`DEFAULT_ATTEMPT_TIMEOUT`]).
pub const ATTEMPT_TIMEOUT_ENV: &str = "PILOT_LIGHT_AWS_ATTEMPT_TIMEOUT_SECONDS";
/// One attempt of an AWS call: long enough for any control-plane call, short enough that three
/// attempts fit in a handler's 60 s timeout.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to an endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts per AWS call (standard retry: throttling, 5xx, timeouts and dropped connections, with
/// jittered exponential backoff). Five instead of the SDK's three: on the day a region fails, every
/// other customer's failover throttles the same control planes. Beyond these, the handler returns
/// `Throttled` / `AwsUnavailable` and the state machine's Retry takes over.
pub const AWS_MAX_ATTEMPTS: u32 = 5;

/// Loads the shared SDK configuration from the environment (credentials, endpoint), with
/// [`AWS_MAX_ATTEMPTS`] attempts per call and a bound on each attempt: an endpoint that accepts a request and never answers (half of a
/// region down) costs one attempt, which the SDK's standard retry repeats, never the whole handler.
pub async fn load_sdk_config() -> SdkConfig {
    let attempt = attempt_timeout(std::env::var(ATTEMPT_TIMEOUT_ENV).ok().as_deref());
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(AWS_MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt)
                .build(),
        )
        .load()
        .await
}

/// The attempt timeout from the environment's value: whole or fractional seconds from 0.1 to 60;
/// anything else is the default.
pub fn attempt_timeout(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| (0.1..=60.0).contains(s))
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT)
}

type MakeClient<C> = dyn Fn(&SdkConfig) -> C + Send + Sync;

/// One client of type `C` per region, made on first use from the shared `SdkConfig` with only the
/// region changed, then cached. Tests build one from fixed clients with [`Regional::fixed`].
pub struct Regional<C> {
    base: Option<SdkConfig>,
    make: Option<Arc<MakeClient<C>>>,
    clients: Mutex<BTreeMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    /// Clients made from `base` by `make` (for example `aws_sdk_rds::Client::new`).
    pub fn new(base: SdkConfig, make: impl Fn(&SdkConfig) -> C + Send + Sync + 'static) -> Self {
        Self {
            base: Some(base),
            make: Some(Arc::new(make)),
            clients: Mutex::new(BTreeMap::new()),
        }
    }

    /// Exactly these clients, by region; any other region is an error (for tests with mocked clients).
    pub fn fixed(clients: impl IntoIterator<Item = (String, C)>) -> Self {
        Self {
            base: None,
            make: None,
            clients: Mutex::new(clients.into_iter().collect()),
        }
    }

    /// The client for `region`.
    pub fn get(&self, region: &str) -> Result<C, PilotLightError> {
        validate_region(region).map_err(|reason| PilotLightError::InvalidInput {
            field: "region".into(),
            reason,
        })?;
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(region) {
            return Ok(client.clone());
        }
        let (Some(base), Some(make)) = (&self.base, &self.make) else {
            return Err(PilotLightError::InvalidInput {
                field: "region".into(),
                reason: format!("no client for region {region}"),
            });
        };
        let config = base
            .to_builder()
            .region(Region::new(region.to_string()))
            .build();
        let client = make(&config);
        clients.insert(region.to_string(), client.clone());
        Ok(client)
    }
}

/// Checks that `region` looks like an AWS region name (`us-west-2`, `eu-central-1`, `us-gov-east-1`).
pub fn validate_region(region: &str) -> Result<(), String> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!("`{region}` is not an AWS region name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_timeout_comes_from_the_environment_within_bounds() {
        let cases: &[(Option<&str>, Duration)] = &[
            (None, DEFAULT_ATTEMPT_TIMEOUT),
            (Some("2"), Duration::from_secs(2)),
            (Some(" 1.5 "), Duration::from_millis(1500)),
            (Some("0"), DEFAULT_ATTEMPT_TIMEOUT),
            (Some("-3"), DEFAULT_ATTEMPT_TIMEOUT),
            (Some("61"), DEFAULT_ATTEMPT_TIMEOUT),
            (Some("ten"), DEFAULT_ATTEMPT_TIMEOUT),
            (Some(""), DEFAULT_ATTEMPT_TIMEOUT),
        ];
        for (value, expected) in cases {
            assert_eq!(attempt_timeout(*value), *expected, "{value:?}");
        }
    }

    #[test]
    fn region_names() {
        for good in [
            "us-east-1",
            "us-west-2",
            "eu-central-1",
            "ap-southeast-3",
            "us-gov-west-1",
        ] {
            assert_eq!(validate_region(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-x",
            "u-east-1",
            "us--1",
            "us-east-1-a-b",
        ] {
            assert!(validate_region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fixed_clients_refuse_other_regions() {
        let regional = Regional::fixed([("us-west-2".to_string(), 7u8)]);
        assert_eq!(regional.get("us-west-2"), Ok(7));
        assert_eq!(
            regional.get("us-east-1").unwrap_err().error_type(),
            "InvalidInput"
        );
        assert_eq!(
            regional.get("nowhere").unwrap_err().error_type(),
            "InvalidInput"
        );
    }

    #[tokio::test]
    async fn clients_get_the_region_and_keep_the_endpoint() {
        let base = SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:1")
            .behavior_version(BehaviorVersion::latest())
            .build();
        let regional = Regional::new(base, |config: &SdkConfig| {
            (
                config.region().map(|r| r.to_string()),
                config.endpoint_url().map(str::to_string),
            )
        });
        assert_eq!(
            regional.get("eu-west-1").unwrap(),
            (
                Some("eu-west-1".to_string()),
                Some("http://127.0.0.1:1".to_string())
            )
        );
    }
}
