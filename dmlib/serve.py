"""Start services: ``python -m dmlib.serve run --config config.yaml services.x.service:XService`` is
``nameko run`` (same arguments, same behaviour) with two known start-up warnings filtered first.

Why (issue 18): every service start printed, into ``make run``'s output and every log,

- setuptools' ``UserWarning`` that ``pkg_resources`` is deprecated (nameko 2.14's CLI imports it; we pin
  ``setuptools < 81`` on purpose so that it still exists, DESIGN.md §9), and
- eventlet's ``EventletDeprecationWarning`` at import (nameko 2.14 runs on eventlet; 0.41.3 is pinned).

Both are known and not actionable here, and ten lines of them at every start hide the warnings that are.
A filter must be in place before nameko imports either module, so it cannot live in ``config.yaml`` or in
a service; ``PYTHONWARNINGS`` cannot name eventlet's category without importing eventlet (which warns
while the option is read) and cannot match its message (it starts with a newline). Hence this entry
point, used by the Procfile (so ``make run`` and :mod:`dmtools.stack`) and docker-compose. Nothing else
is filtered: any other warning still shows.
"""

from __future__ import annotations

import sys
import warnings


def filter_known_warnings() -> None:
    """Ignore exactly the two start-up deprecation warnings named in the module docstring."""
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
    warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated as an API", category=UserWarning)


def main() -> int | None:
    filter_known_warnings()
    from nameko.cli.main import main as nameko_main  # after the filters: it imports both modules

    return nameko_main()


if __name__ == "__main__":
    sys.exit(main())
