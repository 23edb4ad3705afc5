"""No dead ends (issue 16): for each of the seven roles of ``tests/authz_matrix.py``, follow every link
and every GET form's target reachable from the home page, and every link inside the role's inbox
messages, to depth 4 on the shared demo stack: no 404, no 5xx, and every HTML page carries the
navigation (the ``topbar`` header with its ``nav``; a logged-in role's nav links to the home page).

How it walks (requests + the standard library's HTML parser; no browser): breadth first from ``/``,
each role with its own login session (a bearer token, so nothing it does needs a CSRF token and nothing
it reads is cached). It follows only same-site GET targets and skips what would change state or leave
the pages: ``/logout`` (a form, never a link), ``/lang/…`` (sets the language cookie), ``/static/…``,
``/api/…``, downloads (``download`` attribute, ``/exports``, ``.csv``/``.xlsx``/``.docx``/``.pdf``).
A GET form is followed with the values its fields carry (a search box empty, a select's chosen option).
To stay within about two minutes on two shared cores, each role reads at most :data:`PAGE_CAP` pages and
at most :data:`PER_SHAPE` pages of one shape (a path with its ids and numbers blanked out, any query), so
sixty proposals give three proposal pages, not sixty; the roles run side by side in threads.

A 503 ("try again in a moment", the page policy's answer when a service did not answer in time: the
roles walk in step, so seven /cases requests arrive together, and the cases service takes ~4-5 s for one
``my_cases`` on the busy test machine) is asked again up to :data:`RETRIES` times, the roles staggered;
a 503 that stays is a failure like any 5xx.

Read only: every request is a GET, so the shared stack is left as the other e2e tests expect it.
``DM_CRAWL_URL=http://127.0.0.1:PORT`` crawls an already running demo stack instead.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests

PASSWORD = "demo1234"
DEPTH = 4
PAGE_CAP = 120
PER_SHAPE = 3
INBOX_PAGES = 5
TIMEOUT = 60
RETRY_AFTER = 2  # seconds (× attempt × the role's place in ROLES) before asking a 503 page again
RETRIES = 2

#: the seven roles of tests/authz_matrix.py with the demo's logins (README "Demo logins", journeys)
ROLES = {
    "anonymous": None,
    "member": "M0300005",  # a u03 member (no congress of their own: the 职工代表大会 dead end)
    "delegate": "M0100174",  # the demo delegate of u01's 3rd term
    "handler": "M0100002",  # handles u01-d1
    "union_admin": "admin01",
    "superior_admin": "ftu-admin",
    "hotline_staff": "hotline",
}

SKIP_PREFIXES = ("/logout", "/lang/", "/static/", "/api/")
#: Pages shown full screen on a hall's projector (issue 14): no navigation on purpose.
FULL_SCREEN = re.compile(r"/projector(/|$|\?)")
DOWNLOAD = re.compile(r"(/exports?(/|$)|\.(csv|xlsx|docx|pdf|json|zip)$|/template\.)")
MESSAGE = re.compile(r'(?s)<article class="card msg[^"]*".*?</article>')
SHAPE = re.compile(r"[A-Za-z]*\d[\w-]*")


class Links(HTMLParser):
    """The followable targets of one page: ``<a href>`` (no ``download``) and GET ``<form>`` actions with
    their fields' values; and whether the page has the navigation."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.targets: list[str] = []
        self.header = False
        self.nav_home = False
        self.in_header = False
        self.form: dict | None = None
        self.select: str | None = None
        self.first_option: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "header" and "topbar" in classes:
            self.header = self.in_header = True
        elif tag == "a" and a.get("href") and "download" not in a:
            if self.in_header and a["href"] == "/":
                self.nav_home = True
            self.targets.append(a["href"])
        elif tag == "form":
            if (a.get("method") or "get").lower() == "get":
                self.form = {"action": a.get("action") or "", "fields": []}
        elif self.form is not None and tag in ("input", "select", "textarea") and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if tag == "select":
                self.select, self.first_option = a["name"], None
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.form["fields"].append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button", "file"):
                self.form["fields"].append((a["name"], a.get("value", "")))
        elif tag == "option" and self.form is not None and self.select:
            if self.first_option is None:
                self.first_option = a.get("value", "")
            if "selected" in a:
                self.form["fields"].append((self.select, a.get("value", "")))
                self.select = None

    def handle_endtag(self, tag):
        if tag == "header":
            self.in_header = False
        elif tag == "select" and self.form is not None and self.select:
            self.form["fields"].append((self.select, self.first_option or ""))
            self.select = None
        elif tag == "form" and self.form is not None:
            query = urlencode(self.form["fields"])
            self.targets.append(self.form["action"].split("?")[0] + (f"?{query}" if query else ""))
            self.form = None


