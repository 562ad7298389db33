"""`make bench`: pilot-light's figures against a baseline measured in the same run, on this machine.

* P1 handler init: for every Lambda function of template.yaml, process start → first
  ``GET /runtime/invocation/next`` and peak RSS at that moment, release build (BENCH_SKIP_RELEASE=1:
  the debug build), against bench/baseline_handler.py (Python/boto3, the same clients). Median of
  BENCH_RUNS runs (default 10), after one untimed warm-up run of each.
* P2 recovery time (failover and failback) and P3 SSM sync: the emulator half, ``cargo run -p pilot-light-e2e --bin bench``.
* P4 each function's arm64 zip (``make package`` leaves them in .aws-sam/zips) and, with
  BENCH_CLEAN_BUILD=1, a clean debug build of the workspace.

Writes bench/results.json and prints a table. Never asserts a timing: it fails only when something
could not be measured at all (a handler never became ready, a failover or sync did not do its job).
See docs/benchmarks.md.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from baseline_handler import HANDLER_SERVICES  # noqa: E402
from runtime_stub import RuntimeStub  # noqa: E402

RESULTS = HERE / "results.json"
READY_TIMEOUT_S = 30.0
NOT_MEASURED_PACKAGE = "not measured: run make package first"
NOT_MEASURED_CLEAN = "not measured in this run (BENCH_CLEAN_BUILD=1 measures it)"
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def log(message: str) -> None:
    print(message, flush=True)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


# ------------------------------------------------------------------------------------------------
# The functions


class _CfnLoader(yaml.SafeLoader):
    """Reads a CloudFormation template: the short-form intrinsics (!Ref, !GetAtt, …) as plain data."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def lambda_functions() -> list[dict[str, str]]:
    """Every function of template.yaml built by cargo-lambda: logical id, crate, binary name."""
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)
    functions = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if (resource.get("Metadata") or {}).get("BuildMethod") != "rust-cargolambda":
            continue
        crate_dir = ROOT / resource["Properties"]["CodeUri"]
        manifest = tomllib.loads((crate_dir / "Cargo.toml").read_text())
        bins = manifest.get("bin") or [{"name": manifest["package"]["name"]}]
        functions.append(
            {"logicalId": logical_id, "crate": manifest["package"]["name"], "binary": bins[0]["name"]}
        )
    return sorted(functions, key=lambda f: f["binary"])


# ------------------------------------------------------------------------------------------------
# Builds


def cargo(args: list[str], target_dir: Path) -> float:
    """Runs cargo with its own target directory; returns the wall time in seconds."""
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    started = time.monotonic()
    subprocess.run(["cargo", *args], cwd=ROOT, env=env, check=True)
    return time.monotonic() - started


def release_build(functions: list[dict[str, str]], target_dir: Path) -> float:
    args = ["build", "--release", "--quiet"]
    for function in functions:
        args += ["-p", function["crate"], "--bin", function["binary"]]
    return cargo(args, target_dir)


