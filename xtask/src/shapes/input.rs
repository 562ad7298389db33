//! The start every person-facing run shares: an empty hook-results record, then the input
//! checked for the environment's name before anything runs.

use crate::asl::{choice, condition, fail, not, pass, states};
use crate::json::{obj, Obj};

/// `NoHooksRunYet`, `RequireEnv` (going on to `then`) and `EnvMissing` for run `kind`.
pub fn hook_results_and_env(kind: &str, then: &str) -> Obj {
    states()
        .state(
            "NoHooksRunYet",
            pass()
                .comment("Each hook point adds its results here; the report reads them.")
                .result(obj())
                .result_path("$.hookResults")
                .next("RequireEnv"),
        )
        .state(
            "RequireEnv",
            choice(
                vec![not(condition("$.env", "IsString", true)).next("EnvMissing")],
                then,
            )
            .comment("An input without the env name gets a typed error before anything runs."),
        )
        .state(
            "EnvMissing",
            fail(
                "InvalidInput",
                &format!("the {kind} input needs the environment's name: {{\"env\": \"<env>\"}}"),
            ),
        )
}

/// `Pass` writing the literal `value` to `field` (an input default), then `next`.
pub fn default_to(field: &str, value: impl Into<crate::json::Json>, next: &str) -> Obj {
    pass().result(value).result_path(field).next(next)
}

/// `Choice`: when `field` is missing go to `then`, else `default`.
pub fn when_missing(field: &str, then: &str, default: &str) -> Obj {
    choice(vec![crate::asl::is_present(field, false, then)], default)
}
