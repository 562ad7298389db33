//! The Amazon States Language vocabulary: one function per state type and one method per
//! field, named as in ASL. Keys are written in the order the methods are called, except
//! `comment`, which always lands right after `Type` as it does in every state.

use crate::json::{obj, str_arr, Json, Obj};

/// A whole state machine: `Comment`, `StartAt` (the first state), `States`.
pub fn machine(comment: &str, states: Obj) -> Json {
    obj().with("Comment", comment).merge(flow(states)).into()
}

/// A nested flow (a Map's item processor body or a Parallel branch): `StartAt` is its first state.
pub fn flow(states: Obj) -> Obj {
    let start = states.first_key().unwrap_or_default().to_string();
    obj().with("StartAt", start).with("States", states)
}

/// An empty list of states, filled with [`Obj::state`] and [`Obj::states`].
pub fn states() -> Obj {
    obj()
}

/// `Task` calling `resource` (a `${...Arn}` substitution or an `arn:aws:states:::` integration).
pub fn task(resource: &str) -> Obj {
    obj().with("Type", "Task").with("Resource", resource)
}

/// A pilot-light Lambda handler called with `params`, its result at `result_path`, with the
/// 60-second timeout and the [`Retry::Handler`] policy every handler call has.
/// Add the comment, `Catch` and `Next`/`End`.
pub fn handler(resource: &str, params: Obj, result_path: &str) -> Obj {
    task(resource)
        .parameters(params)
        .result_path(result_path)
        .timeout(60)
        .retry(Retry::Handler)
}

/// `Pass`.
pub fn pass() -> Obj {
    obj().with("Type", "Pass")
}

/// `Wait` for the number of seconds found at `seconds_path`, then `next`.
pub fn wait(seconds_path: &str, next: &str) -> Obj {
    obj()
        .with("Type", "Wait")
        .with("SecondsPath", seconds_path)
        .with("Next", next)
}

/// `Choice` over `rules`, else `default`.
pub fn choice(rules: Vec<Obj>, default: &str) -> Obj {
    obj()
        .with("Type", "Choice")
        .with("Choices", rules)
        .with("Default", default)
}

/// `Fail` with a fixed error name and cause.
pub fn fail(error: &str, cause: &str) -> Obj {
    obj()
        .with("Type", "Fail")
        .with("Error", error)
        .with("Cause", cause)
}

/// `Fail` with a fixed error name and the cause found at `cause_path`.
pub fn fail_with_cause(error: &str, cause_path: &str) -> Obj {
    obj()
        .with("Type", "Fail")
        .with("Error", error)
        .with("CausePath", cause_path)
}

/// `Fail` re-raising the error a `Catch` stored at `$.failure`.
pub fn rethrow() -> Obj {
    rethrow_from("$.failure")
}

/// `Fail` re-raising the error a `Catch` stored at `path`.
pub fn rethrow_from(path: &str) -> Obj {
    obj()
        .with("Type", "Fail")
        .with("ErrorPath", format!("{path}.Error"))
        .with("CausePath", format!("{path}.Cause"))
}

/// `Map` over the array at `items_path`; chain `item_selector`, `processor`, ...
pub fn map(items_path: &str) -> Obj {
    obj().with("Type", "Map").with("ItemsPath", items_path)
}

/// `Parallel` running each flow of `branches` (lists of states) side by side.
pub fn parallel(branches: Vec<Obj>) -> Obj {
    let branches: Vec<Obj> = branches.into_iter().map(flow).collect();
    obj().with("Type", "Parallel").with("Branches", branches)
}

/// Choice rule: the string at `variable` equals `value`.
pub fn string_equals(variable: &str, value: &str, next: &str) -> Obj {
    rule(variable, "StringEquals", value, next)
}

/// Choice rule: `variable` is (or is not) present.
pub fn is_present(variable: &str, present: bool, next: &str) -> Obj {
    rule(variable, "IsPresent", present, next)
}

/// Choice rule: the boolean at `variable` equals `value`.
pub fn boolean_equals(variable: &str, value: bool, next: &str) -> Obj {
    rule(variable, "BooleanEquals", value, next)
}

/// Choice rule comparing `variable` with `operator` (any ASL comparison operator).
pub fn rule(variable: &str, operator: &str, value: impl Into<Json>, next: &str) -> Obj {
    condition(variable, operator, value).next(next)
}

/// A comparison without `Next`, for use inside `Or`, `And` and `Not`.
pub fn condition(variable: &str, operator: &str, value: impl Into<Json>) -> Obj {
    obj().with("Variable", variable).with(operator, value)
}

/// A condition: any of `conditions` holds (add `.next(..)` to make it a rule).
pub fn or(conditions: Vec<Obj>) -> Obj {
    obj().with("Or", conditions)
}

/// A condition: all of `conditions` hold (add `.next(..)` to make it a rule).
pub fn and(conditions: Vec<Obj>) -> Obj {
    obj().with("And", conditions)
}

/// A condition: `condition` does not hold (add `.next(..)` to make it a rule).
pub fn not(condition: Obj) -> Obj {
    obj().with("Not", condition)
}

