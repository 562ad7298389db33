"""The data checks of one ``make test`` run, as a table: one line per scenario.

Every execution an end-to-end test runs in a world whose application writes gets its data checks
(``tests/e2e/src/data_checks.rs``): acknowledged writes, writes lost, split-brain windows, RPO and
the write-unavailability window, and any violation. Each test binary's stack directory holds them
in ``data-checks.jsonl``. This script prints them (directories newer than ``--since``), one line per
scenario (a test, or a case of a test that names its cases: the runs of its executions summed,
RPO and write-unavailability their maximum), totals per flow, and fails when a run has a violation,
or when ``--markdown FILE`` is given and writing fails. ``--markdown`` also writes both tables as
Markdown (for docs/reliability.md).

    python tests/emulator/data_report.py --logs target/pilot-light-logs --since target/.test-run-began
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = ("scenario", "runs (flows)", "acknowledged", "lost", "split-brain", "max RPO s", "max unavailable s", "serving at the end")
FLOW_COLUMNS = ("flow", "runs", "acknowledged", "lost", "max RPO s", "max unavailable s")


def rows_of(directories: list[Path]) -> list[dict]:
    rows = []
    for directory in directories:
        path = directory / "data-checks.jsonl"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    raise SystemExit(f"data-checks: {path}: unreadable line {line[:120]!r}: {error}")
                entry["binary"] = directory.name.split("-", 1)[-1]
                rows.append(entry)
    return rows


def flow_of(entry: dict) -> str:
    if entry.get("mode"):
        return f"{entry['machine']} ({entry['mode']})"
    if entry["machine"] == "failover":
        return "failover (ungraceful, the default)"
    return entry["machine"]


def scenario_of(entry: dict) -> str:
    return f"{entry['binary'].rsplit('-', 1)[0]}::{entry['scenario']}"


def scenario_cells(scenario: str, entries: list[dict]) -> tuple[str, ...]:
    flows: dict[str, int] = {}
    for entry in entries:
        flows[flow_of(entry)] = flows.get(flow_of(entry), 0) + 1
    return (
        scenario,
        f"{len(entries)} ({', '.join(f'{n}× {flow}' if n > 1 else flow for flow, n in flows.items())})",
        str(sum(e["acknowledged"] for e in entries)),
        f"lost {sum(e['lost'] for e in entries)}",
        str(sum(e["splitBrainWindows"] for e in entries)),
        f"{max(e['rpoSeconds'] for e in entries):.2f}",
        f"{max(e['writeUnavailableSeconds'] for e in entries):.2f}",
        entries[-1].get("servingRegion") or "nobody",
    )


def flow_cells(flow: str, entries: list[dict]) -> tuple[str, ...]:
    return (
        flow,
        str(len(entries)),
        str(sum(e["acknowledged"] for e in entries)),
        f"lost {sum(e['lost'] for e in entries)}",
        f"{max(e['rpoSeconds'] for e in entries):.2f}",
        f"{max(e['writeUnavailableSeconds'] for e in entries):.2f}",
    )


def printed(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    table = [header] + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["data-checks: " + "  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table]


def markdown(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--since", type=Path, required=True)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    began = args.since.stat().st_mtime if args.since.exists() else 0.0
    directories = [d for d in sorted(args.logs.glob("*/")) if d.stat().st_mtime >= began]
    rows = rows_of(directories)
    if not rows:
        print("data-checks: no scenario ran with the application writing")
        return 1
    scenarios: dict[str, list[dict]] = {}
    flows: dict[str, list[dict]] = {}
    for entry in rows:
        scenarios.setdefault(scenario_of(entry), []).append(entry)
        flows.setdefault(flow_of(entry), []).append(entry)
    scenario_rows = [scenario_cells(name, entries) for name, entries in sorted(scenarios.items())]
    flow_rows = [flow_cells(flow, entries) for flow, entries in sorted(flows.items())]
    for line in printed(COLUMNS, scenario_rows):
        print(line)
    for line in printed(FLOW_COLUMNS, flow_rows):
        print(line)
    bad = [r for r in rows if r["violations"]]
    for entry in bad:
        for violation in entry["violations"]:
            print(f"data-checks: VIOLATION in {entry['scenario']} ({entry['execution']}): {violation}")
    if args.markdown:
        lines = markdown(FLOW_COLUMNS, flow_rows) + [""] + markdown(COLUMNS, scenario_rows)
        args.markdown.write_text("\n".join(lines) + "\n")
    verdict = "ok" if not bad else f"{len(bad)} run(s) with violations"
    print(
        f"data-checks: {len(rows)} runs, {sum(r['acknowledged'] for r in rows)} writes acknowledged, "
        f"lost {sum(r['lost'] for r in rows)} (all within an ungraceful failover's bound unless listed above): {verdict}"
    )
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
