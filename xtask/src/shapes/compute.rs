//! Compute: bring a region's Auto Scaling groups up (recover) and a region's Lambda
//! consumers on or off.

use crate::asl::{fail, map, pass, rethrow, states, string_equals, task, Retry};
use crate::json::{strs, Obj};
use crate::shapes::poll::{poll_until, start_polling, First, Poll};

pub const SCALE_ASG: &str = "${ScaleAsgFunctionArn}";
pub const TOGGLE_FUNCTIONS: &str = "${ToggleFunctionsFunctionArn}";

/// What differs between the copies of the compute recovery (failover: standby; failback: primary).
pub struct RecoverCompute<'a> {
    /// `standby` or `primary`: the side that is brought up.
    pub side: &'a str,
    /// The launch template update: state name and comment.
    pub update: (&'a str, &'a str),
    /// The scale-up to the recorded capacity: state name and comment.
    pub scale: (&'a str, &'a str),
    /// The comment on `CheckCompute`.
    pub check_comment: &'a str,
    /// The cause of `ComputeTimedOut`.
    pub timed_out_cause: &'a str,
    /// The Pass that ends a ready group.
    pub ready: &'a str,
}

/// Per compute group: point the launch template at the newest tagged AMI, scale to the
/// recorded capacity, poll until InService and healthy. Returns the Map; add `Catch` and `End`.
pub fn recover_compute(r: RecoverCompute) -> Obj {
    let region = format!("$.{}Region", r.side);
    let group_call = |action: &str, last: (&str, &str)| {
        strs(&[
            ("action", action),
            ("region.$", &region),
            ("side", r.side),
            ("group.$", "$.group"),
            last,
        ])
    };
    let handler = |resource: &str, comment: &str, params: Obj, result_path: &str| {
        task(resource)
            .comment(comment)
            .parameters(params)
            .result_path(result_path)
            .timeout(60)
            .retry(Retry::Handler)
            .on_failure("ComputeFailed")
    };
    let flow = states()
        .state(
            r.update.0,
            handler(
                "${UpdateLaunchTemplateFunctionArn}",
                r.update.1,
                group_call("update", ("executionId.$", "$.executionId")),
                "$.launchTemplate",
            )
            .next(r.scale.0),
        )
        .state(
            r.scale.0,
            handler(
                SCALE_ASG,
                r.scale.1,
                group_call("scale", ("recordedCapacities.$", "$.recordedCapacities")),
                "$.scale",
            )
            .next(&start_polling("Compute")),
        )
        .states(poll_until(Poll {
            first: First::Wait,
            name: "Compute",
            check: (
                "CheckCompute",
                handler(
                    SCALE_ASG,
                    r.check_comment,
                    group_call("status", ("target.$", "$.scale.target")),
                    "$.status",
                ),
            ),
            done: vec![string_equals("$.status.status", "done", r.ready)],
            poll: "$.poll",
            timed_out: (
                "ComputeTimedOut",
                fail("ComputeTimedOut", r.timed_out_cause),
            ),
            ..Poll::default()
        }))
        .state("ComputeFailed", rethrow())
        .state(
            r.ready,
            pass()
                .parameters(strs(&[
                    ("group.$", "$.group.name"),
                    ("launchTemplate.$", "$.launchTemplate"),
                    ("scale.$", "$.scale"),
                    ("status.$", "$.status"),
                ]))
                .end(),
        );
    map("$.begin.config.computeGroups")
        .item_selector(strs(&[
            ("group.$", "$$.Map.Item.Value"),
            (
                &format!("{}Region.$", r.side),
                &format!("$.begin.config.regions.{}", r.side),
            ),
            ("poll.$", "$.begin.config.poll.compute"),
            ("recordedCapacities.$", "$.begin.recordedCapacities"),
            ("executionId.$", "$$.Execution.Id"),
        ]))
        .processor(flow)
}

/// Toggle-functions `action` (`enable`/`disable`) for `side`'s functions. Add the rest.
pub fn toggle_functions(action: &str, side: &str) -> Obj {
    task(TOGGLE_FUNCTIONS).parameters(strs(&[
        ("action", action),
        ("region.$", &format!("$.begin.config.regions.{side}")),
        ("side", side),
        ("functions.$", "$.begin.config.functions"),
    ]))
}
