"""The handlers' log audit of one ``make test`` run: every line a handler wrote (in every test
binary's stack) is a JSON object and none contains a SecureString value or a KMS plaintext.

Each stack writes ``log-audit.json`` next to its ``lambda.log`` when it shuts down (see
``stack.write_log_audit`` and ``patches.audit_handler_log``). This script reads the audits of the
log directories newer than ``--since`` (a file touched when the run began), waits a little for
stacks still shutting down, prints one line per stack and a total, and fails on any finding.

    python tests/emulator/audit_logs.py --logs target/pilot-light-logs --since target/.test-run-began
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

WAIT_FOR_STACKS = 60.0  # seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--since", type=Path, required=True)
    args = parser.parse_args(argv)
    began = args.since.stat().st_mtime if args.since.exists() else 0.0
    directories = [
        d
        for d in sorted(args.logs.glob("*/"))
        if (d / "lambda.log").exists() and (d / "lambda.log").stat().st_mtime >= began
    ]
    deadline = time.monotonic() + WAIT_FOR_STACKS
    while time.monotonic() < deadline and not all((d / "log-audit.json").exists() for d in directories):
        time.sleep(0.5)

    problems, lines, secrets = 0, 0, 0
    for directory in directories:
        audit_file = directory / "log-audit.json"
        if not audit_file.exists():
            print(f"audit-logs: {directory.name}: no log-audit.json (the stack never shut down?)")
            problems += 1
            continue
        audit = json.loads(audit_file.read_text())
        lines += audit["handlerLines"]
        secrets = max(secrets, audit["secretsSearched"])
        found = len(audit["notJson"]) + len(audit["secretFound"])
        problems += found
        print(
            f"audit-logs: {directory.name}: {audit['handlerLines']} handler lines, "
            f"{audit['secretsSearched']} secrets searched, {len(audit['notJson'])} not JSON, "
            f"{len(audit['secretFound'])} with a secret"
        )
        for entry in audit["notJson"][:10]:
            print(f"    line {entry['line']} is not JSON: {entry['start']!r}")
        for entry in audit["secretFound"][:10]:
            print(f"    line {entry['line']} contains a secret value")
    if not directories:
        print("audit-logs: no handler logs from this run")
        return 1
    verdict = "ok" if problems == 0 else f"{problems} problem(s)"
    print(
        f"audit-logs: {len(directories)} stacks, {lines} handler log lines, all JSON and no secret "
        f"value: {verdict}"
        if problems == 0
        else f"audit-logs: {len(directories)} stacks, {lines} handler log lines: {verdict}"
    )
    return 0 if problems == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
