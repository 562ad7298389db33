//! Database resize to the production shape (`productionShape` in the configuration),
//! either before traffic moves or in the background after it moved.

use crate::asl::{
    choice, fail, is_present, map, pass, rethrow, states, string_equals, task, Retry,
};
use crate::json::{strs, Json, Obj};
use crate::shapes::poll::{done_or_already_done, poll_until, start_polling, First, Poll};

/// The resize of one database when its shape says `resize: <when>`, as states named after
/// `name` (`Has<name>Shape`, `Is<name>Due`, `Start<name>`, `<name>`, `Count<name>Attempt`,
/// `Is<name>Finished`, `WaitFor<name>`, `<name>TimedOut`). A resize that is not due goes to
/// `skip`; a finished one to `finished`; an error to `failed`. Polls with `$.resizePoll`.
pub fn resize_when_due(
    name: &str,
    when: &str,
    side: &str,
    comment: &str,
    finished: &str,
    skip: &str,
    failed: &str,
) -> Obj {
    let has_shape = format!("Has{name}Shape");
    let is_due = format!("Is{name}Due");
    let start = start_polling(name);
    states()
        .state(
            &has_shape,
            choice(
                vec![is_present("$.database.productionShape", true, &is_due)],
                skip,
            ),
        )
        .state(
            &is_due,
            choice(
                vec![string_equals("$.database.productionShape.resize", when, &start)],
                skip,
            ),
        )
        .states(poll_until(Poll {
            first: First::Check,
            name,
            check: (
                name,
                task("${ResizeDatabaseFunctionArn}")
                    .comment(comment)
                    .parameters(strs(&[
                        ("action", "resize"),
                        ("side", side),
                        ("primaryRegion.$", "$.primaryRegion"),
                        ("standbyRegion.$", "$.standbyRegion"),
                        ("database.$", "$.database"),
                        ("executionId.$", "$.executionId"),
                    ]))
                    .result_path("$.resize")
                    .timeout(60)
                    .retry(Retry::Handler)
                    .on_failure(failed),
            ),
            done: vec![done_or_already_done("$.resize.status", finished)],
            poll: "$.resizePoll",
            timed_out: (
                &format!("{name}TimedOut"),
                fail("ResizeTimedOut", "The database did not reach its production shape within poll.resize.maxAttempts polls."),
            ),
            ..Poll::default()
        }))
}

/// Map over the configured databases resizing each whose shape says `resize: <when>`:
/// [`resize_when_due`] named after `name`, ending in `<name>Finished`, `No<name>` (not due)
/// or `<name>Failed`. The same `comment` goes on the Map and on the resize task.
/// Add `ResultPath`, `Catch` and `Next`.
pub fn resize_databases(name: &str, when: &str, side: &str, comment: &str) -> Obj {
    let finished = format!("{name}Finished");
    let skip = format!("No{name}");
    let failed = format!("{name}Failed");
    let flow = resize_when_due(name, when, side, comment, &finished, &skip, &failed)
        .state(
            &finished,
            pass()
                .parameters(strs(&[
                    ("database.$", "$.database.name"),
                    ("resize.$", "$.resize"),
                ]))
                .end(),
        )
        .state(
            &skip,
            pass()
                .parameters(strs(&[("database.$", "$.database.name")]).with("resize", Json::Null))
                .end(),
        )
        .state(&failed, rethrow());
    map("$.begin.config.databases")
        .comment(comment)
        .item_selector(strs(&[
            ("database.$", "$$.Map.Item.Value"),
            ("primaryRegion.$", "$.begin.config.regions.primary"),
            ("standbyRegion.$", "$.begin.config.regions.standby"),
            ("resizePoll.$", "$.begin.config.poll.resize"),
            ("executionId.$", "$$.Execution.Id"),
        ]))
        .processor(flow)
}
