//! ami-pipeline: keep the other region's images and launch templates current, on a schedule.

use crate::asl::{choice, fail, machine, map, pass, rethrow, states, string_equals, task, Retry};
use crate::json::{obj, strs, Json, Obj};
use crate::shapes::lock::{lock_is_held, read_lock};
use crate::shapes::poll::{poll_until, start_polling, First, Poll};
use crate::shapes::tail::alert_then_fail;

const COMMENT: &str = "pilot-light AMI pipeline, on a schedule. Input: {\"env\": \"<env>\"}. Copies from the active region (the run state's activeRegion; the primary when none) to the other one, for every compute group: source image (a healthy InService instance imaged, or the newest image carrying the group's AMI tag) -> poll -> copy (KMS-aware, tagged) -> poll -> pre-stage the other region's launch template -> prune both regions. Fails, after alerting, when any group fails.";

const COPY_AMI: &str = "${CopyAmiFunctionArn}";

/// The whole definition, as committed in `state-machines/`.
pub fn definition() -> Json {
    let states = states()
        .state(
            "Plan",
            task(COPY_AMI)
                .comment("Read the configuration, the run state and the lock: which way to copy, which groups, the policy. While a failover or failback holds the lock, no group (`skipped` says why).")
                .parameters(strs(&[
                    ("action", "plan"),
                    ("env.$", "$.env"),
                    ("executionId.$", "$$.Execution.Id"),
                ]))
                .result_path("$.plan")
                .timeout(60)
                .retry(Retry::Handler)
                .on_failure("NotifyFailure")
                .next("CopyEachGroup"),
        )
        .state(
            "CopyEachGroup",
            map("$.plan.groups")
                .comment("Groups are independent: each one is imaged, copied, pre-staged and pruned on its own.")
                .max_concurrency(4)
                .item_selector(strs(&[
                    ("group.$", "$$.Map.Item.Value"),
                    ("env.$", "$.env"),
                    ("sourceRegion.$", "$.plan.sourceRegion"),
                    ("sourceSide.$", "$.plan.sourceSide"),
                    ("targetRegion.$", "$.plan.targetRegion"),
                    ("targetSide.$", "$.plan.targetSide"),
                    ("policy.$", "$.plan.policy"),
                    ("kmsKeyId.$", "$.plan.kmsKeyId"),
                    ("poll.$", "$.plan.poll"),
                    ("executionId.$", "$$.Execution.Id"),
                ]))
                .processor(copy_group())
                .result_path("$.groups")
                .on_failure("NotifyFailure")
                .next("Done"),
        )
        .state(
            "Done",
            pass()
                .parameters(strs(&[
                    ("env.$", "$.env"),
                    ("sourceRegion.$", "$.plan.sourceRegion"),
                    ("targetRegion.$", "$.plan.targetRegion"),
                    ("groups.$", "$.groups"),
                    ("skipped.$", "$.plan.skipped"),
                ]))
                .end(),
        )
        .states(alert_then_fail(
            "ami-pipeline",
            "Tell the on-call the pilot light's images are not current.",
        ));
    machine(COMMENT, states)
}

/// A copy-ami call for one group, failing the group on error.
fn copy_ami(comment: &str, params: Obj, result_path: &str, timeout: i32) -> Obj {
    task(COPY_AMI)
        .comment(comment)
        .parameters(params)
        .result_path(result_path)
        .timeout(timeout)
        .retry(Retry::Handler)
        .on_failure("GroupFailed")
}

/// Poll an image (at `image_id` in `region`) until available; `what` names it in the states.
fn poll_image(
    what: &str,
    region: &str,
    image_id: &str,
    result_path: &str,
    then: &str,
    error: &str,
    noun: &str,
) -> Obj {
    let status = obj()
        .with("action", "status")
        .with("env.$", "$.env")
        .with("region.$", region)
        .with("imageId.$", image_id)
        .with("executionId.$", "$.executionId");
    let comment = format!(
        "Is the {noun} available yet? (Its snapshots get the environment's tags once it is.)"
    );
    let check = format!("Check{what}");
    let timed_out = format!("{what}TimedOut");
    poll_until(Poll {
        first: First::Check,
        name: what,
        check: (&check, copy_ami(&comment, status, result_path, 60)),
        done: vec![string_equals(
            &format!("{result_path}.status"),
            "done",
            then,
        )],
        poll: "$.poll",
        timed_out: (
            &timed_out,
            fail(
                error,
                &format!("the {noun} did not become available within the poll bound (poll.image)"),
            )
            .comment(&format!(
                "The {noun} was not available after poll.image.maxAttempts checks."
            )),
        ),
        ..Poll::default()
    })
}

/// What the pipeline did to one group, from a prune result at `path`.
fn pruned(path: &str) -> Obj {
    ["kept", "keptReferenced", "deregistered", "deletedSnapshots"]
        .iter()
        .fold(obj(), |o, k| {
            o.with(&format!("{k}.$"), format!("{path}.{k}"))
        })
}