def clean_debug_build() -> dict:
    if not env_flag("BENCH_CLEAN_BUILD"):
        return {"status": NOT_MEASURED_CLEAN}
    scratch = Path(tempfile.mkdtemp(prefix="pilot-light-clean-build-"))
    try:
        log(f"clean debug build: cargo build --workspace --all-targets into {scratch} …")
        seconds = cargo(["build", "--workspace", "--all-targets", "--quiet"], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(f"  {seconds:.0f} s")
    return {"status": "measured", "seconds": round(seconds, 1), "unit": "seconds"}


# ------------------------------------------------------------------------------------------------
# P1: handler init


def function_env(stub: RuntimeStub, name: str, scratch: Path) -> dict[str, str]:
    """What Lambda gives a function, with dummy credentials and an endpoint that answers nothing."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": stub.address,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_REGION": "us-west-2",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_ENDPOINT_URL": stub.trap_url,
        # No profile files: a function in Lambda has none.
        "AWS_CONFIG_FILE": str(scratch / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-credentials"),
        "HOME": str(scratch),
    }


def time_init(stub: RuntimeStub, argv: list[str], env: dict[str, str], log_file: Path) -> dict:
    """Starts `argv`, waits for its first `next`, kills it. Times in ms, memory in KiB."""
    probe = stub.expect()
    with log_file.open("wb") as output:
        started = time.monotonic()
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output, cwd=ROOT
        )
        stub.started(process.pid)
        ready = probe.ready.wait(timeout=READY_TIMEOUT_S)
        process.kill()
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = -9
    stub.release()
    if not ready or probe.ready_at is None:
        tail = log_file.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{argv} never asked for an event within {READY_TIMEOUT_S} s:\n{tail}")
    return {
        "initMs": (probe.ready_at - started) * 1000.0,
        "peakRssKiB": probe.peak_rss_kib if probe.peak_rss_kib is not None else usage.ru_maxrss,
        "maxRssAfterKillKiB": usage.ru_maxrss,
    }


def median_of(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def handler_init(functions: list[dict[str, str]], bin_dir: Path, profile: str, runs: int) -> dict:
    python = sys.executable
    baseline = str(HERE / "baseline_handler.py")
    stub = RuntimeStub()
    scratch = Path(tempfile.mkdtemp(prefix="pilot-light-bench-init-"))
    per_function = {}
    try:
        for function in functions:
            name = function["binary"]
            if name not in HANDLER_SERVICES:
                raise RuntimeError(f"bench/baseline_handler.py has no client list for {name}")
            binary = bin_dir / name
            if not binary.exists():
                raise RuntimeError(f"{binary} is missing: build the {profile} handlers first")
            env = function_env(stub, name, scratch)
            rust_argv, python_argv = [str(binary)], [python, baseline, name]
            logs = scratch / f"{name}.log"
            # One untimed warm-up of each (page cache, first exec), then runs interleaved.
            time_init(stub, rust_argv, env, logs)
            time_init(stub, python_argv, env, logs)
            rust, py = [], []
            for _ in range(runs):
                rust.append(time_init(stub, rust_argv, env, logs))
                py.append(time_init(stub, python_argv, env, logs))
            entry = {
                "services": HANDLER_SERVICES[name],
                "binaryBytes": binary.stat().st_size,
                "pilotLight": {
                    "initMs": round(median_of(rust, "initMs"), 2),
                    "peakRssMiB": round(median_of(rust, "peakRssKiB") / 1024, 2),
                    "initMsRuns": [round(s["initMs"], 2) for s in rust],
                },
                "baseline": {
                    "initMs": round(median_of(py, "initMs"), 2),
                    "peakRssMiB": round(median_of(py, "peakRssKiB") / 1024, 2),
                    "initMsRuns": [round(s["initMs"], 2) for s in py],
                },
            }
            entry["initRatio"] = round(entry["pilotLight"]["initMs"] / entry["baseline"]["initMs"], 4)
            entry["rssRatio"] = round(
                entry["pilotLight"]["peakRssMiB"] / entry["baseline"]["peakRssMiB"], 4
            )
            per_function[name] = entry
            log(
                f"  {name:<24} {entry['pilotLight']['initMs']:8.2f} ms {entry['pilotLight']['peakRssMiB']:6.1f} MiB"
                f"   python {entry['baseline']['initMs']:8.2f} ms {entry['baseline']['peakRssMiB']:6.1f} MiB"
            )
    finally:
        stub.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if stub.trap_connections:
        raise RuntimeError(
            f"{stub.trap_connections} connection(s) to AWS_ENDPOINT_URL during init: "
            "a function (or the baseline) calls AWS before its first event"
        )
    ratios = [e["initRatio"] for e in per_function.values()]
    rss_ratios = [e["rssRatio"] for e in per_function.values()]
    return {
        "profile": profile,
        "binaries": str(bin_dir),
        "runs": runs,
        "statistic": "median",
        "units": {"initMs": "milliseconds", "peakRssMiB": "MiB (VmHWM when the first next arrives)"},
        "baseline": f"Python {platform.python_version()} + boto3 {boto3_version()} (bench/baseline_handler.py)",
        "networkAtInit": {"endpointConnections": stub.trap_connections, "otherRuntimeApiRequests": stub.other_requests},
        "functions": per_function,
        "initRatioMedian": round(statistics.median(ratios), 4),
        "initRatioRange": [min(ratios), max(ratios)],
        "rssRatioMedian": round(statistics.median(rss_ratios), 4),
        "rssRatioRange": [min(rss_ratios), max(rss_ratios)],
    }


def boto3_version() -> str:
    import boto3

    return boto3.__version__


# ------------------------------------------------------------------------------------------------
# P4: package size


def elf_machine(path: Path) -> str | None:
    try:
        header = path.read_bytes()[:20]
    except OSError:
        return None
    if header[:4] != b"\x7fELF":
        return None
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), "other")


def package_sizes(functions: list[dict[str, str]]) -> dict:
    zips = ROOT / ".aws-sam" / "zips"
    sizes = {}
    for function in functions:
        archive = zips / f"{function['logicalId']}.zip"
        if not archive.exists():
            sizes[function["binary"]] = {"status": NOT_MEASURED_PACKAGE}
            continue
        bootstrap = ROOT / ".aws-sam" / "build" / function["logicalId"] / "bootstrap"
        sizes[function["binary"]] = {
            "status": "measured",
            "zipBytes": archive.stat().st_size,
            "bootstrapBytes": bootstrap.stat().st_size if bootstrap.exists() else None,
            "architecture": elf_machine(bootstrap),
            "builtAt": datetime.datetime.fromtimestamp(archive.stat().st_mtime, datetime.UTC).isoformat(
                timespec="seconds"
            ),
        }
    measured = [s["zipBytes"] for s in sizes.values() if s["status"] == "measured"]
    return {
        "source": ".aws-sam/zips (make package: sam build, cargo lambda --release --arm64, zip -9)",
        "unit": "bytes",
        "functions": sizes,
        "totalZipBytes": sum(measured) if measured else None,
    }


# ------------------------------------------------------------------------------------------------
# P2 + P3: the emulator half


def emulator_bench() -> dict:
    with tempfile.NamedTemporaryFile(prefix="pilot-light-bench-", suffix=".json", delete=False) as f:
        out = Path(f.name)
    try:
        subprocess.run(
            ["cargo", "run", "--quiet", "-p", "pilot-light-e2e", "--bin", "bench", "--", str(out)],
            cwd=ROOT,
            check=True,
        )
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------
# The record and the table


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "arch": platform.machine(), "cpu": cpu, "kernel": platform.release()}


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    return f"{a / b:.3f}"


def print_table(results: dict) -> None:
    rows: list[tuple[str, str, str, str]] = []
    init = results.get("handlerInit")
    if init:
        profile = init["profile"]
        for name, entry in init["functions"].items():
            ours, theirs = entry["pilotLight"], entry["baseline"]
            rows.append(
                (f"P1 init {name} ({profile})", f"{ours['initMs']:.1f} ms", f"{theirs['initMs']:.1f} ms", f"{entry['initRatio']:.3f}")
            )
            rows.append(
                (f"P1 peak RSS {name}", f"{ours['peakRssMiB']:.1f} MiB", f"{theirs['peakRssMiB']:.1f} MiB", f"{entry['rssRatio']:.3f}")
            )
        rows.append(("P1 init ratio, median of functions", "", "", f"{init['initRatioMedian']:.3f}"))
        rows.append(("P1 peak RSS ratio, median of functions", "", "", f"{init['rssRatioMedian']:.3f}"))
    recovery = results.get("recovery")
    if recovery:
        for key, entry in recovery["recoveries"].items():
            ours, theirs = entry["pilotLight"], entry["baseline"]["summary"]
            rows.append((f"P2 {key} RTO (median)", f"{ours['rtoSeconds']:.2f} s", f"{theirs['rtoSeconds']:.2f} s", f"{entry['rtoRatio']:.3f}"))
            rows.append((f"P2 {key} to traffic", f"{ours['toTrafficSeconds']:.2f} s", f"{theirs['toTrafficSeconds']:.2f} s", ratio(ours["toTrafficSeconds"], theirs["toTrafficSeconds"])))
            rows.append((f"P2 {key} critical path", f"{ours['criticalPathSeconds']:.2f} s", f"{theirs['criticalPathSeconds']:.2f} s", ratio(ours["criticalPathSeconds"], theirs["criticalPathSeconds"])))
            rows.append((f"P2 {key} engine start (emulator)", f"{ours['engineStartSeconds']:.2f} s", f"{theirs['engineStartSeconds']:.2f} s", ratio(ours["engineStartSeconds"], theirs["engineStartSeconds"])))
            rows.append((f"P2 {key} overhead (RTO - engine start - critical path)", f"{ours['overheadSeconds']:.2f} s", f"{theirs['overheadSeconds']:.2f} s", ratio(ours["overheadSeconds"], theirs["overheadSeconds"])))
    sync = results.get("ssmSync")
    if sync:
        ours, theirs = sync["pilotLight"], sync["naive"]
        label = f"{sync['parameters']} params, {sync['changed']} changed"
        rows.append((f"P3 SSM API calls, incremental ({label})", str(ours["apiCalls"]), str(theirs["apiCalls"]), f"{sync['apiCallRatio']:.3f}"))
        rows.append(("P3 SSM writes, incremental", str(ours["writes"]), str(theirs["writes"]), f"{sync['writeRatio']:.3f}"))
        rows.append(("P3 SSM sync wall time, incremental (emulator)", f"{ours['wallSeconds']:.1f} s", f"{theirs['wallSeconds']:.1f} s", f"{sync['wallTimeRatio']:.3f}"))
        full = sync.get("pilotLightFull")
        if full:
            rows.append(("P3 SSM API calls, full scan", str(full["apiCalls"]), str(theirs["apiCalls"]), f"{sync['fullApiCallRatio']:.3f}"))
            rows.append(("P3 SSM writes, full scan", str(full["writes"]), str(theirs["writes"]), ratio(full["writes"], theirs["writes"])))
            rows.append(("P3 SSM sync wall time, full scan (emulator)", f"{full['wallSeconds']:.1f} s", f"{theirs['wallSeconds']:.1f} s", ratio(full["wallSeconds"], theirs["wallSeconds"])))
    package = results.get("packageSize")
    if package:
        for name, entry in package["functions"].items():
            value = f"{entry['zipBytes'] / 1e6:.2f} MB" if entry["status"] == "measured" else entry["status"]
            rows.append((f"P4 arm64 zip {name}", value, "", ""))
        if package["totalZipBytes"]:
            rows.append(("P4 arm64 zips, total", f"{package['totalZipBytes'] / 1e6:.2f} MB", "", ""))
    clean = results.get("cleanDebugBuild", {})
    rows.append(("P4 clean debug build", f"{clean['seconds']:.0f} s" if clean.get("seconds") else "not measured", "", ""))

    header = ("figure", "pilot-light", "baseline", "ratio")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    print()
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print()


def main() -> int:
    began = time.monotonic()
    runs = int(os.environ.get("BENCH_RUNS", "10"))
    skip_release = env_flag("BENCH_SKIP_RELEASE")
    functions = lambda_functions()
    results: dict = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "gitCommit": git("rev-parse", "HEAD"),
        "gitDirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "machine": machine(),
        "options": {
            "BENCH_RUNS": runs,
            "BENCH_SKIP_RELEASE": skip_release,
            "BENCH_CLEAN_BUILD": env_flag("BENCH_CLEAN_BUILD"),
        },
    }
    log(f"bench: {len(functions)} Lambda functions, {runs} runs each, on {os.cpu_count()} cores")

    if skip_release:
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        bin_dir, profile = target / "debug", "debug"
    else:
        target = Path(
            os.environ.get("BENCH_TARGET_DIR", Path.home() / ".cache" / "pilot-light" / "bench-target")
        )
        log(f"release build of the handlers into {target} (a cold one takes about 24 minutes on 2 cores) …")
        seconds = release_build(functions, target)
        results["releaseBuild"] = {"seconds": round(seconds, 1), "unit": "seconds", "note": "incremental: whatever the target directory already held"}
        bin_dir, profile = target / "release", "release"
    log(f"P1 handler init ({profile}): process start → first GET /runtime/invocation/next")
    results["handlerInit"] = handler_init(functions, bin_dir, profile, runs)

    results["packageSize"] = package_sizes(functions)
    log("P2 + P3 on the local two-region AWS (cargo run -p pilot-light-e2e --bin bench) …")
    results.update(emulator_bench())
    if "ssmSync" in results:
        results["ssmSync"]["note"] = (
            "Call counts are what the emulator served (DescribeParameters answers MaxResults a page, "
            "as AWS: patch ssm_describe_parameters_max_results). pilotLight is the scheduled, "
            "incremental sync; pilotLightFull the full comparison. Wall times are the emulator's: it "
            "scans every parameter of the region for each listing page. See docs/benchmarks.md."
        )
    results["cleanDebugBuild"] = clean_debug_build()
    results["benchSeconds"] = round(time.monotonic() - began, 1)

    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    log(f"bench: results in {RESULTS.relative_to(ROOT)} ({results['benchSeconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
