//! Project automation for pilot-light.
//!
//! `state-machines/<name>.asl.json` for every machine in [`machines::GENERATED`] is
//! GENERATED from the Rust in `xtask/src/machines/` — do not edit those JSON files by hand.
//! Change the machine module (or a shape in `xtask/src/shapes/`), then regenerate:
//!
//! ```text
//! cargo run -p xtask -- state-machines           # rewrite the generated files
//! cargo run -p xtask -- state-machines --check   # fail, naming each file that differs
//! cargo test -p xtask                            # the same comparison, as a test
//! ```
//!
//! The files stay committed because AWS SAM deploys them (`DefinitionUri`) and people read them.

mod asl;
mod json;
mod machines;
mod shapes;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The repository's `state-machines/` directory (next to `xtask/`).
fn state_machines_dir() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask
        .parent()
        .map_or_else(|| xtask.join(".."), Path::to_path_buf)
        .join("state-machines")
}

/// The committed path of machine `name`.
fn file_of(name: &str) -> PathBuf {
    state_machines_dir().join(format!("{name}.asl.json"))
}

/// Every generated machine's file path and text.
fn generated() -> Vec<(PathBuf, String)> {
    machines::GENERATED
        .iter()
        .map(|(name, definition)| (file_of(name), json::pretty(&definition())))
        .collect()
}

/// The files whose committed bytes differ from the generated text (or cannot be read).
fn stale() -> Vec<PathBuf> {
    generated()
        .into_iter()
        .filter(|(path, text)| std::fs::read(path).ok().as_deref() != Some(text.as_bytes()))
        .map(|(path, _)| path)
        .collect()
}

fn run(args: &[String]) -> Result<(), String> {
    let usage = "usage: cargo run -p xtask -- state-machines [--check]";
    match args {
        [cmd] if cmd == "state-machines" => {
            for (path, text) in generated() {
                std::fs::write(&path, text)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        [cmd, flag] if cmd == "state-machines" && flag == "--check" => {
            let stale = stale();
            if stale.is_empty() {
                println!("{} state machines up to date", machines::GENERATED.len());
                return Ok(());
            }
            for path in &stale {
                eprintln!("out of date: {}", path.display());
            }
            Err("regenerate with: cargo run -p xtask -- state-machines".to_string())
        }
        _ => Err(usage.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regeneration test: each committed generated file is byte-identical to the builder's output.
    #[test]
    fn committed_state_machines_match_the_builder() {
        for (path, text) in generated() {
            let committed = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            if committed != text {
                let line = committed
                    .lines()
                    .zip(text.lines())
                    .position(|(a, b)| a != b)
                    .map_or(committed.lines().count().min(text.lines().count()), |i| i)
                    + 1;
                panic!(
                    "{} differs from the builder's output (first at line {line}); \
                     regenerate with `cargo run -p xtask -- state-machines` or fix the machine module",
                    path.display()
                );
            }
        }
    }

    /// Every state list of a definition (the top level, Parallel branches, Map processors).
    fn state_lists(definition: &json::Json, out: &mut Vec<json::Obj>) {
        let json::Json::Obj(machine) = definition else {
            return;
        };
        if let Some(json::Json::Obj(states)) = machine.get("States") {
            out.push(states.clone());
            for (_, state) in states.entries() {
                let json::Json::Obj(state) = state else {
                    continue;
                };
                if let Some(json::Json::Arr(branches)) = state.get("Branches") {
                    for branch in branches {
                        state_lists(branch, out);
                    }
                }
                for key in ["Iterator", "ItemProcessor"] {
                    if let Some(processor) = state.get(key) {
                        state_lists(processor, out);
                    }
                }
            }
        }
    }

    fn text<'a>(state: &'a json::Obj, key: &str) -> Option<&'a str> {
        match state.get(key) {
            Some(json::Json::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Uniform names: every attempt counter belongs to a loop named after what it polls,
    /// `Start<X>Polling` -> … `Count<X>Attempt` -> `Is<X>Done` (else `WaitFor<X>`).
    #[test]
    fn every_poll_loop_is_named_after_what_it_polls() {
        let mut loops = 0;
        for (machine, definition) in machines::GENERATED {
            let mut lists = Vec::new();
            state_lists(&definition(), &mut lists);
            for states in &lists {
                let has = |name: &str| states.get(name).is_some();
                for (name, state) in states.entries() {
                    let json::Json::Obj(state) = state else {
                        continue;
                    };
                    let counts_attempts = text(state, "ResultPath") == Some("$.attempts")
                        || name.starts_with("Count");
                    if !counts_attempts || name.starts_with("Start") {
                        if counts_attempts {
                            let polled = name
                                .strip_prefix("Start")
                                .and_then(|n| n.strip_suffix("Polling"));
                            assert!(
                                polled.is_some_and(|x| has(&format!("Count{x}Attempt"))),
                                "{machine}: {name} starts no loop named after it"
                            );
                        }
                        continue;
                    }
                    let polled = name
                        .strip_prefix("Count")
                        .and_then(|n| n.strip_suffix("Attempt"))
                        .unwrap_or_else(|| {
                            panic!("{machine}: attempt counter {name} is not Count<X>Attempt")
                        });
                    let names = shapes::poll::PollNames::of(polled);
                    assert_eq!(
                        text(state, "Next"),
                        Some(names.decide.as_str()),
                        "{machine}: {name}"
                    );
                    let Some(json::Json::Obj(decide)) = states.get(&names.decide) else {
                        panic!("{machine}: {name} has no {}", names.decide);
                    };
                    assert_eq!(
                        text(decide, "Default"),
                        Some(names.wait.as_str()),
                        "{machine}: {}",
                        names.decide
                    );
                    assert!(
                        has(&names.start) && has(&names.wait),
                        "{machine}: loop {polled} lacks {} or {}",
                        names.start,
                        names.wait
                    );
                    loops += 1;
                }
            }
        }
        assert!(loops >= 38, "found only {loops} poll loops");
    }
}