def followable(base: str, page_url: str, href: str) -> str | None:
    """The same-site path (with query) that ``href`` on ``page_url`` leads to, or None to skip it."""
    if href.startswith(("mailto:", "tel:", "javascript:", "#")):
        return None
    url = urljoin(page_url, href)
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != base:
        return None
    path = parts.path or "/"
    if path.startswith(SKIP_PREFIXES) or DOWNLOAD.search(path):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def shape(target: str) -> str:
    """``/proposals/p-u01-s2-0007?page=2`` → ``/proposals/#``: pages of one kind, whichever record."""
    return SHAPE.sub("#", target.split("?")[0])


@dataclass
class Crawl:
    role: str
    base: str
    session: requests.Session
    seen: set[str] = field(default_factory=set)
    shapes: Counter = field(default_factory=Counter)
    found: list[str] = field(default_factory=list)  # the problems: "<status> <path> (from <page>)"
    pages: int = 0
    read: list[str] = field(default_factory=list)  # the HTML pages read with a 200, in crawl order

    def fetch(self, target: str) -> tuple[requests.Response, Links]:
        r = self.session.get(f"{self.base}{target}", timeout=TIMEOUT)
        for attempt in range(1, RETRIES + 1):  # a 503 says "try again in a moment": the roles, staggered
            if r.status_code != 503:
                break
            time.sleep(RETRY_AFTER * attempt * (1 + list(ROLES).index(self.role)))
            r = self.session.get(f"{self.base}{target}", timeout=TIMEOUT)
        links = Links()
        if r.headers.get("Content-Type", "").startswith("text/html"):
            links.feed(r.text)
        return r, links

    def check(self, target: str, origin: str, r: requests.Response, links: Links) -> None:
        if r.status_code == 404 or r.status_code >= 500:
            self.found.append(f"{r.status_code} {target} (from {origin})")
        elif r.headers.get("Content-Type", "").startswith("text/html"):
            if FULL_SCREEN.search(target):
                pass  # the projector view (大屏) is full screen by design: no navigation
            elif not links.header or (self.role != "anonymous" and not links.nav_home):
                self.found.append(f"no navigation {target} (from {origin})")

    def walk(self, starts: list[tuple[str, str]]) -> None:
        queue = deque((t, origin, 0) for t, origin in starts)
        while queue and self.pages < PAGE_CAP:
            target, origin, depth = queue.popleft()
            if target in self.seen:
                continue
            self.seen.add(target)
            if self.shapes[shape(target)] >= PER_SHAPE:
                continue
            self.shapes[shape(target)] += 1
            r, links = self.fetch(target)
            self.pages += 1
            self.check(target, origin, r, links)
            if r.status_code == 200 and r.headers.get("Content-Type", "").startswith("text/html"):
                self.read.append(target)
            if depth >= DEPTH or r.status_code >= 400:
                continue
            for href in links.targets:
                nxt = followable(self.base, r.url, href)
                if nxt and nxt not in self.seen:
                    queue.append((nxt, target, depth + 1))

    def inbox_links(self) -> list[tuple[str, str]]:
        """Every link inside the role's inbox messages (the first :data:`INBOX_PAGES` pages)."""
        out = []
        for page in range(1, INBOX_PAGES + 1):
            r = self.session.get(f"{self.base}/inbox?page={page}", timeout=TIMEOUT)
            if r.status_code != 200:
                break
            parser = Links()
            parser.feed("".join(MESSAGE.findall(r.text)))  # the messages only, not the inbox's own links
            for href in parser.targets:
                nxt = followable(self.base, r.url, href)
                if nxt:
                    out.append((nxt, f"/inbox?page={page}"))
            if f"/inbox?page={page + 1}" not in r.text:
                break
        return out


@pytest.fixture(scope="module")
def base_url(request) -> str:
    url = os.environ.get("DM_CRAWL_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("stack").url


def session_of(base: str, login: str | None) -> requests.Session:
    s = requests.Session()
    s.cookies.set("lang", "zh-CN")
    if login is not None:
        r = s.post(f"{base}/api/v1/auth/login", json={"login": login, "password": PASSWORD}, timeout=TIMEOUT)
        assert r.status_code == 200, (login, r.status_code, r.text)
        s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return s


def crawl(base: str, role: str) -> Crawl:
    c = Crawl(role, base, session_of(base, ROLES[role]))
    starts = [("/", "login")]
    if role != "anonymous":
        starts += c.inbox_links()
    c.walk(starts)
    return c


@pytest.fixture(scope="module")
def crawls(base_url) -> dict[str, Crawl]:
    with ThreadPoolExecutor(len(ROLES)) as pool:
        done = {role: pool.submit(crawl, base_url, role) for role in ROLES}
        return {role: f.result() for role, f in done.items()}


@pytest.mark.e2e
@pytest.mark.parametrize("role", list(ROLES))
def test_every_reachable_page_exists_and_has_the_navigation(crawls, role):
    c = crawls[role]
    assert c.pages >= (1 if role == "anonymous" else 10), (role, c.pages, sorted(c.seen))
    assert c.found == [], "\n".join([f"{role}: {len(c.found)} dead ends in {c.pages} pages", *c.found])
