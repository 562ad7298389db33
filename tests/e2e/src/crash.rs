//! Crash and re-run (`tests/crash_*.rs`, one binary per flow so that each has an emulator of its own
//! and the flows use every core): for every step k of a flow, the execution is aborted right
//! after k (StopExecution once k's `TaskStateExited` is in the history: what an operator's abort,
//! a region-wide Step Functions outage or a deployment mid-run leaves), the stale lock is freed the
//! documented way (`pilot-light unlock`, which refuses while the run still runs), and a new
//! execution is started. Its end state must equal the uninterrupted run's (`World::world_state`,
//! compared normalized), and the invariant checker and the data checks run on the re-run.
//!
//! The steps are the Task states of the uninterrupted run, in the order they first finished (inner
//! steps of the parallel branches and Maps included). Cases run a few at a time, each in a world of
//! its own.

use crate::cli::run_cli;
pub use crate::flows::Flow;
use crate::flows::{assert_succeeded, machine_ready_for};
use crate::pilot_light::FailoverAndFailback as Scenario;
use crate::world_state::{differences, WorldState};
use crate::{Execution, World};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Worlds crashed and re-run at the same time.
const CONCURRENT_CASES: usize = 3;

async fn scenario(label: &str) -> Scenario {
    Scenario::seed(label).await
}

/// The Task states of a run in the order they first finished.
fn task_steps(run: &Execution) -> Vec<String> {
    let mut steps: Vec<String> = Vec::new();
    for entry in &run.history {
        if entry.kind == "TaskStateExited" {
            if let Some(state) = &entry.state {
                if !steps.contains(state) {
                    steps.push(state.clone());
                }
            }
        }
    }
    steps
}

/// How the run a case interrupts ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interruption {
    /// Stopped right after the step; its status once it no longer ran (ABORTED; SUCCEEDED or FAILED
    /// when it ended before the stop landed).
    Stopped(String),
    /// Ended on its own before the step (a poll bound hit on a loaded machine): an interruption
    /// too, but its failure path ran (un-fence, renewed failback identity), so what it made under
    /// the old identity is kept beside what the re-run makes.
    EndedBeforeStep(String),
}

impl Interruption {
    fn describe(&self) -> String {
        match self {
            Interruption::Stopped(status) => format!("stopped run: {status}"),
            Interruption::EndedBeforeStep(status) => {
                format!("the run ended on its own before the step: {status}")
            }
        }
    }
}

/// The differences that make a case fail. After a run that ended on its own, leftovers it kept
/// (counted under `kept-by-crashed-runs/…`) are expected; every other difference still counts.
fn failing_differences(interruption: &Interruption, diff: Vec<String>) -> Vec<String> {
    match interruption {
        Interruption::Stopped(_) => diff,
        Interruption::EndedBeforeStep(_) => diff
            .into_iter()
            .filter(|line| !line.starts_with("kept-by-crashed-runs/"))
            .collect(),
    }
}

/// At most this share of a flow's cases may end on their own before their step (1 in N): beyond
/// it the test no longer tests crashes, and fails.
const MOST_CASES_ENDED_ON_THEIR_OWN: usize = 4;

