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

/// One poll loop. Its states are named after what it polls ([`Poll::name`]), the same way in
/// every loop: `Start<name>Polling` (the attempt counter to 0), `WaitFor<name>`, the check,
/// `Count<name>Attempt` and `Is<name>Done` (the decision). Jump into a loop at
/// [`start_polling`]. The optional fields default to absent (`..Poll::default()`).
#[derive(Default)]
pub struct Poll<'a> {
    pub first: First,
    /// What the loop waits for, in DR terms (`Promotion`, `PrimaryGroupFence`, `Dns`).
    pub name: &'a str,
    /// A comment on the start state, when it has one.
    pub start_comment: Option<&'a str>,
    /// A state between the start and the loop (e.g. "is there anything to poll?"), placed
    /// right after the start; it must lead into the loop.
    pub gate: Option<(&'a str, Obj)>,
    /// The check task, without `Next` (the loop adds it).
    pub check: (&'a str, Obj),
    /// The decision's rules when the check says done; the attempt bound follows, else wait.
    pub done: Vec<Obj>,
    /// Where `intervalSeconds` and `maxAttempts` are, e.g. `$.poll`.
    pub poll: &'a str,
    /// The wait's seconds and the attempt bound at other paths than under [`Poll::poll`].
    pub bounds: Option<(&'a str, &'a str)>,
    /// Comments on the wait and on the decision, when they have one.
    pub wait_comment: Option<&'a str>,
    pub decide_comment: Option<&'a str>,
    /// Where the loop goes when out of attempts (usually a Fail).
    pub timed_out: (&'a str, Obj),
    /// Drift kept for byte-identical output: the check writes `Next` before its `Catch`.
    pub next_before_catch: bool,
}

/// The names of a poll loop's own states, derived from what it polls.
pub struct PollNames {
    /// `Start<name>Polling`: the attempt counter to 0; where a state jumps into the loop.
    pub start: String,
    /// `WaitFor<name>`.
    pub wait: String,
    /// `Count<name>Attempt`.
    pub count: String,
    /// `Is<name>Done`: the decision.
    pub decide: String,
}

impl PollNames {
    pub fn of(name: &str) -> PollNames {
        PollNames {
            start: start_polling(name),
            wait: format!("WaitFor{name}"),
            count: format!("Count{name}Attempt"),
            decide: format!("Is{name}Done"),
        }
    }
}

/// The loop's first state (`Start<name>Polling`): where a state jumps into the loop.
pub fn start_polling(name: &str) -> String {
    format!("Start{name}Polling")
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
    let PollNames {
        start: start_name,
        wait: wait_name,
        count: count_name,
        decide: decide_name,
    } = PollNames::of(p.name);
    let (check_name, check_task) = p.check;
    let (timed_out_name, timed_out) = p.timed_out;
    let mut start = start_attempts();
    if let Some(text) = p.start_comment {
        start = start.comment(text);
    }
    let loop_entry = match p.first {
        First::Wait => wait_name.as_str(),
        First::Check => check_name,
    };
    let start = start.next(p.gate.as_ref().map_or(loop_entry, |(name, _)| name));
    let (wait_seconds, max_attempts) = match p.bounds {
        Some((seconds, max)) => (seconds.to_string(), max.to_string()),
        None => (
            format!("{}.intervalSeconds", p.poll),
            format!("{}.maxAttempts", p.poll),
        ),
    };
    let mut wait_state = wait(&wait_seconds, check_name);
    if let Some(text) = p.wait_comment {
        wait_state = wait_state.comment(text);
    }
    let mut rules = p.done;
    rules.push(attempts_exhausted(&max_attempts, timed_out_name));
    let mut decide = choice(rules, &wait_name);
    if let Some(text) = p.decide_comment {
        decide = decide.comment(text);
    }

    let mut out = states().state(&start_name, start);
    if let Some((name, gate)) = p.gate {
        out = out.state(name, gate);
    }
    if p.first == First::Wait {
        out = out.state(&wait_name, wait_state.clone());
    }
    out = out
        .state(check_name, {
            let check = check_task.next(&count_name);
            if p.next_before_catch {
                check.move_last("Catch")
            } else {
                check
            }
        })
        .state(&count_name, count_attempt(&decide_name))
        .state(&decide_name, decide);
    if p.first == First::Check {
        out = out.state(&wait_name, wait_state);
    }
    out.state(timed_out_name, timed_out)
}

/// An idempotent step run again until it reports `done` or `alreadyDone` at
/// `<result>.status`, the loop named after it ([`Poll`]), the step's state `<name>` and the
/// Fail `<name>TimedOut`. `step` is the task without `Next`.
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
        name,
        check: (name, step),
        done: vec![done_or_already_done(status, finished)],
        poll,
        timed_out: (&format!("{name}TimedOut"), timed_out),
        ..Poll::default()
    })
}
