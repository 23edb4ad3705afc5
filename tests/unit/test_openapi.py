"""The OpenAPI document the fuzz tier checks every answer against (services/gateway/openapi.py), built
from the gateway's routes without starting anything."""

import re

import pytest
from nameko.containers import ServiceContainer

from dmlib.schemas import ID_RE
from services.gateway.openapi import build_spec
from services.gateway.service import GatewayService


@pytest.fixture(scope="module")
def spec():
    container = ServiceContainer(GatewayService, {"AMQP_URI": "memory://"})  # bound, never started
    return build_spec(container.entrypoints)


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_every_operation_documents_its_success_and_the_shared_error_shape(spec):
    ops = list(operations(spec))
    assert len(ops) > 80
    for path, method, op in ops:
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert len(ok) == 1, (method, path)
        if ok[0] != "204":
            assert op["responses"][ok[0]]["content"], (method, path)
        for status in ("400", "401", "403", "404", "409", "429", "503"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
        assert ("413" in op["responses"]) == ("requestBody" in op), (method, path)
        assert not any(s.startswith("5") and s != "503" for s in op["responses"]), (method, path)


def test_path_parameters_are_ids_or_integers(spec):
    for path, method, op in operations(spec):
        names = set(re.findall(r"{(\w+)}", path))
        params = {p["name"]: p["schema"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert set(params) == names, (method, path)
        for name, schema in params.items():
            expected = (
                {"type": "integer", "minimum": 0}
                if name == "revision"
                else {"type": "string", "pattern": ID_RE.pattern}
            )
            assert schema == expected, (method, path, name)


def test_fields_the_gateway_fills_are_not_asked_of_the_client(spec):
    schemas = spec["components"]["schemas"]

    def body(path, method="post"):
        ref = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]

    assert "union_id" not in body("/api/v1/unions/{union_id}/departments")["properties"]
    assert "member_id" not in body("/api/v1/members/{member_id}/roles")["properties"]
    assert "member_id" not in body("/api/v1/me/password", "put")["properties"]
    assert body("/api/v1/me/password", "put")["required"] == ["new_password"]
    query = spec["paths"]["/api/v1/unions/{union_id}/members"]["get"]["parameters"]
    assert [p["name"] for p in query if p["name"] == "union_id"] == ["union_id"]  # the path one only


def test_downloads_uploads_and_queries_are_documented(spec):
    paths = spec["paths"]
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert xlsx in paths["/api/v1/campaigns/{campaign_id}/results.xlsx"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in paths["/api/v1/imports/{job_id}/errors.csv"]["get"]["responses"]["200"]["content"]
    upload = paths["/api/v1/imports"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data", "application/json"}
    ballots = {p["name"] for p in paths["/api/v1/polls/{poll_id}/ballots"]["get"]["parameters"]}
    assert ballots == {"poll_id", "page", "per_page"}
    login = paths["/api/v1/auth/login"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert login == {"$ref": "#/components/schemas/LoginOut"}


def test_two_contracts_with_one_schema_name_get_two_components(spec):
    schemas = spec["components"]["schemas"]
    assert "unread" in schemas["NotifyUnreadOut"]["properties"]
    assert "member_id" in schemas["UnreadOut"]["properties"]


def test_documented_shapes_found_by_the_fuzz_tier(spec):
    """Answers carried fields their documented schema did not allow, and one pattern had an inline flag
    that JSON Schema (and so every client generator) does not understand."""
    schemas = spec["components"]["schemas"]
    me = spec["paths"]["/api/v1/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert me == {"$ref": "#/components/schemas/ProfileOut"}
    assert {"union_path", "scope_names"} <= set(schemas["ProfileOut"]["properties"])
    assert {"me", "is_admin"} <= set(schemas["CampaignOut"]["properties"])
    assert "(?" not in schemas["ImportIn"]["properties"]["filename"]["pattern"]
    assert "/api/v1/{rest}" not in spec["paths"]


def test_the_retryable_creates_take_an_idempotency_key(spec):
    keyed = {
        op["operationId"]
        for _, _, op in operations(spec)
        if any(
            p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in op.get("parameters", [])
        )
    }
    assert keyed == {
        "api_publish_disclosure",
        "api_ask_question",
        "api_create_session",
        "api_proposals_create_proposal",
        "api_file_case",
        "api_record_call",
    }
