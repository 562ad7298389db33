//! Fencing: stop a region's writers (groups at 0 and drained, consumers disabled), and
//! unfencing: give them back. Runs in Parallel branches; every copy names its states anew.

use crate::asl::{fail, map, parallel, pass, rethrow, Retry};
use crate::json::{strs, Obj};
use crate::shapes::compute::{toggle_functions, SCALE_ASG};
use crate::shapes::poll::{done_or_already_done, poll_until, First, Poll};
use crate::shapes::step::step_or_fail;

/// The state names of one copy of the group fence.
pub struct FenceGroups<'a> {
    /// `primary` or `standby`: the side fenced.
    pub side: &'a str,
    /// The Map over the groups, and the branch's Fail when it fails.
    pub map: &'a str,
    pub map_failed: &'a str,
    /// The poll loop's name ([`Poll::name`]).
    pub poll: &'a str,
    pub fence: &'a str,
    pub timed_out: &'a str,
    pub fenced: &'a str,
    pub failed: &'a str,
}

/// Parallel branch: per group, suspend its scaling processes and zero it, run again until
/// no instance is left (one shutting down may still write).
pub fn fence_groups(f: FenceGroups) -> Obj {
    let flow = poll_until(Poll {
        first: First::Check,
        name: f.poll,
        check: (
            f.fence,
            crate::asl::task(SCALE_ASG)
                .comment("Suspends the group's scaling processes and zeroes it; run again until no instance is left (started / inProgress while instances drain).")
                .parameters(strs(&[
                    ("action", "fence"),
                    ("region.$", "$.region"),
                    ("side", f.side),
                    ("group.$", "$.group"),
                ]))
                .result_path("$.fence")
                .timeout(60)
                .retry(Retry::Handler)
                .on_failure(f.failed),
        ),
        done: vec![done_or_already_done("$.fence.status", f.fenced)],
        poll: "$.poll",
        timed_out: (
            f.timed_out,
            fail("FenceTimedOut", "The group still had instances (pending, in service or terminating) after poll.compute.maxAttempts polls: it is not fenced."),
        ),
        next_before_catch: true,
        ..Poll::default()
    })
    .state(
        f.fenced,
        pass()
            .parameters(strs(&[("group.$", "$.group.name"), ("fence.$", "$.fence")]))
            .end(),
    )
    .state(f.failed, rethrow());
    let groups = map("$.begin.config.computeGroups")
        .item_selector(strs(&[
            ("group.$", "$$.Map.Item.Value"),
            ("region.$", &format!("$.begin.config.regions.{}", f.side)),
            ("poll.$", "$.begin.config.poll.compute"),
        ]))
        .processor(flow);
    step_or_fail(f.map, groups, f.map_failed)
}

/// The state names of one copy of the consumer fence.
pub struct DisableFunctions<'a> {
    pub side: &'a str,
    /// The poll loop's name ([`Poll::name`]).
    pub poll: &'a str,
    pub disable: &'a str,
    pub timed_out: &'a str,
    pub disabled: &'a str,
    pub failed: &'a str,
}

/// Parallel branch: event sources off and reserved concurrency 0, run again until every
/// mapping is Disabled.
pub fn disable_functions(d: DisableFunctions) -> Obj {
    poll_until(Poll {
        first: First::Check,
        name: d.poll,
        check: (
            d.disable,
            toggle_functions("disable", d.side)
                .comment("Event sources off, reserved concurrency 0; run again until every mapping is Disabled.")
                .result_path("$.disable")
                .timeout(60)
                .retry(Retry::Handler)
                .on_failure(d.failed),
        ),
        done: vec![done_or_already_done("$.disable.status", d.disabled)],
        poll: "$.begin.config.poll.compute",
        timed_out: (
            d.timed_out,
            fail("DisableTimedOut", "An event source mapping was not Disabled (or the reserved concurrency not 0) after poll.compute.maxAttempts polls: the consumers are not fenced."),
        ),
        next_before_catch: true,
        ..Poll::default()
    })
    .state(d.disabled, pass().output_path("$.disable").end())
    .state(d.failed, rethrow())
}

/// The state names of one copy of the unfence.
pub struct Unfence<'a> {
    pub side: &'a str,
    pub groups: &'a str,
    pub groups_failed: &'a str,
    /// The per-group scale-back: state name and comment (if any).
    pub scale_back: (&'a str, Option<&'a str>),
    pub scale_back_failed: &'a str,
    pub enable: &'a str,
    pub enable_failed: &'a str,
}

/// Parallel: the side's groups back to the recorded capacity (scale-asg resumes the scaling
/// processes and the min the fence took away) and its functions enabled. Add the rest.
pub fn unfence(u: Unfence) -> Obj {
    let region = format!("{}Region", u.side);
    let mut scale_back = crate::asl::task(SCALE_ASG)
        .parameters(strs(&[
            ("action", "scale"),
            ("region.$", &format!("$.{region}")),
            ("side", u.side),
            ("group.$", "$.group"),
            ("recordedCapacities.$", "$.recordedCapacities"),
        ]))
        .result_path("$")
        .timeout(60)
        .retry(Retry::Handler);
    if let Some(comment) = u.scale_back.1 {
        scale_back = scale_back.comment(comment);
    }
    let groups = map("$.begin.config.computeGroups")
        .item_selector(strs(&[
            ("group.$", "$$.Map.Item.Value"),
            (
                &format!("{region}.$"),
                &format!("$.begin.config.regions.{}", u.side),
            ),
            ("recordedCapacities.$", "$.begin.recordedCapacities"),
        ]))
        .processor(step_or_fail(
            u.scale_back.0,
            scale_back,
            u.scale_back_failed,
        ));
    parallel(vec![
        step_or_fail(u.groups, groups, u.groups_failed),
        step_or_fail(
            u.enable,
            toggle_functions("enable", u.side)
                .result_path("$")
                .timeout(60)
                .retry(Retry::Handler),
            u.enable_failed,
        ),
    ])
}
