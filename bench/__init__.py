"""Benchmarks (``make bench``): each ``bench/bench_<name>.py`` has ``run(report)`` and adds rows; the
figures are printed and written to docs/benchmarks.md. Nothing here asserts on time: targets are
shown next to what was measured.

They run against their own RabbitMQ vhost and database prefix (``bench_``), never the demo's.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Row:
    figure: str
    unit: str
    target: str
    measured: str
    bare: str = "—"
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, figure: str, unit: str, measured, target: str = "—", bare="—", note: str = "") -> None:
        text = (
            f"{measured:,.1f}"
            if isinstance(measured, float)
            else f"{measured:,}"
            if isinstance(measured, int)
            else str(measured)
        )
        bare_text = f"{bare:,.1f}" if isinstance(bare, float) else str(bare)
        row = Row(figure, unit, target, text, bare_text, note)
        self.rows.append(row)
        print(f"  {figure}: {text} {unit} (target {target}; bare {bare_text}) {note}", flush=True)

    def markdown(self) -> str:
        head = [
            "# Benchmarks",
            "",
            f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, FerretDB 1.24.2 (SQLite) and RabbitMQ on loopback.",
            "",
            "| figure | unit | target | measured | bare framework | note |",
            "|---|---|---|---|---|---|",
        ]
        return (
            "\n".join(
                head
                + [
                    f"| {r.figure} | {r.unit} | {r.target} | {r.measured} | {r.bare} | {r.note} |"
                    for r in self.rows
                ]
            )
            + "\n"
        )


def peak_rss_mib(children: bool = False) -> float:
    """Peak resident memory (MiB) of this process, or of its finished children."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
