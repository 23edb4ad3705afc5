"""Pure rules of factory-affairs disclosure: safe Markdown, read rates, attachment names, question age.

No nameko, no pymongo: unit-tested in tests/unit/test_disclosure_rules.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

from dmlib.attachments import human_size, safe_filename  # noqa: F401 - re-exported for disclosure's callers

#: What survives sanitising: text structure, tables and links. No images (files go as attachments; the
#: CSP would block remote images anyway), no raw HTML, no inline styles or event handlers.
ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "a",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # CommonMark with raw HTML disabled: "<script>" stays text, rendered as &lt;script&gt;.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def render_markdown(source: str) -> str:
    """Markdown → HTML that is safe to put in a page as is.

    Two layers: markdown-it renders with raw HTML off and refuses ``javascript:``/``vbscript:``/``file:``
    links; nh3 (ammonia) then keeps only :data:`ALLOWED_TAGS` and :data:`ALLOWED_ATTRIBUTES`, only
    ``http``, ``https`` and ``mailto`` URLs (a ``data:`` link loses its ``href``), and adds
    ``rel="noopener noreferrer nofollow"`` to links.
    """
    html = _parser().render(source or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def rate(read: int, members: int) -> float:
    """Read rate 0-1, rounded to 4 places; 0 when nobody is a member (never divides by zero).

    More receipts than members (members left the union after reading) caps at 1."""
    if members <= 0:
        return 0.0
    return round(min(read, members) / members, 4)


def department_reads(
    roster: Iterable[dict], readers: set[str], department_names: dict[str, str], no_department: str
) -> tuple[list[dict], list[dict]]:
    """Per-department read figures and the unread members, from the union's roster and the readers.

    ``roster``: ``[{"member_id", "name", "department_id"}]`` (members.union_roster); ``readers``: member
    ids with a read receipt. Returns (departments sorted by rate then name, each ``{department_id, name,
    members, read, rate}``; unread members ``{member_id, name, department}`` in roster order). Readers no
    longer in the roster are not counted here (they left the union).
    """
    totals: dict[str | None, list[int]] = {}
    unread: list[dict] = []
    for m in roster:
        dep = m.get("department_id") or None
        t = totals.setdefault(dep, [0, 0])
        t[0] += 1
        if m["member_id"] in readers:
            t[1] += 1
        else:
            name = department_names.get(dep, no_department) if dep else no_department
            unread.append({"member_id": m["member_id"], "name": m["name"], "department": name})
    departments = [
        {
            "department_id": dep,
            "name": department_names.get(dep, dep) if dep else no_department,
            "members": members,
            "read": read,
            "rate": rate(read, members),
        }
        for dep, (members, read) in totals.items()
    ]
    departments.sort(key=lambda d: (d["rate"], d["name"]))
    return departments, unread


def age_days(since: datetime, until: datetime) -> int:
    """Whole days from ``since`` to ``until`` (never negative)."""
    return max(0, (until - since).days)
