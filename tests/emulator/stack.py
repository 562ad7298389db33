#!/usr/bin/env python3
"""Start pilot-light's local AWS: a patched moto server and (unless --no-lambda) cargo lambda watch.

    python tests/emulator/stack.py [--moto-port 0] [--lambda-port 0] [--no-lambda]
                                   [--lambda-region us-west-2] [--lambda-env K=V]... [--log-dir DIR]
                                   [--replica-lag-period 1.0] [--replica-lag-delay 1.0]

Prints exactly one JSON line on stdout once both answer, then nothing else:

    {"motoUrl": "http://127.0.0.1:P", "lambdaUrl": "http://127.0.0.1:Q", "logDir": "..."}

then runs until its stdin reaches EOF (the parent closed the pipe or died) or it gets SIGTERM /
SIGINT / SIGHUP, and on the way out kills `cargo lambda watch`'s process group and every process it
started. The parent holding the stdin pipe is what guarantees teardown when a test fails.
"""

from __future__ import annotations

import argparse
import ctypes
import faulthandler
import json
import logging
import os
import shutil
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
#: the `cargo` the Lambda watcher runs handlers with (see that script)
BUILT_HANDLERS = HERE / "built-handlers"
LOOPBACK = "127.0.0.1"


class Shutdown(BaseException):
    """Raised from a signal handler to leave the stdin wait. A BaseException, like
    KeyboardInterrupt, so that no library's ``except Exception`` (logging's, for one) swallows it."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moto-port", type=int, default=0, help="0 = a free loopback port")
    parser.add_argument("--lambda-port", type=int, default=0, help="0 = a free loopback port")
    parser.add_argument(
        "--no-lambda",
        action="store_true",
        help="do not start cargo lambda watch (LAMBDA_FORWARD_URL from the environment, if set, "
        "still receives the invocations)",
    )
    parser.add_argument("--lambda-region", default="us-west-2", help="AWS_REGION of the handlers")
    parser.add_argument(
        "--lambda-env", action="append", default=[], metavar="K=V", help="extra handler env var"
    )
    parser.add_argument("--log-dir", help="for moto.log and lambda.log (default: a new temp dir)")
    parser.add_argument(
        "--startup-timeout", type=float, default=120.0, help="seconds to wait for both ports"
    )
    parser.add_argument(
        "--replica-lag-period",
        type=float,
        default=1.0,
        help="seconds between two ReplicaLag datapoints of the RDS data plane (AWS: 60)",
    )
    parser.add_argument(
        "--replica-lag-delay",
        type=float,
        default=1.0,
        help="seconds until a ReplicaLag datapoint is visible (AWS: about 60)",
    )
    parser.add_argument(
        "--ignore-stdin",
        action="store_true",
        help="run until a signal, not until stdin closes (for starting it in the background)",
    )
    args = parser.parse_args(argv)
    if not 0.01 <= args.replica_lag_period <= 86_400:
        parser.error("--replica-lag-period must be from 0.01 to 86400 seconds")
    if not 0 <= args.replica_lag_delay <= 86_400:
        parser.error("--replica-lag-delay must be from 0 to 86400 seconds")
    for item in args.lambda_env:
        if "=" not in item or item.startswith("="):
            parser.error(f"--lambda-env expects K=V, got {item!r}")
    return args


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1.0):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------
# moto
# --------------------------------------------------------------------------------------------------


def make_moto_server(
    port: int, replica_lag_period: float = 1.0, replica_lag_delay: float = 1.0
) -> Any:
    """Configure and bind the patched moto server (not serving yet: no threads exist before the
    Lambda runtime is forked). ReplicaLag of the RDS data plane: one datapoint per
    ``replica_lag_period`` seconds, visible ``replica_lag_delay`` seconds after its timestamp."""
    # Read by moto when the EC2 backends are created. The ~1,300 preloaded AMIs per region only slow
    # every DescribeImages/DescribeSnapshots down; pilot-light creates its own images.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

    sys.path.insert(0, str(HERE))
    import patches
    from moto.moto_api._internal.models import moto_api_backend
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    patches.apply_all()
    import data_plane  # imported by the patches, from this directory

    data_plane.MODEL.configure_metrics(replica_lag_period, replica_lag_delay)
    # Before any state machine exists: enabled and disabled execution use different backends.
    moto_api_backend.set_config(
        {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    )
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(LOOPBACK, port, app, threaded=True, request_handler=MotoRequestHandler)
    # moto's Step Functions engine calls Lambda and the aws-sdk integrations on localhost:$MOTO_PORT
    os.environ["MOTO_PORT"] = str(server.server_address[1])
    return server


# --------------------------------------------------------------------------------------------------
# cargo lambda watch
# --------------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the forked child: get SIGTERM if stack.py dies without cleaning up (e.g. SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def quiet_directory(log_dir: Path) -> Path:
    """An empty directory for `cargo lambda watch` to run (and watch) in: nothing writes to it."""
    directory = log_dir / "lambda-watch-cwd"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def start_cargo_lambda(
    port: int, moto_url: str, region: str, extra_env: list[str], log_dir: Path
) -> subprocess.Popen[bytes]:
    venv_bin = Path(sys.prefix) / "bin"
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    cargo = shutil.which(env.get("CARGO") or "cargo", path=env["PATH"])
    if not cargo:
        raise RuntimeError("cargo is not on PATH: cargo lambda watch cannot run")
    # The watcher runs each function instance with `cargo run --bin NAME`; BUILT_HANDLERS' `cargo`
    # runs a handler's binary directly when it is newer than every source (the real cargo else).
    watcher = env.get("PILOT_LIGHT_CARGO_LAMBDA") or shutil.which("cargo-lambda", path=env["PATH"])
    if watcher and not env.get("PILOT_LIGHT_CARGO_RUN_ALWAYS"):
        env["PILOT_LIGHT_REAL_CARGO"] = cargo
        env["PILOT_LIGHT_REPO"] = str(REPO_ROOT)
        env["CARGO"] = str(BUILT_HANDLERS / "cargo")
        env["PATH"] = f"{BUILT_HANDLERS}{os.pathsep}{env['PATH']}"
        launcher = [watcher]
    else:
        launcher = [cargo]

    handler_env = [
        f"AWS_ENDPOINT_URL={moto_url}",
        f"AWS_REGION={region}",
        "AWS_ACCESS_KEY_ID=testing",
        "AWS_SECRET_ACCESS_KEY=testing",
        "RUST_LOG=info",
        # An injected `timeout` fault holds a request 3 s: the handlers give up on an attempt after 2 s
        # (and retry it), as they would after 10 s on AWS.
        "PILOT_LIGHT_AWS_ATTEMPT_TIMEOUT_SECONDS=2",
        *extra_env,
    ]
    # Tests run in parallel and Map states fan out: let each function run several instances at once
    # (cargo lambda's default is one, which queues invocations behind each other). The binaries do
    # not change while a stack runs: no reloads.
    # The watcher watches the directory it runs in, recursively, once per function instance it
    # starts, even with --ignore-changes: in the repository (two virtualenvs, node_modules, the
    # log directory every handler writes to) that cost seconds of CPU per cold start and more for
    # every log line. It runs in an empty directory of its own and finds the workspace by
    # --manifest-path.
    command = [
        *launcher, "lambda", "watch", "-A", LOOPBACK, "-P", str(port),
        "--concurrency", "4", "--ignore-changes",
        "--manifest-path", str(REPO_ROOT / "Cargo.toml"),
    ]
    # cargo lambda splits --env-var values on commas: values with a comma go through a file.
    with_comma = [item for item in handler_env if "," in item]
    for item in handler_env:
        if "," not in item:
            command += ["--env-var", item]
    if with_comma:
        env_file = log_dir / "lambda.env"
        env_file.write_text("".join(f"{item}\n" for item in with_comma))
        command += ["--env-file", str(env_file)]

    log = open(log_dir / "lambda.log", "ab")
    log.write(f"$ {' '.join(command)}\n".encode())
    log.flush()
    try:
        return subprocess.Popen(
            command,
            cwd=quiet_directory(log_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=_die_with_parent,
        )
    finally:
        log.close()


def _descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (from /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    found: list[int] = []
    queue = [root]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def stop_cargo_lambda(process: subprocess.Popen[bytes] | None) -> None:
    """Kill cargo lambda watch's process group and any process it started elsewhere."""
    if process is None:
        return
    stragglers = _descendants(process.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in stragglers:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            process.wait(timeout=5)
            if sig == signal.SIGTERM:
                # the watcher is gone; give its children the same grace, then SIGKILL the rest
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline and any(_alive(p) for p in stragglers):
                    time.sleep(0.05)
        except subprocess.TimeoutExpired:
            continue


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------


SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def with_signals_blocked(action: Any) -> None:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)
    try:
        action()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def log_size(log_dir: Path) -> int | None:
    try:
        return (log_dir / "lambda.log").stat().st_size
    except OSError:
        return None


