"""Render ``build/reliability/*.json`` as the README's reliability table (Markdown).

``python -m soak.reliability_table`` prints it; ``--readme README.md`` also replaces the
table between the README's ``reliability-table`` markers, so the published figures are
always those of the latest runs of ``tests/faults`` and ``make soak``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soak.records import RELIABILITY_DIR, load_records

START, END = "<!-- reliability-table:start -->", "<!-- reliability-table:end -->"
MiB = 2**20


def _mib(count: int) -> str:
    return f"{count / MiB:,.1f} MiB" if count else "0"


def render(records: list[dict]) -> str:
    """A table of every record (the soak last), then the runs it comes from."""
    records = sorted(records, key=lambda r: (r["name"] == "soak", r["name"]))
    lines = [
        "| fault injected | times | operations | bytes checked | acknowledged | lost | "
        "wrong bytes served | clean errors | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in records:
        lines.append(
            f"| {r['fault']} | {r['injections']} | {r['operations']:,} | "
            f"{_mib(r['bytes_verified'])} | {_mib(r['acknowledged_bytes'])} | "
            f"{r['lost_bytes']} | {r['wrong_bytes']} | {r['clean_errors']:,} | {r['outcome']} |")
    soak = next((r for r in records if r["name"] == "soak"), None)
    if soak is not None:
        daemon, writer = soak["extra"]["daemon"], soak["extra"]["writer"]
        lines += ["", f"Soak: {daemon['requests']:,} requests, {daemon['errors']:,} errors "
                      f"({daemon['errors_by_type']}), p50 {daemon['p50_ms']} ms, p99 "
                      f"{daemon['p99_ms']} ms, {daemon['resumed_clients']} of "
                      f"{daemon['clients']} clients resumed after the last restart; "
                      f"writer: {writer['acknowledging_rounds']} of {writer['rounds']} "
                      "rounds acknowledged writes, acknowledged "
                      f"{writer['acknowledged_bytes']:,} B, present {writer['present_bytes']:,} B."]
    latest: dict[str, str] = {}  # command -> when it last ran
    for r in records:
        latest[r["command"]] = max(latest.get(r["command"], ""), r["date"])
    runs = sorted((date[:16].replace("T", " "), command) for command, date in latest.items())
    lines += ["", "Runs (UTC):"] + [f"- {date}: `{command}`" for date, command in runs]
    return "\n".join(lines) + "\n"


def replace_in_readme(readme: Path, table: str) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"--readme: {readme} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(f"{head}{START}\n{table}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.reliability_table", description=__doc__)
    parser.add_argument("--dir", type=Path, default=RELIABILITY_DIR)
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args(argv)
    records = load_records(args.dir)
    if not records:
        raise FileNotFoundError(f"{args.dir}: no records; run the tests in tests/faults "
                                "or make soak first")
    table = render(records)
    sys.stdout.write(table)
    if args.readme is not None:
        replace_in_readme(args.readme, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