/// One `Catch` entry: `error` stored at `result_path`, going to `next`.
pub fn catcher(error: &str, result_path: &str, next: &str) -> Obj {
    obj()
        .with("ErrorEquals", str_arr(&[error]))
        .with("ResultPath", result_path)
        .with("Next", next)
}

/// The retry policies the project uses, by what the task calls.
#[derive(Clone, Copy, Debug)]
pub enum Retry {
    /// A pilot-light handler: Lambda service errors, then the handler's transient errors.
    Handler,
    /// A handler whose call RDS may refuse while the instance is busy (`InvalidState`).
    HandlerBusy,
    /// A customer hook through `lambda:invoke`: Lambda service errors only, never the hook's own.
    Hook,
    /// A direct SSM Parameter Store call.
    Ssm,
}

const LAMBDA_SERVICE: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];
const TRANSIENT: &[&str] = &["Throttled", "AwsUnavailable", "States.Timeout"];
const SSM_TRANSIENT: &[&str] = &[
    "Ssm.ThrottlingException",
    "Ssm.InternalServerErrorException",
    "States.Timeout",
];

/// One `Retry` entry with the project's backoff rate of 2.
pub fn retrier(errors: &[&str], interval: i32, max_attempts: i32) -> Obj {
    obj()
        .with("ErrorEquals", str_arr(errors))
        .with("IntervalSeconds", interval)
        .with("MaxAttempts", max_attempts)
        .with("BackoffRate", 2)
}

impl Retry {
    /// The `Retry` array.
    pub fn entries(self) -> Vec<Obj> {
        match self {
            Retry::Handler => vec![retrier(LAMBDA_SERVICE, 1, 3), retrier(TRANSIENT, 2, 5)],
            Retry::HandlerBusy => vec![
                retrier(LAMBDA_SERVICE, 1, 3),
                retrier(TRANSIENT, 2, 5),
                retrier(&["InvalidState"], 10, 3),
            ],
            Retry::Hook => vec![retrier(LAMBDA_SERVICE, 1, 3)],
            Retry::Ssm => vec![retrier(SSM_TRANSIENT, 1, 3)],
        }
    }
}

/// Field setters, one per ASL field, appended in call order.
impl Obj {
    /// Adds state `name` to a list of states.
    pub fn state(self, name: &str, state: Obj) -> Obj {
        self.with(name, state)
    }

    /// Adds every state of `more` (a shape's states) to a list of states.
    pub fn states(self, more: Obj) -> Obj {
        self.merge(more)
    }

    /// `Comment`, placed right after `Type`.
    pub fn comment(self, text: &str) -> Obj {
        self.with_after("Type", "Comment", text)
    }

    /// `Parameters`: the input the state passes on (keys ending in `.$` are paths).
    pub fn parameters(self, parameters: Obj) -> Obj {
        self.with("Parameters", parameters)
    }

    /// `Result`: a literal a Pass state writes.
    pub fn result(self, result: impl Into<Json>) -> Obj {
        self.with("Result", result)
    }

    /// `ResultSelector`: the part of the result kept.
    pub fn result_selector(self, selector: Obj) -> Obj {
        self.with("ResultSelector", selector)
    }

    /// `ResultPath`: where in the input the result is written.
    pub fn result_path(self, path: &str) -> Obj {
        self.with("ResultPath", path)
    }

    /// `OutputPath`: the part of the state's output passed on.
    pub fn output_path(self, path: &str) -> Obj {
        self.with("OutputPath", path)
    }

    /// `TimeoutSeconds`.
    pub fn timeout(self, seconds: i32) -> Obj {
        self.with("TimeoutSeconds", seconds)
    }

    /// `Retry` with one of the project's policies.
    pub fn retry(self, policy: Retry) -> Obj {
        self.with("Retry", policy.entries())
    }

    /// `Catch` of every error (`States.ALL`), stored at `result_path`, going to `next`.
    pub fn catch_all(self, result_path: &str, next: &str) -> Obj {
        self.catch(vec![catcher("States.ALL", result_path, next)])
    }

    /// `Catch` with several entries, tried in order.
    pub fn catch(self, catchers: Vec<Obj>) -> Obj {
        self.with("Catch", catchers)
    }

    /// `Catch` of every error into `$.failure`, going to `next`: the usual failure edge.
    pub fn on_failure(self, next: &str) -> Obj {
        self.catch_all("$.failure", next)
    }

    /// `Next`.
    pub fn next(self, state: &str) -> Obj {
        self.with("Next", state)
    }

    /// `End: true`.
    pub fn end(self) -> Obj {
        self.with("End", true)
    }

    /// `MaxConcurrency` (1: one item at a time, in order).
    pub fn max_concurrency(self, n: i32) -> Obj {
        self.with("MaxConcurrency", n)
    }

    /// `ItemSelector`: the input of each item's flow.
    pub fn item_selector(self, selector: Obj) -> Obj {
        self.with("ItemSelector", selector)
    }

    /// `ItemProcessor`: the inline flow each item runs.
    pub fn processor(self, states: Obj) -> Obj {
        let config = obj().with("Mode", "INLINE");
        self.with(
            "ItemProcessor",
            obj().with("ProcessorConfig", config).merge(flow(states)),
        )
    }
}
