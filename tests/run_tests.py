"""Runs every Rust test of the workspace, as ``cargo test --workspace --no-fail-fast`` does, but with
the end-to-end test binaries several at a time.

Each end-to-end binary (``tests/e2e/tests/*.rs``) starts its own local AWS (moto and
``cargo lambda watch``) and spends most of its time waiting on it: poll intervals, operation
durations, Step Functions Wait states. Run one after another they take most of ``make test``;
run ``--jobs`` at a time (default 3) the two cores stay busy instead. The unit and mocked-SDK test
binaries (fast, no emulator) run first, one at a time. Doc tests are not run: the workspace has
none, and this script fails if a doc comment gains a code block (`doc_code_blocks`).

Each binary's whole output goes to ``--log-dir`` (default ``target/test-output/<binary>.log``);
this prints one line per binary with its result and duration, the tail of the output of any
binary that failed, and ends with the plain line ``N passed, M failed``. Exit 1 when any test
failed or any binary exited non-zero.

    python tests/run_tests.py [--jobs 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
E2E_PACKAGE = "pilot-light-e2e"
#: binaries known to take longest start first, so the pool ends together
LONGEST_FIRST = (
    "crash_replica_failback",
    "crash_snapshot_failback",
    "fault_injection_snapshot_failback",
    "fault_injection_replica_failback",
    "data_safety",
    "fault_injection_graceful_failover",
    "fault_injection_ungraceful_failover",
    "crash_graceful_failover",
    "crash_ungraceful_failover",
    "failback",
    "bad_input",
    "failover",
)
RESULT = re.compile(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")


@dataclass
class Binary:
    package: str
    kind: str
    name: str
    executable: str
    manifest_dir: str

    @property
    def label(self) -> str:
        return f"{self.package}::{self.name}" if self.kind == "test" else f"{self.package} ({self.kind} {self.name})"


@dataclass
class Outcome:
    binary: Binary
    code: int
    passed: int
    failed: int
    ignored: int
    seconds: float
    log: Path


def test_binaries() -> list[Binary]:
    """Builds every test target of the workspace (no run) and lists the executables."""
    out = subprocess.run(
        ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        check=True,
        text=True,
    ).stdout
    binaries = []
    for line in out.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message.get("profile", {}).get("test"):
            continue
        target = message["target"]
        package = message["package_id"]
        name_match = re.search(r"#([^@]+)@", package) or re.search(r"/([^/#]+)#", package)
        package_name = name_match.group(1) if name_match else package
        binaries.append(
            Binary(
                package=package_name,
                kind=target["kind"][0],
                name=target["name"],
                executable=message["executable"],
                manifest_dir=str(Path(message["manifest_path"]).parent),
            )
        )
    return binaries


def doc_code_blocks() -> list[str]:
    """Doc comments with a code block (which `cargo test` would run as a doc test)."""
    found = []
    for path in sorted((ROOT / "crates").rglob("*.rs")) + sorted((ROOT / "tests").rglob("*.rs")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.match(r"\s*//[/!]\s*```", line):
                found.append(f"{path.relative_to(ROOT)}:{number}")
    return found


def run(binary: Binary, log_dir: Path) -> Outcome:
    log = log_dir / f"{binary.package}-{binary.kind}-{binary.name}.log"
    env = dict(os.environ)
    env.update(
        {
            "CARGO": env.get("CARGO", "cargo"),
            "CARGO_MANIFEST_DIR": binary.manifest_dir,
            "CARGO_PKG_NAME": binary.package,
        }
    )
    began = time.monotonic()
    with log.open("w") as sink:
        code = subprocess.run(
            [binary.executable],
            cwd=binary.manifest_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        ).returncode
    seconds = time.monotonic() - began
    passed = failed = ignored = 0
    for match in RESULT.finditer(log.read_text(errors="replace")):
        passed += int(match.group(1))
        failed += int(match.group(2))
        ignored += int(match.group(3))
    return Outcome(binary, code, passed, failed, ignored, seconds, log)


def report(outcome: Outcome) -> None:
    verdict = "ok" if outcome.code == 0 and outcome.failed == 0 else "FAILED"
    print(
        f"run-tests: {outcome.binary.label}: {verdict}, {outcome.passed} passed, {outcome.failed} failed"
        f"{f', {outcome.ignored} ignored' if outcome.ignored else ''} in {outcome.seconds:.0f} s",
        flush=True,
    )
    if verdict != "ok":
        lines = outcome.log.read_text(errors="replace").splitlines()
        print(f"run-tests: ---- the last lines of {outcome.log} ----")
        for line in lines[-200:]:
            print(f"    {line}")
        print("run-tests: ----", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("PILOT_LIGHT_TEST_JOBS", "3")))
    parser.add_argument("--log-dir", type=Path, default=ROOT / "target/test-output")
    parser.add_argument("--only", nargs="*", help="run only the binaries with these names")
    args = parser.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    blocks = doc_code_blocks()
    if blocks:
        print(f"run-tests: doc comments with code blocks (doc tests this runner does not run): {blocks}")
        return 1
    binaries = test_binaries()
    if args.only:
        binaries = [b for b in binaries if b.name in args.only]
    if not binaries:
        print("run-tests: no test binary")
        return 1
    emulated = [b for b in binaries if b.package == E2E_PACKAGE and b.kind == "test"]
    plain = [b for b in binaries if b not in emulated]
    emulated.sort(key=lambda b: (LONGEST_FIRST.index(b.name) if b.name in LONGEST_FIRST else len(LONGEST_FIRST), b.name))
    print(
        f"run-tests: {len(plain)} unit/mocked binaries, then {len(emulated)} end-to-end binaries "
        f"{args.jobs} at a time",
        flush=True,
    )
    outcomes = []
    for binary in plain:
        outcome = run(binary, args.log_dir)
        report(outcome)
        outcomes.append(outcome)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run, b, args.log_dir) for b in emulated]
        for future in concurrent.futures.as_completed(futures):
            outcome = future.result()
            report(outcome)
            outcomes.append(outcome)
    passed = sum(o.passed for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    broken = [o for o in outcomes if o.code != 0 and o.failed == 0]
    for outcome in broken:
        print(f"run-tests: {outcome.binary.label} exited {outcome.code} without a failed test")
    print(f"run-tests: {len(outcomes)} binaries in {time.monotonic() - began:.0f} s")
    print(f"{passed} passed, {failed + len(broken)} failed", flush=True)
    return 0 if failed == 0 and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
