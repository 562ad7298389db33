//! Following an execution live: progress lines as its history grows, until it stops.

use crate::{clock, describe, one_line, ExecutionReport};
use aws_sdk_sfn::types::ExecutionStatus;
use pilot_light_core::execution_history::{
    build_timeline, describe_execution, fetch_history, format_duration, is_poll_loop_state,
    is_work_state, HistoryEvent,
};
use pilot_light_core::PilotLightError;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Turns the history, as it grows, into progress lines, each printed once, and a line for every
/// failure event. By default the steps a person follows: a line when a work state (Task, Map,
/// Parallel; not a poll loop's own states) is first entered for its item, and a line each time one
/// finishes (a check that polls says which run it was). `verbose`: every state, as it finishes, and
/// every entry of a long state.
#[derive(Debug, Default)]
pub struct Progress {
    verbose: bool,
    seen_events: HashSet<i64>,
    printed_steps: HashSet<(String, Option<String>, i64)>,
    entered: HashSet<(String, Option<String>)>,
    runs: HashMap<(String, Option<String>), usize>,
}

impl Progress {
    /// Progress lines for every state (`--verbose`).
    pub fn verbose() -> Self {
        Self {
            verbose: true,
            ..Self::default()
        }
    }

    /// The new lines for this read of the history (the whole history so far).
    pub fn lines(
        &mut self,
        history: &[aws_sdk_sfn::types::HistoryEvent],
        execution_started_millis: i64,
    ) -> Vec<String> {
        let events: Vec<HistoryEvent> = history.iter().map(HistoryEvent::from_sfn).collect();
        // (when, rank, line): at the same instant a step's end comes before the next step's start.
        let mut lines: Vec<(i64, u8, String)> = Vec::new();
        for (raw, event) in history.iter().zip(&events) {
            if !self.seen_events.insert(event.id) {
                continue;
            }
            let at = clock(event.timestamp_millis - execution_started_millis);
            let kind = event.event_type.as_str();
            if matches!(
                kind,
                "TaskStateEntered" | "MapStateEntered" | "ParallelStateEntered"
            ) {
                let state = event.state_name.clone().unwrap_or_default();
                let label = event
                    .input
                    .as_ref()
                    .and_then(pilot_light_core::execution_history::item_label);
                if !self.verbose
                    && (is_poll_loop_state(&state) || !self.entered.insert((state, label.clone())))
                {
                    continue;
                }
                let item = label.map(|i| format!(" [{i}]")).unwrap_or_default();
                lines.push((
                    event.timestamp_millis,
                    1,
                    format!(
                        "[{at}] → {}{item}",
                        event.state_name.as_deref().unwrap_or("?")
                    ),
                ));
            } else if let Some(failure) = failure_text(raw) {
                lines.push((event.timestamp_millis, 1, format!("[{at}] ! {failure}")));
            }
        }
        for step in build_timeline(&events) {
            let key = (step.state.clone(), step.item.clone(), step.entered_millis);
            if !(self.verbose || is_work_state(&step)) || !self.printed_steps.insert(key) {
                continue;
            }
            let runs = self
                .runs
                .entry((step.state.clone(), step.item.clone()))
                .or_default();
            *runs += 1;
            let run = if *runs > 1 && !self.verbose {
                format!(", run {runs}")
            } else {
                String::new()
            };
            let item = step
                .item
                .as_deref()
                .map(|i| format!(" [{i}]"))
                .unwrap_or_default();
            lines.push((
                step.exited_millis,
                0,
                format!(
                    "[{}] ✓ {}{item} ({:.1}s{run})",
                    clock(step.exited_millis - execution_started_millis),
                    step.state,
                    step.duration_seconds
                ),
            ));
        }
        lines.sort_by_key(|(at, rank, _)| (*at, *rank));
        lines.into_iter().map(|(_, _, line)| line).collect()
    }
}

/// The error of a failure event (`LambdaFunctionFailed`, `TaskFailed`, `ExecutionFailed`, …).
fn failure_text(event: &aws_sdk_sfn::types::HistoryEvent) -> Option<String> {
    let (error, cause) = if let Some(d) = event.lambda_function_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = event.task_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = event.execution_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = event.lambda_function_timed_out_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = event.task_timed_out_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = event.execution_timed_out_event_details() {
        (d.error(), d.cause())
    } else {
        return None;
    };
    Some(format!(
        "{}: {}{}",
        event.r#type().as_str(),
        error.unwrap_or("error"),
        cause
            .map(|c| format!(
                " — {}",
                one_line(&pilot_light_core::execution_history::summarise_cause(c))
            ))
            .unwrap_or_default()
    ))
}

/// Follows an execution until it stops (or `timeout` passes), handing each new progress line to
/// `print`; then describes it. Following never changes the execution: stopping the CLI (Ctrl-C)
/// leaves it running.
pub async fn follow(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
    region: &str,
    poll: Duration,
    timeout: Duration,
    verbose: bool,
    mut print: impl FnMut(&str),
) -> Result<ExecutionReport, PilotLightError> {
    let began = Instant::now();
    let mut progress = if verbose {
        Progress::verbose()
    } else {
        Progress::default()
    };
    loop {
        let described = describe_execution(sfn, execution_arn, region, "execution").await?;
        let started = described.start_date().to_millis().unwrap_or_default();
        let running = *described.status() == ExecutionStatus::Running;
        let history = fetch_history(sfn, execution_arn, region).await?;
        for line in progress.lines(&history, started) {
            print(&line);
        }
        if !running {
            return describe(sfn, execution_arn, region).await;
        }
        if began.elapsed() >= timeout {
            return Err(PilotLightError::InvalidState {
                resource: execution_arn.to_string(),
                state: "RUNNING".into(),
                reason: format!(
                    "still running after {}: stopped following (the execution goes on; follow again with `pilot-light report --follow {execution_arn}`)",
                    format_duration(timeout.as_secs_f64())
                ),
            });
        }
        tokio::time::sleep(poll).await;
    }
}
