"""The OpenAPI 3 document of /api/v1, generated from the routes' declared contract schemas (apispec)."""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema
from marshmallow import fields as f

ERROR_STATUSES = {
    "400": "bad input: malformed JSON, missing or wrong-typed fields (see `fields`)",
    "401": "no token, or an invalid or expired one",
    "403": "the caller has no right to this (e.g. another union's data)",
    "404": "no such object",
    "409": "conflicts with the current state (duplicate, wrong state, outside a window)",
    "413": "upload over the size limit",
    "503": "a service or the database did not answer in time",
}


class ErrorOut(Schema):
    error = f.String(required=True, metadata={"description": "stable code, e.g. bad_input, forbidden"})
    message = f.String(required=True)
    fields = f.Dict(required=True, metadata={"description": "field name → list of messages"})
    details = f.Dict(required=True)


def _path(url: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", url)


def _schema_ref(spec_schema):
    if isinstance(spec_schema, list):
        return {"type": "array", "items": spec_schema[0]}
    return spec_schema


def build_spec(entrypoints, server_url: str = "/") -> dict:
    """OpenAPI 3.0 for every ``@api`` entrypoint under /api/v1 (summary from the handler docstring)."""
    spec = APISpec(
        title="Democratic management API / 民主管理平台接口",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Workers' congresses, proposals, Worker Home evaluations, factory-affairs disclosure."
        },
        servers=[{"url": server_url}],
    )
    spec.components.schema("ErrorOut", schema=ErrorOut)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    paths: dict[str, dict] = {}
    for ep in sorted(entrypoints, key=lambda e: (e.url, e.method)):
        if not ep.url.startswith("/api/v1/") or ep.url.endswith("openapi.json"):
            continue
        meta = ep.meta
        handler = getattr(ep.container.service_cls, ep.method_name)
        doc = (handler.__doc__ or "").strip()
        summary = meta["summary"] or doc.splitlines()[0] if doc else ep.method_name
        for method in ep.method.split(","):
            op: dict = {
                "operationId": ep.method_name
                if "," not in ep.method
                else f"{ep.method_name}_{method.lower()}",
                "summary": summary,
                "description": doc,
                "tags": list(meta["tags"]) or ["api"],
                "responses": {},
            }
            params = [
                {"in": "path", "name": n, "required": True, "schema": {"type": "string"}}
                for n in re.findall(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", ep.url)
            ]
            if meta["query"] is not None:
                params.append({"in": "query", "schema": meta["query"]})
            if params:
                op["parameters"] = params
            if meta["body"] is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": meta["body"]}},
                }
            ok = {"description": "success"}
            if meta["response"] is not None:
                ok["content"] = {"application/json": {"schema": _schema_ref(meta["response"])}}
            op["responses"][str(meta["status"])] = ok
            for status, text in ERROR_STATUSES.items():
                if status == "401" and meta["public"]:
                    continue
                op["responses"][status] = {
                    "description": text,
                    "content": {"application/json": {"schema": "ErrorOut"}},
                }
            if not meta["public"]:
                op["security"] = [{"bearer": []}]
            paths.setdefault(_path(ep.url), {})[method.lower()] = op
    for path, ops in paths.items():
        spec.path(path=path, operations=ops)
    return spec.to_dict()
