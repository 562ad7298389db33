//! The `listUnreplicated` action, and the listing it shares with `failback` and `copyBack`: the
//! standby objects in the window that the primary does not have.

use crate::aws::{head_primary, list_page, read_replication};
use crate::decide::{
    choose_since, classify, object_arn, reverse_rule_since, Replication, ReplicationView,
    StandbyObject,
};
use crate::{
    base_output, format_millis, parse_since, Action, Clients, SkippedObject,
    SwitchReplicationInput, SwitchReplicationOutput, UnreplicatedListing, UnreplicatedObject,
    DEFAULT_MAX_OBJECTS, MAX_LIST_PAGES,
};
use pilot_light_core::{PilotLightError, StepStatus};

pub(crate) async fn list_only(
    input: &SwitchReplicationInput,
    clients: &Clients,
) -> Result<SwitchReplicationOutput, PilotLightError> {
    let pair = &input.replication;
    let standby = clients.s3.get(&input.standby_region)?;
    let primary = clients.s3.get(&input.primary_region)?;
    let config = read_replication(&standby, &pair.standby_bucket, &input.standby_region).await?;
    let rule_since = reverse_rule_since(
        config.as_ref().map(ReplicationView::from_sdk).as_ref(),
        pair,
    );
    let listing = list_unreplicated(input, &standby, &primary, rule_since).await?;
    let mut out = base_output(input);
    out.status = StepStatus::AlreadyDone;
    out.since = listing.since.clone();
    out.unreplicated = Some(listing);
    Ok(out)
}

/// Lists the standby objects in the window (last modified at or after `since`) and compares each
/// with the primary's object under its key.
pub(crate) async fn list_unreplicated(
    input: &SwitchReplicationInput,
    standby: &aws_sdk_s3::Client,
    primary: &aws_sdk_s3::Client,
    rule_since: Option<i64>,
) -> Result<UnreplicatedListing, PilotLightError> {
    let pair = &input.replication;
    let (since, since_source) = choose_since(parse_since(input)?, rule_since);
    let max_objects = input.max_objects.unwrap_or(DEFAULT_MAX_OBJECTS);

    let mut window = Vec::new();
    let mut truncated = false;
    let mut last_key: Option<String> = None;
    let mut token: Option<String> = None;
    let mut pages = 0;
    'pages: loop {
        let start_after = if token.is_none() {
            input.start_after.clone()
        } else {
            None
        };
        let page = list_page(
            standby,
            &pair.standby_bucket,
            &input.standby_region,
            start_after,
            token.clone(),
        )
        .await?;
        pages += 1;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let last_modified = object
                .last_modified()
                .and_then(|d| d.to_millis().ok())
                .unwrap_or(0);
            if since.is_none_or(|s| last_modified >= s) {
                if window.len() == max_objects {
                    truncated = true;
                    break 'pages;
                }
                window.push(StandbyObject {
                    key: key.to_string(),
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    size: object.size().unwrap_or(0),
                    last_modified_millis: last_modified,
                });
            }
            last_key = Some(key.to_string());
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        if pages >= MAX_LIST_PAGES {
            truncated = true;
            break;
        }
    }

    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for object in &window {
        let theirs = head_primary(primary, input, &object.key).await?;
        match classify(object, theirs.as_ref()) {
            Replication::Replicated => {}
            Replication::PrimaryNewer => skipped.push(SkippedObject {
                key: object.key.clone(),
                reason:
                    "primaryNewer: the primary's object was written after the standby's; it is kept"
                        .into(),
            }),
            replication => objects.push(UnreplicatedObject {
                key: object.key.clone(),
                etag: object.etag.clone(),
                size: object.size,
                last_modified: format_millis(object.last_modified_millis),
                replication,
            }),
        }
    }
    Ok(UnreplicatedListing {
        action: Some(Action::ListUnreplicated),
        status: if objects.is_empty() {
            StepStatus::AlreadyDone
        } else {
            StepStatus::Done
        },
        name: pair.name.clone(),
        since: since.map(format_millis),
        since_source,
        standby_bucket: pair.standby_bucket.clone(),
        primary_bucket: pair.primary_bucket.clone(),
        count: objects.len(),
        resources: objects
            .iter()
            .map(|o| object_arn(&input.standby_region, &pair.standby_bucket, &o.key))
            .collect(),
        objects,
        skipped,
        examined: window.len(),
        truncated,
        next_start_after: if truncated { last_key } else { None },
    })
}
