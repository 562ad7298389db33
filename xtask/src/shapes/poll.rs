//! The poll loop: start an attempt counter, call a check, count the attempt, decide
//! (done / out of attempts / wait and check again). Attempts live at `$.attempts`.

use crate::asl::{choice, condition, or, pass, rule, states, wait};
use crate::json::{obj, Obj};

/// Whether the loop waits before its first check or checks at once.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum First {
    /// start -> wait -> check -> count -> decide (-> wait); states in that order.
    #[default]
    Wait,
    /// start -> check -> count -> decide (-> wait -> check); states in that order.
    Check,
}

/// One poll loop. State names are given, not derived: they drift between copies.
/// The optional fields default to absent (`..Poll::default()`).
#[derive(Default)]
pub struct Poll<'a> {
    pub first: First,
    /// Pass that sets `$.attempts.count` to 0.
    pub start: &'a str,
    /// A comment on the start state, when it has one.
    pub start_comment: Option<&'a str>,
    /// A state between the start and the loop (e.g. "is there anything to poll?"), placed
    /// right after the start; it must lead into the loop.
    pub gate: Option<(&'a str, Obj)>,
    pub wait: &'a str,
    /// The check task, without `Next` (the loop adds it).
    pub check: (&'a str, Obj),
    /// Pass that adds one to `$.attempts.count`.
    pub count: &'a str,
    /// The Choice: `done` rules first, then the attempt bound, else wait.
    pub decide: &'a str,
    pub done: Vec<Obj>,
    /// Where `intervalSeconds` and `maxAttempts` are, e.g. `$.poll`.
    pub poll: &'a str,
    /// Where the loop goes when out of attempts (usually a Fail).
    pub timed_out: (&'a str, Obj),
    /// Drift kept for byte-identical output: the check writes `Next` before its `Catch`.
    pub next_before_catch: bool,
}

/// `Pass` setting the attempt counter to zero.
pub fn start_attempts() -> Obj {
    pass()
        .parameters(obj().with("count", 0))
        .result_path("$.attempts")
}

/// `Pass` adding one to the attempt counter.
pub fn count_attempt(next: &str) -> Obj {
    pass()
        .parameters(obj().with("count.$", "States.MathAdd($.attempts.count, 1)"))
        .result_path("$.attempts")
        .next(next)
}

/// Choice rule: the status at `status` is `done` or `alreadyDone` (a re-run found it done).
pub fn done_or_already_done(status: &str, next: &str) -> Obj {
    or(vec![
        condition(status, "StringEquals", "done"),
        condition(status, "StringEquals", "alreadyDone"),
    ])
    .next(next)
}

/// Choice rule: the attempt counter reached `max_path`.
pub fn attempts_exhausted(max_path: &str, next: &str) -> Obj {
    rule(
        "$.attempts.count",
        "NumericGreaterThanEqualsPath",
        max_path,
        next,
    )
}

/// The loop's states, in the order the committed files list them.
pub fn poll_until(p: Poll) -> Obj {
    let (check_name, check_task) = p.check;
    let (timed_out_name, timed_out) = p.timed_out;
    let mut start = start_attempts();
    if let Some(text) = p.start_comment {
        start = start.comment(text);
    }
    let loop_entry = match p.first {
        First::Wait => p.wait,
        First::Check => check_name,
    };
    let start = start.next(p.gate.as_ref().map_or(loop_entry, |(name, _)| name));
    let wait_state = wait(&format!("{}.intervalSeconds", p.poll), check_name);
    let mut rules = p.done;
    rules.push(attempts_exhausted(
        &format!("{}.maxAttempts", p.poll),
        timed_out_name,
    ));
    let decide = choice(rules, p.wait);

    let mut out = states().state(p.start, start);
    if let Some((name, gate)) = p.gate {
        out = out.state(name, gate);
    }
    if p.first == First::Wait {
        out = out.state(p.wait, wait_state.clone());
    }
    out = out
        .state(check_name, {
            let check = check_task.next(p.count);
            if p.next_before_catch {
                check.move_last("Catch")
            } else {
                check
            }
        })
        .state(p.count, count_attempt(p.decide))
        .state(p.decide, decide);
    if p.first == First::Check {
        out = out.state(p.wait, wait_state);
    }
    out.state(timed_out_name, timed_out)
}

/// An idempotent step run again until it reports `done` or `alreadyDone` at
/// `<result>.status`, states named after it: `Start<name>`, `<name>`, `Count<name>`,
/// `Is<name>Finished`, `WaitFor<name>`, `<name>TimedOut`. `step` is the task without `Next`.
pub fn until_finished(
    name: &str,
    step: Obj,
    status: &str,
    finished: &str,
    poll: &str,
    timed_out: Obj,
) -> Obj {
    poll_until(Poll {
        first: First::Check,
        start: &format!("Start{name}"),
        wait: &format!("WaitFor{name}"),
        check: (name, step),
        count: &format!("Count{name}"),
        decide: &format!("Is{name}Finished"),
        done: vec![done_or_already_done(status, finished)],
        poll,
        timed_out: (&format!("{name}TimedOut"), timed_out),
        ..Poll::default()
    })
}
