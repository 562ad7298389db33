//! The SDK calls of this handler (SNS publish, execution description and history reads, DB instance
//! listing), each mapping SDK errors to [`PilotLightError`]. No decisions here.

use crate::kept::OutputEvent;
use crate::{Clients, Published};
use aws_sdk_sns::types::MessageAttributeValue;
use pilot_light_core::db_instances::list_instances;
use pilot_light_core::execution_history::{arn_region, fetch_history};
use pilot_light_core::kept::ListedInstance;
use pilot_light_core::PilotLightError;

/// At most this many pages of DB instances (100 each) are read when looking for kept old primaries.
const MAX_INSTANCE_PAGES: usize = 100;

/// Every DB instance of `region` (at most [`MAX_INSTANCE_PAGES`] pages).
pub(crate) async fn db_instances(
    clients: &Clients,
    region: &str,
) -> Result<Vec<ListedInstance>, PilotLightError> {
    let rds = clients.rds.get(region)?;
    list_instances(&rds, region, MAX_INSTANCE_PAGES).await
}

/// The history of the failover that cut replication (empty when it cannot be read: not an
/// execution ARN, or gone after Step Functions' retention).
pub(crate) async fn failover_history(
    clients: &Clients,
    execution_arn: &str,
) -> Result<Vec<OutputEvent>, PilotLightError> {
    let Ok(region) = arn_region(execution_arn, "states") else {
        return Ok(vec![]);
    };
    let sfn = clients.sfn.get(region)?;
    match fetch_history(&sfn, execution_arn, region).await {
        Ok(events) => Ok(events.iter().map(OutputEvent::from_sfn).collect()),
        Err(PilotLightError::ResourceNotFound { .. }) => Ok(vec![]),
        Err(err) => Err(err),
    }
}

/// Publishes one message with string attributes.
pub(crate) async fn send(
    clients: &Clients,
    topic_arn: &str,
    region: &str,
    subject: &str,
    message: &str,
    attributes: &[(&str, &str)],
) -> Result<Published, PilotLightError> {
    let sns = clients.sns.get(region)?;
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message(message)
        .message_structure("json");
    for (name, value) in attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*value)
            .build()
            .map_err(|err| PilotLightError::InvalidInput {
                field: (*name).to_string(),
                reason: err.to_string(),
            })?;
        request = request.message_attributes(format!("pilot-light.{name}"), attribute);
    }
    let out = request
        .send()
        .await
        .map_err(|err| match err.as_service_error() {
            Some(e) if e.is_not_found_exception() => PilotLightError::ResourceNotFound {
                kind: "Topic".into(),
                id: topic_arn.to_string(),
                region: region.to_string(),
            },
            _ => PilotLightError::from_sdk("Publish", &err),
        })?;
    Ok(Published {
        topic_arn: topic_arn.to_string(),
        message_id: out.message_id().unwrap_or_default().to_string(),
    })
}
