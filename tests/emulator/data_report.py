"""The data checks of one ``make test`` run, as a table: one line per scenario run.

Every execution an end-to-end test runs in a world whose application writes gets its data checks
(``tests/e2e/src/data_checks.rs``): acknowledged writes, writes lost, split-brain windows, RPO and
the write-unavailability window, and any violation. Each test binary's stack directory holds them
in ``data-checks.jsonl``. This script prints them (directories newer than ``--since``), one line per
run, totals per flow, and fails when a line has a violation, or when ``--markdown FILE`` is given
and writing fails. ``--markdown`` also writes the table as Markdown (for docs/reliability.md).

    python tests/emulator/data_report.py --logs target/pilot-light-logs --since target/.test-run-began
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = ("scenario", "flow", "status", "acknowledged", "lost", "split-brain", "RPO s", "unavailable s", "serving")


def rows_of(directories: list[Path]) -> list[dict]:
    rows = []
    for directory in directories:
        path = directory / "data-checks.jsonl"
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                entry = json.loads(line)
                entry["binary"] = directory.name.split("-", 1)[-1]
                rows.append(entry)
    return rows


def cells(entry: dict) -> tuple[str, ...]:
    flow = entry["machine"] + (f" ({entry['mode']})" if entry.get("mode") else "")
    return (
        f"{entry['binary'].rsplit('-', 1)[0]}::{entry['scenario']}",
        flow,
        entry["status"],
        str(entry["acknowledged"]),
        f"lost {entry['lost']}",
        str(entry["splitBrainWindows"]),
        f"{entry['rpoSeconds']:.2f}",
        f"{entry['writeUnavailableSeconds']:.2f}",
        entry.get("servingRegion") or "nobody",
    )


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
    table = [COLUMNS] + [cells(r) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    for row in table:
        print("data-checks: " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    bad = [r for r in rows if r["violations"]]
    for entry in bad:
        for violation in entry["violations"]:
            print(f"data-checks: VIOLATION in {entry['scenario']} ({entry['execution']}): {violation}")
    flows: dict[str, list[dict]] = {}
    for entry in rows:
        flows.setdefault(entry["machine"] + (f" ({entry['mode']})" if entry.get("mode") else ""), []).append(entry)
    for flow, entries in sorted(flows.items()):
        print(
            f"data-checks: {flow}: {len(entries)} runs, {sum(e['acknowledged'] for e in entries)} writes "
            f"acknowledged, lost {sum(e['lost'] for e in entries)}, "
            f"max RPO {max(e['rpoSeconds'] for e in entries):.2f} s, "
            f"max write-unavailability {max(e['writeUnavailableSeconds'] for e in entries):.2f} s"
        )
    if args.markdown:
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
        args.markdown.write_text("\n".join(lines) + "\n")
    verdict = "ok" if not bad else f"{len(bad)} run(s) with violations"
    print(
        f"data-checks: {len(rows)} runs, {sum(r['acknowledged'] for r in rows)} writes acknowledged, "
        f"lost {sum(r['lost'] for r in rows)} (all within an ungraceful failover's bound unless listed above): {verdict}"
    )
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
