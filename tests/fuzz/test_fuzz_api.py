"""Schemathesis fuzzing of the whole HTTP API (issue 8): every operation of ``/api/v1/openapi.json``,
with valid logins, must answer without a server error and as documented: a documented status, the
documented content type and a body that matches the documented schema (errors: ``ErrorOut``).

The stack is this module's own (``running_stack`` on a fresh vhost and database prefix, the full demo
loaded with ``dm demo``), not the e2e tier's shared ``stack``: fuzzing creates unions, members, drafts,
ballots and withdraws things, which would break the other tests' expectations. The full demo rather than
a smaller data set because it has objects in every state (open and published campaigns, a closed and a
planned session, proposals from draft to excellent, corrected and withdrawn disclosures): the fuzzer is
steered to those ids (:func:`steer_to_known_ids`) so that it gets past 404 into the real rules.

Each example is sent as one of the roles (a union admin, the superior ftu-admin, a member who handles
a department, a delegate, nobody), chosen by Hypothesis like the rest of the example. Examples are
bounded (``DM_FUZZ_EXAMPLES`` per operation, default 12) and derandomised, so a run is repeatable; set
``DM_FUZZ_RANDOM=1`` to explore other examples and ``DM_FUZZ_URL`` to fuzz a stack already running (with the
demo loaded) instead of starting one. Run: ``make test-fuzz``.
"""

from __future__ import annotations

import copy
import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("DM_FUZZ_EXAMPLES", "12"))
RANDOM = bool(os.environ.get("DM_FUZZ_RANDOM"))
PASSWORD = "demo1234"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
ROLES = ["union_admin", "superior_admin", "handler", "delegate", "anonymous"]


def login(url: str, who: str) -> str:
    r = requests.post(f"{url}/api/v1/auth/login", json={"login": who, "password": PASSWORD}, timeout=60)
    r.raise_for_status()
    return r.json()["token"]


def known_ids(url: str, tokens: dict[str, str]) -> dict[str, list]:
    """Ids of real demo objects, by path parameter name, read through the API as the admins."""

    def get(role: str, path: str, default):
        r = requests.get(f"{url}/api/v1{path}", headers=bearer(tokens[role]), timeout=60)
        return r.json() if r.status_code == 200 else default  # a steer, not a requirement

    sessions = get("union_admin", "/congresses/cg-u01/sessions", [])
    proposals = (
        get("union_admin", f"/proposals/sessions/{sessions[-1]['id']}/proposals?view=desk", [])
        if sessions
        else []
    )
    disclosures = get("union_admin", "/unions/u01/disclosures?per_page=5", {"items": []})["items"]
    attachments = [
        a["id"]
        for d in disclosures
        for a in get("union_admin", f"/disclosures/{d['id']}", {}).get("attachments", [])
    ]
    campaigns = [c["id"] for c in get("superior_admin", "/campaigns", [])]
    items = [i for s in sessions for i in s["items"]]
    receipts = get("superior_admin", "/polls/ev2017/ballots?per_page=3", {"items": []})["items"]
    return {
        "union_id": ["u01", "u02", "ftu", "area-core"],
        "department_id": ["u01-d1", "u01-d2", "u02-d1"],
        "member_id": ["M0100001", "M0100002", "M0100005", "M0200003"],
        "role": ["union_admin", "handler", "superior_admin", "delegate"],
        "scope": ["u01", "u01-d1", "ftu"],
        "congress_id": ["cg-u01"],
        "term_id": ["cg-u01-t3"],
        "session_id": [s["id"] for s in sessions],
        "item_id": [i["id"] for i in items] + [d["id"] for d in disclosures],
        "proposal_id": [p["id"] for p in proposals[:: max(1, len(proposals) // 8)]],
        "question_id": [q["id"] for q in get("union_admin", "/unions/u01/disclosure-questions", [])][:3],
        "attachment_id": attachments[:3],
        "campaign_id": campaigns,
        "poll_id": campaigns + [i["poll_id"] for i in items if i.get("poll_id")],
        "receipt": [b["receipt"] for b in receipts],
        "revision": [1, 2],
    }


def steer_to_known_ids(spec: dict, ids: dict[str, list]) -> dict:
    """A copy of ``spec`` whose path parameters are a real id or anything the documented schema allows."""
    spec = copy.deepcopy(spec)
    for item in spec["paths"].values():
        for op in item.values():
            for p in op.get("parameters", []):
                if p["in"] == "path" and ids.get(p["name"]):
                    p["schema"] = {"anyOf": [{"enum": ids[p["name"]]}, p["schema"]]}
    return spec


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory):
    """(base URL, tokens by role): this module's own stack with the demo, or ``DM_FUZZ_URL``."""
    if os.environ.get("DM_FUZZ_URL"):
        yield os.environ["DM_FUZZ_URL"].rstrip("/")
        return
    from tests.conftest import demo_stack

    with demo_stack(tmp_path_factory, "fuzz") as s:  # its own: fuzzing creates and withdraws things
        yield s.url


@pytest.fixture(scope="module")
def tokens(fuzz_target):
    url = fuzz_target
    out = {"union_admin": login(url, "admin01"), "superior_admin": login(url, "ftu-admin")}
    out["handler"] = login(url, "M0100002")  # a member of u01 who handles department u01-d1
    delegates = requests.get(
        f"{url}/api/v1/congress/terms/cg-u01-t3/delegates", headers=bearer(out["union_admin"]), timeout=60
    ).json()
    out["delegate"] = login(url, delegates[0]["member_id"])
    out["anonymous"] = None
    return out


@pytest.fixture(scope="module")
def api_schema(fuzz_target, tokens):
    url = fuzz_target
    spec = requests.get(f"{url}/api/v1/openapi.json", timeout=60).json()
    schema = schemathesis.openapi.from_dict(steer_to_known_ids(spec, known_ids(url, tokens)))
    schema.config.update(base_url=url)
    schema.config.generation.update(
        with_security_parameters=False,  # the role decides the Authorization header
        allow_x00=False,  # NUL cannot travel in a URL or a header; bodies get it from JSON escapes anyway
    )
    return schema


def fuzz_operation(operation, tokens: dict) -> None:
    """Run the bounded Hypothesis search over one operation: valid and invalid inputs, every role."""
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=strategy, role=st.sampled_from(ROLES))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case, role):
        case.call_and_validate(headers=bearer(tokens[role]), checks=CHECKS, timeout=60)

    run()


def test_api_answers_as_documented(api_schema, tokens, subtests):
    """No server error, and every answer is one the OpenAPI document promises, for every role."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 80
    for operation in operations:
        with subtests.test(msg=operation.label):
            fuzz_operation(operation, tokens)