/// Prune the images of one region, keeping the newest copies.
fn prune(comment: &str, region: &str, result_path: &str) -> Obj {
    let params = strs(&[
        ("action", "prune"),
        ("env.$", "$.env"),
        ("region.$", region),
        ("group.$", "$.group"),
        ("keepCopies.$", "$.policy.keepCopies"),
        ("executionId.$", "$.executionId"),
    ]);
    copy_ami(comment, params, result_path, 300)
}

/// One group: image, poll, copy, poll, re-check the lock, pre-stage, prune both regions.
fn copy_group() -> Obj {
    let group_images = strs(&[
        ("group.$", "$.group.name"),
        ("sourceRegion.$", "$.sourceRegion"),
        ("targetRegion.$", "$.targetRegion"),
        ("sourceImageId.$", "$.source.imageId"),
        ("copyImageId.$", "$.copy.imageId"),
    ]);
    states()
        .state(
            "CreateSourceImage",
            copy_ami(
                "Image a healthy InService instance of the active region's group (or take the newest image carrying the group's AMI tag); a retry reuses the image this execution made.",
                strs(&[
                    ("action", "create"),
                    ("env.$", "$.env"),
                    ("region.$", "$.sourceRegion"),
                    ("side.$", "$.sourceSide"),
                    ("group.$", "$.group"),
                    ("policy.$", "$.policy"),
                    ("executionId.$", "$.executionId"),
                ]),
                "$.source",
                120,
            )
            .next(&start_polling("SourceImage")),
        )
        .states(poll_image(
            "SourceImage",
            "$.sourceRegion",
            "$.source.imageId",
            "$.sourceStatus",
            "CopyToTarget",
            "SourceImageNotAvailable",
            "source image",
        ))
        .state(
            "CopyToTarget",
            copy_ami(
                "Copy into the other region (with its KMS key when configured) and tag the copy explicitly; a retry finds the copy by name and tags.",
                strs(&[
                    ("action", "copy"),
                    ("env.$", "$.env"),
                    ("sourceRegion.$", "$.sourceRegion"),
                    ("sourceImageId.$", "$.source.imageId"),
                    ("targetRegion.$", "$.targetRegion"),
                    ("group.$", "$.group"),
                    ("kmsKeyId.$", "$.kmsKeyId"),
                    ("executionId.$", "$.executionId"),
                ]),
                "$.copy",
                120,
            )
            .next(&start_polling("Copy")),
        )
        .states(poll_image(
            "Copy",
            "$.targetRegion",
            "$.copy.imageId",
            "$.copyStatus",
            "ReadLockBeforePreStage",
            "CopyNotAvailable",
            "copy",
        ))
        .state(
            "ReadLockBeforePreStage",
            read_lock("$.lockNow")
                .comment("Read the lock again now, minutes after the plan read it: a failover or failback that began while the images were made owns the launch templates (the target may now serve production). GetParameters lists a missing name instead of failing.")
                .on_failure("GroupFailed")
                .next("IsARunHoldingTheLock"),
        )
        .state(
            "IsARunHoldingTheLock",
            choice(
                vec![lock_is_held("$.lockNow", "StandAsideForTheRun")],
                "PreStageLaunchTemplate",
            ),
        )
        .state(
            "StandAsideForTheRun",
            pass()
                .comment("A run holds the lock: the copy is kept, nothing is pre-staged or pruned; the next scheduled run works from the region then active.")
                .parameters(group_images.clone().with("skipped", "a failover or failback took the lock while the images were made: the launch template was not pre-staged and nothing was pruned (the copy is kept); the next scheduled run works from the region then active"))
                .end(),
        )
        .state(
            "PreStageLaunchTemplate",
            task("${UpdateLaunchTemplateFunctionArn}")
                .comment("Point the other region's launch template at the new copy now: a failover has one step less.")
                .parameters(strs(&[
                    ("action", "update"),
                    ("region.$", "$.targetRegion"),
                    ("side.$", "$.targetSide"),
                    ("group.$", "$.group"),
                    ("executionId.$", "$.executionId"),
                ]))
                .result_path("$.launchTemplate")
                .timeout(60)
                .retry(Retry::Handler)
                .on_failure("GroupFailed")
                .next("PruneTargetRegion"),
        )
        .state(
            "PruneTargetRegion",
            prune(
                "Keep the newest copies; deregister older ones and delete their snapshots, never an image a launch template's default or latest version uses.",
                "$.targetRegion",
                "$.prunedTarget",
            )
            .next("PruneSourceRegion"),
        )
        .state(
            "PruneSourceRegion",
            prune(
                "The same for the images this pipeline made in the active region.",
                "$.sourceRegion",
                "$.prunedSource",
            )
            .next("GroupDone"),
        )
        .state(
            "GroupDone",
            pass()
                .parameters(
                    group_images
                        .with(
                            "launchTemplate",
                            strs(&[
                                ("status.$", "$.launchTemplate.status"),
                                ("launchTemplateId.$", "$.launchTemplate.launchTemplateId"),
                                ("imageId.$", "$.launchTemplate.imageId"),
                                ("defaultVersion.$", "$.launchTemplate.defaultVersion"),
                            ]),
                        )
                        .with("prunedTarget", pruned("$.prunedTarget"))
                        .with("prunedSource", pruned("$.prunedSource")),
                )
                .end(),
        )
        .state("GroupFailed", rethrow())
}
