"""``python -m bench [name …]``: run every bench/bench_*.py (or the named ones) and write docs/benchmarks.md."""

import importlib
import os
import pkgutil
import sys

from bench import Report, growth

HERE = os.path.dirname(__file__)


def main(argv: list[str]) -> int:
    names = argv or sorted(m.name[6:] for m in pkgutil.iter_modules([HERE]) if m.name.startswith("bench_"))
    report = Report()
    for name in names:
        print(f"[bench] {name}", flush=True)
        importlib.import_module(f"bench.bench_{name}").run(report)
    if not argv:
        with open(os.path.join(HERE, "..", "docs", "benchmarks.md"), "w") as f:
            f.write(report.markdown() + growth.TABLE.markdown())
        print("[bench] wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
