"""The growth table of ``make bench`` (issue 17): how a member-facing request's time grows with the size of
the data. Each benchmark adds its rows with :func:`row`; ``python -m bench`` appends :func:`markdown` to
docs/benchmarks.md after the main table. Nothing here asserts on time.

Shared by the voting (receipts, ballot-list pages, live results) and members (search, member-list pages)
benchmarks: one row per request, one column per size (10k, 100k, 1M ballots or members).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The columns of the table: sizes of the data (ballots or members).
SIZES = (10_000, 100_000, 1_000_000)


@dataclass
class GrowthRow:
    name: str
    ms: dict[int, float]  # size → milliseconds (median)
    target: str = "≤ 50 ms at 1M, flat"
    note: str = ""


@dataclass
class Growth:
    rows: list[GrowthRow] = field(default_factory=list)

    def row(
        self, name: str, ms: dict[int, float], target: str = "≤ 50 ms at 1M, flat", note: str = ""
    ) -> None:
        """Add one request's figures: ``ms`` maps a size (number of ballots or members) to milliseconds."""
        self.rows.append(GrowthRow(name, dict(ms), target, note))
        shown = ", ".join(f"{size:,}: {value:.1f} ms" for size, value in sorted(ms.items()))
        print(f"  growth · {name}: {shown} (target {target}) {note}", flush=True)

    def markdown(self) -> str:
        """The growth table (empty string when no benchmark added a row)."""
        if not self.rows:
            return ""
        sizes = sorted({s for r in self.rows for s in r.ms} | set(SIZES))
        head = [
            "",
            "## Growth with the size of the data",
            "",
            "Median milliseconds of one member-facing request against a collection of the given size "
            "(ballots or members); — where that size was not run.",
            "",
            "| request | " + " | ".join(f"{s:,}" for s in sizes) + " | target | note |",
            "|---|" + "---|" * len(sizes) + "---|---|",
        ]
        body = [
            f"| {r.name} | "
            + " | ".join(f"{r.ms[s]:.1f}" if s in r.ms else "—" for s in sizes)
            + f" | {r.target} | {r.note} |"
            for r in self.rows
        ]
        return "\n".join(head + body) + "\n"


#: The one table of this ``make bench`` run.
TABLE = Growth()


def row(name: str, ms: dict[int, float], target: str = "≤ 50 ms at 1M, flat", note: str = "") -> None:
    """Add a row to the run's growth table (see :class:`Growth.row`)."""
    TABLE.row(name, ms, target, note)