def write_log_audit(log_dir: Path, limit: int | None = None) -> None:
    """Audit the handlers' log (its first ``limit`` bytes) against the secrets this server was given
    (``log-audit.json``, read by ``tests/emulator/audit_logs.py`` at the end of ``make test``)."""
    try:
        import patches

        report = patches.audit_handler_log(log_dir / "lambda.log", limit=limit)
        (log_dir / "log-audit.json").write_text(json.dumps(report, indent=1))
    except Exception as error:  # the audit must never keep the stack from exiting
        print(f"stack.py: log audit failed: {error!r}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="pilot-light-emulator-")).resolve()
    log_dir.mkdir(parents=True, exist_ok=True)

    logging.basicConfig(
        filename=log_dir / "moto.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    def on_signal(signum: int, _frame: Any) -> None:
        raise Shutdown(signal.Signals(signum).name)

    for sig in SHUTDOWN_SIGNALS:
        signal.signal(sig, on_signal)

    lambda_process: subprocess.Popen[bytes] | None = None
    try:
        server = make_moto_server(
            args.moto_port, args.replica_lag_period, args.replica_lag_delay
        )
        moto_url = f"http://{LOOPBACK}:{server.server_address[1]}"

        lambda_url = os.environ.get("LAMBDA_FORWARD_URL") or None
        if not args.no_lambda:
            lambda_port = args.lambda_port or free_port()
            lambda_url = f"http://{LOOPBACK}:{lambda_port}"
            lambda_process = start_cargo_lambda(
                lambda_port, moto_url, args.lambda_region, args.lambda_env, log_dir
            )
            os.environ["LAMBDA_FORWARD_URL"] = lambda_url

        # Signals go to any thread that does not block them, and Python runs its handlers only when
        # the main thread wakes up: a SIGTERM taken by the server thread would leave the main thread
        # asleep in read(). Threads inherit the mask of their creator, so start the server (which
        # starts every other thread) with the signals blocked, and only the main thread takes them.
        with_signals_blocked(
            lambda: threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
        )

        deadline = time.monotonic() + args.startup_timeout
        with urllib.request.urlopen(f"{moto_url}/pilot-light/durations", timeout=10) as answer:
            if answer.status != 200:
                raise RuntimeError(f"moto control endpoint answered HTTP {answer.status}")
        if lambda_process is not None:
            while not port_answers(lambda_port):
                if lambda_process.poll() is not None:
                    raise RuntimeError(
                        f"cargo lambda watch exited with {lambda_process.returncode}; "
                        f"see {log_dir / 'lambda.log'}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"cargo lambda watch did not open port {lambda_port} within "
                        f"{args.startup_timeout:.0f} s; see {log_dir / 'lambda.log'}"
                    )
                time.sleep(0.1)

        line = json.dumps({"motoUrl": moto_url, "lambdaUrl": lambda_url, "logDir": str(log_dir)})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        # From here on stdout and stderr belong to the log: the parent reads exactly one line.
        sys.stdout = sys.stderr = open(log_dir / "moto.log", "a", buffering=1)
        os.dup2(sys.stdout.fileno(), 1)
        os.dup2(sys.stdout.fileno(), 2)
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
        logging.getLogger("pilot-light").info("ready: %s", line)

        # Wait for end of stdin (or, with --ignore-stdin, forever) until a shutdown signal. A plain
        # blocking read would race with the signal: one landing after Python's last check for
        # pending handlers but before the read() call leaves the read blocked (no EINTR). The
        # signal's C handler also writes to the wakeup pipe, so select() wakes however late it comes.
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        watched = [wake_read] if args.ignore_stdin else [0, wake_read]
        while True:
            ready, _, _ = select.select(watched, [], [])
            if wake_read in ready:
                os.read(wake_read, 512)  # the Python handler raises Shutdown right after this
            if 0 in ready and not os.read(0, 65536):
                return 0
    except Shutdown:
        return 0
    except Exception as error:
        print(f"stack.py: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig in SHUTDOWN_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        # Audit what the functions wrote while they served: a runtime killed mid-flight may print a
        # panic on its way out (tokio shutting down under a pending task), which is not a log line.
        served_bytes = log_size(log_dir)
        stop_cargo_lambda(lambda_process)
        if lambda_process is not None:
            write_log_audit(log_dir, served_bytes)


if __name__ == "__main__":
    status = main()
    # Flush without taking any lock: `logging.shutdown()` acquires every handler's lock, and a moto
    # request thread (a daemon) may be holding one at this moment, which once kept a SIGTERM'd stack
    # from exiting.
    streams = [getattr(h, "stream", None) for h in logging.getLogger().handlers]
    for stream in [*streams, sys.stdout, sys.stderr]:
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    # Skip interpreter finalisation: moto's server and Step Functions threads are daemons and may
    # hold locks; nothing of them needs a graceful end.
    os._exit(status)