/// Starts `machine`, stops the execution as soon as `step` has finished, and waits until it no
/// longer runs.
async fn crash_after(
    world: &World,
    machine: &str,
    name: &str,
    input: &Value,
    step: &str,
) -> Interruption {
    let arn = world.start(machine, name, input).await;
    let sfn = world.sfn();
    let deadline = Instant::now() + Duration::from_secs(240);
    // Each look reads the history newest first, only down to the events an earlier look saw (the
    // emulator pages it as AWS does): the step is found within a poll of finishing, at the cost of
    // the new events alone.
    let mut seen = 0;
    'poll: loop {
        assert!(Instant::now() < deadline, "{step} never finished in {name}");
        let described = sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .expect("describe execution");
        let mut token = None;
        let mut newest = seen;
        let walked_to_seen = loop {
            // A page the emulator cannot serve now is read again at the next poll (bounded).
            let Ok(page) = sfn
                .get_execution_history()
                .execution_arn(&arn)
                .reverse_order(true)
                .include_execution_data(false)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
            else {
                break false;
            };
            let mut reached_seen = false;
            for event in page.events() {
                if event.id() <= seen {
                    reached_seen = true;
                    break;
                }
                newest = newest.max(event.id());
                if event.r#type().as_str() == "TaskStateExited"
                    && event.state_exited_event_details().map(|d| d.name()) == Some(step)
                {
                    break 'poll;
                }
            }
            token = page.next_token().map(str::to_string);
            if reached_seen || token.is_none() {
                break true;
            }
        };
        if walked_to_seen {
            seen = newest;
        }
        if described.status().as_str() != "RUNNING" {
            return Interruption::EndedBeforeStep(described.status().as_str().to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Interruption::Stopped(world.stop_and_wait(&arn, Duration::from_secs(240)).await)
}

/// `pilot-light unlock`: frees the lock the stopped run left (exit 0 also when nothing is locked).
async fn unlock(world: &World) {
    let run = run_cli(world, &["unlock", "--env", &world.env], &[]).await;
    assert_eq!(run.code, 0, "unlock: {run:?}");
}

/// The world label of a crashed flow's cases (`crash-gfo`).
fn label(flow: Flow) -> String {
    format!("crash-{}", flow.short_name())
}

/// Brings a fresh world to where the flow starts: a failover before a failback, the primary region
/// lost before an ungraceful failover. Returns the flow's machine.
async fn prepare(flow: Flow, s: &Scenario) -> String {
    if flow == Flow::UngracefulFailover {
        s.world.lose_region(crate::PRIMARY_REGION);
    }
    machine_ready_for(flow, s).await.to_string()
}

/// The uninterrupted run: its steps and the end state.
async fn uninterrupted(flow: Flow) -> (Vec<String>, WorldState) {
    let s = scenario(&format!("{}-base", label(flow))).await;
    s.world.set_scenario(&format!("{flow:?} uninterrupted"));
    let machine = prepare(flow, &s).await;
    let run = s
        .world
        .run(&machine, &s.world.name("flow"), &flow.input(&s.world))
        .await;
    assert_succeeded(&run, &format!("uninterrupted {flow:?}"));
    (task_steps(&run), s.world.world_state().await)
}

/// What the last `n` Task states of `run` answered (each action's answer in the state's output),
/// to tell from a failed re-run what its handlers saw.
fn last_step_answers(run: &Execution, n: usize) -> String {
    let exits = run
        .history
        .iter()
        .filter(|e| e.kind == "TaskStateExited")
        .collect::<Vec<_>>();
    exits[exits.len().saturating_sub(n)..]
        .iter()
        .map(|exit| {
            let answers = exit
                .output
                .as_ref()
                .and_then(Value::as_object)
                .map(|fields| {
                    fields
                        .iter()
                        .filter(|(_, v)| v.get("action").is_some() && v.get("status").is_some())
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            format!("  {}: {answers}", exit.state.as_deref().unwrap_or("?"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One case: crash `flow` right after `step`, unlock, re-run; the differences from `expected`.
async fn crash_case(flow: Flow, index: usize, step: String, expected: Arc<WorldState>) -> String {
    let s = scenario(&label(flow)).await;
    let world = &s.world;
    world.set_scenario(&format!("{flow:?} crashed after {step}"));
    let machine = prepare(flow, &s).await;
    let (machine, input) = (&machine, flow.input(world));
    let stopped = crash_after(
        world,
        machine,
        &world.name(&format!("k{index}")),
        &input,
        &step,
    )
    .await;
    unlock(world).await;
    let rerun = world
        .run(machine, &world.name(&format!("k{index}-rerun")), &input)
        .await;
    if rerun.status != "SUCCEEDED" {
        println!(
            "re-run after a crash after {step} in {}: {}; its last step answers:\n{}",
            world.env,
            rerun.status,
            last_step_answers(&rerun, 3)
        );
    }
    assert_succeeded(&rerun, &format!("re-run after a crash after {step}"));
    let diff = differences(&expected, &world.world_state().await);
    let kept = diff.len();
    let failing = failing_differences(&stopped, diff);
    let verdict = if !failing.is_empty() {
        format!("DIFFERENT END STATE:\n      {}", failing.join("\n      "))
    } else if failing.len() < kept {
        "same end state (with the leftovers the failed run kept)".to_string()
    } else {
        "same end state".to_string()
    };
    format!(
        "{flow:?} crashed after {step} ({}); re-run: {verdict}",
        stopped.describe()
    )
}

/// Names the steps to crash after, comma-separated (a step named twice is crashed twice), to look
/// at one case closely; unset (as in `make test`), every step is crashed after once.
pub const ONLY_STEPS: &str = "PILOT_LIGHT_CRASH_STEPS";

/// The cases to run: every step, or the ones `only` names (a name the flow lacks is an error that
/// lists the flow's steps).
fn chosen_steps(steps: Vec<String>, only: Option<&str>) -> Vec<String> {
    let Some(only) = only.filter(|o| !o.trim().is_empty()) else {
        return steps;
    };
    only.split(',')
        .map(str::trim)
        .map(|name| {
            assert!(
                steps.iter().any(|s| s == name),
                "{ONLY_STEPS}: {name} is not a step of this flow; its steps: {steps:?}"
            );
            name.to_string()
        })
        .collect()
}

/// Crashes `flow` after each of its steps in a world of its own, re-runs it, and asserts that every
/// re-run ends where the uninterrupted run does.
pub async fn crash_every_step(flow: Flow) {
    let (steps, expected) = uninterrupted(flow).await;
    assert!(steps.len() >= 8, "too few steps: {steps:?}");
    let steps = chosen_steps(steps, std::env::var(ONLY_STEPS).ok().as_deref());
    let expected = Arc::new(expected);
    let gate = Arc::new(Semaphore::new(CONCURRENT_CASES));
    let mut cases = tokio::task::JoinSet::new();
    for (index, step) in steps.iter().cloned().enumerate() {
        let (gate, expected) = (gate.clone(), expected.clone());
        cases.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let label = step.clone();
            let outcome = tokio::spawn(crash_case(flow, index, step, expected)).await;
            (index, label, outcome)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = cases.join_next().await {
        let (index, step, outcome) = joined.expect("case task");
        let line = match outcome {
            Ok(line) => line,
            Err(panic) => format!("{flow:?} crashed after {step}: FAILED: {panic}"),
        };
        outcomes.push((index, line));
    }
    outcomes.sort();
    let survived = outcomes
        .iter()
        .filter(|(_, l)| l.contains("re-run: same end state"))
        .count();
    let ended_on_their_own = outcomes
        .iter()
        .filter(|(_, l)| l.contains("ended on its own"))
        .count();
    println!(
        "{flow:?}: {survived} of {} crash cases re-ran to the uninterrupted end state",
        outcomes.len()
    );
    for (_, line) in &outcomes {
        println!("  {line}");
    }
    assert_eq!(
        survived,
        outcomes.len(),
        "crash cases that did not end where the uninterrupted run does:\n{}",
        outcomes
            .iter()
            .filter(|(_, l)| !l.contains("re-run: same end state"))
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        ended_on_their_own * MOST_CASES_ENDED_ON_THEIR_OWN <= outcomes.len(),
        "{ended_on_their_own} of {} runs ended on their own before the step they were to be \
         crashed after: too few crashes were tested",
        outcomes.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_crashed_after_unless_some_are_named() {
        let steps = || vec!["BeginFailback".to_string(), "RetireOldStandby".to_string()];
        assert_eq!(chosen_steps(steps(), None), steps());
        assert_eq!(chosen_steps(steps(), Some(" ")), steps());
        assert_eq!(
            chosen_steps(steps(), Some("RetireOldStandby, RetireOldStandby")),
            vec![
                "RetireOldStandby".to_string(),
                "RetireOldStandby".to_string()
            ]
        );
    }

    #[test]
    fn leftovers_are_expected_only_after_a_run_that_ended_on_its_own() {
        let diff = || {
            vec![
                "kept-by-crashed-runs/us-west-2: not expected, found 1".to_string(),
                "rds/us-east-1/ENV-orders: expected 1, missing".to_string(),
            ]
        };
        let stopped = Interruption::Stopped("ABORTED".into());
        let ended = Interruption::EndedBeforeStep("FAILED".into());
        assert_eq!(failing_differences(&stopped, diff()), diff());
        assert_eq!(
            failing_differences(&ended, diff()),
            vec!["rds/us-east-1/ENV-orders: expected 1, missing".to_string()]
        );
    }
}
