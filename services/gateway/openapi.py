"""The OpenAPI 3 document of /api/v1, generated from the routes' declared contract schemas (apispec).

What a route declares (``@api(..., body=, query=, response=, status=, public=)``, see
:class:`services.gateway.http.GatewayEntrypoint`) becomes its operation:

- path parameters: every ``<name>`` of the URL, an id (:data:`dmlib.schemas.ID_RE`) or, for
  ``<int:name>``, an integer;
- ``query``: the schema's fields as query parameters, less those that are path parameters;
- ``body``: the JSON request body, less the fields the gateway fills itself from the path (e.g.
  ``union_id`` of ``POST /unions/{union_id}/departments``); a route passes a schema instance with
  ``exclude=`` for fields filled from the caller's identity;
- ``response``: a schema, ``[schema]`` for a list, or a media type string for a file download
  (``"text/csv"``, the XLSX or DOCX type); ``None`` documents a JSON answer of no declared shape;
- every error status the one mapping (:func:`services.gateway.http.error_payload`) can give, with the one
  error shape :class:`ErrorOut`: 400, 401, 403, 404, 409, 429, 503 on every operation, 413 on those
  with a body. A 5xx other than 503 is a bug and is not documented;
- a route that reads its request body itself (an upload) documents it with :func:`request_body`.

The document is what ``tests/fuzz/test_fuzz_api.py`` (schemathesis) checks every answer against.
"""

from __future__ import annotations

import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import Schema
from marshmallow import fields as f

from dmlib.schemas import CLIENT_KEY_RE, ID_RE

from .http import IDEMPOTENCY_HEADER

ERROR_STATUSES = {
    "400": "bad input: malformed JSON, missing or wrong-typed fields (see `fields`)",
    "401": "no token, or an invalid or expired one (login: wrong login or password)",
    "403": "the caller has no right to this (e.g. another union's data)",
    "404": "no such object",
    "409": "conflicts with the current state (duplicate, wrong state, outside a window)",
    "413": "upload over the size limit",
    "429": "too many attempts (failed logins); `Retry-After` says when to try again",
    "503": "a service or the database did not answer in time",
}
#: Statuses only operations with a request body can answer.
BODY_ONLY_STATUSES = {"413"}
PATH_PARAM = re.compile(r"<(?:([a-z]+):)?([a-zA-Z_]+)>")


class ErrorOut(Schema):
    """The one error shape of every 4xx/5xx answer (``services.gateway.http.error_payload``)."""

    error = f.String(
        required=True,
        metadata={
            "description": "stable code: bad_input, unauthenticated, forbidden, not_found, conflict, "
            "payload_too_large, service_unavailable"
        },
    )
    message = f.String(required=True, metadata={"description": "English / 中文"})
    fields = f.Dict(
        keys=f.String(),
        required=True,
        metadata={"description": "field name → messages (nested for nested fields)"},
    )
    details = f.Dict(
        keys=f.String(), required=True, metadata={"description": "figures and ids worth showing"}
    )


def request_body(content: dict, required: bool = True):
    """Decorator documenting the request body of a route that parses it itself (``body=None``), e.g. a
    multipart upload: ``content`` maps media types to ``{"schema": ...}`` (a marshmallow schema or a
    JSON schema)."""

    def mark(handler):
        handler.openapi_request_body = {"required": required, "content": content}
        return handler

    return mark


def _path(url: str) -> str:
    return PATH_PARAM.sub(r"{\2}", url)


def _path_params(url: str) -> list[dict]:
    params = []
    for converter, name in PATH_PARAM.findall(url):
        if converter == "int":
            schema = {"type": "integer", "minimum": 0}
        else:
            schema = {"type": "string", "pattern": ID_RE.pattern}
        params.append({"in": "path", "name": name, "required": True, "schema": schema})
    return params


def _without(schema, names: set[str]):
    """``schema`` without the fields in ``names`` (those the gateway fills itself), keeping any ``exclude``
    the route already gave."""
    cls = resolve_schema_cls(schema)
    given = set() if isinstance(schema, type) else set(schema.exclude or ())
    drop = (names & set(cls._declared_fields)) | given
    if not drop:
        return schema
    return cls(exclude=tuple(sorted(drop)))


def _schema_namer():
    """apispec's component names: the class name; ``<Name>_without_<fields>`` for a body less the fields
    the gateway fills; prefixed by the contract module (``NotifyUnreadOut``) when two contracts use one
    name. Same schema and exclusions → same name."""
    taken: dict[str, tuple] = {}

    def name(schema) -> str:
        cls = resolve_schema_cls(schema)
        excluded = () if isinstance(schema, type) else tuple(sorted(schema.exclude or ()))
        base = cls.__name__ + (f"_without_{'_'.join(excluded)}" if excluded else "")
        key = (cls, excluded)
        if taken.get(base, key) != key:
            base = cls.__module__.rsplit(".", 1)[-1].title() + base
        taken.setdefault(base, key)
        return base

    return name


def _success(meta: dict) -> dict:
    response = meta["response"]
    if meta["status"] == 204:
        return {"description": "done, no content"}
    if isinstance(response, str):
        return {
            "description": "the file, as a download",
            "content": {response: {"schema": {"type": "string", "format": "binary"}}},
        }
    if response is None:
        return {"description": "success", "content": {"application/json": {"schema": {}}}}
    if isinstance(response, list):
        schema = {"type": "array", "items": response[0]}
    else:
        schema = response
    return {"description": "success", "content": {"application/json": {"schema": schema}}}


def build_spec(entrypoints, server_url: str = "/") -> dict:
    """OpenAPI 3.0 for every ``@api`` entrypoint under /api/v1 (summary from the handler docstring)."""
    spec = APISpec(
        title="Democratic management API / 民主管理平台接口",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin(schema_name_resolver=_schema_namer())],
        info={
            "description": "Workers' congresses, proposals, Worker Home evaluations, elections and appraisals, "
            "factory-affairs disclosure, notifications, worker requests (接诉即办), worker surveys. Errors share "
            "one shape (ErrorOut)."
        },
        servers=[{"url": server_url}],
    )
    spec.components.schema("ErrorOut", schema=ErrorOut)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    paths: dict[str, dict] = {}
    routes = [e for e in entrypoints if hasattr(e, "url")]  # not the event handlers (token_revoked)
    for ep in sorted(routes, key=lambda e: (e.url, e.method)):
        if not ep.url.startswith("/api/v1/") or ep.url.endswith("openapi.json") or "<path:" in ep.url:
            continue
        meta = ep.meta
        handler = getattr(ep.container.service_cls, ep.method_name)
        doc = (handler.__doc__ or "").strip()
        summary = meta["summary"] or (doc.splitlines()[0] if doc else ep.method_name)
        path_names = {name for _, name in PATH_PARAM.findall(ep.url)}
        for method in ep.method.split(","):
            op: dict = {
                "operationId": ep.method_name
                if "," not in ep.method
                else f"{ep.method_name}_{method.lower()}",
                "summary": summary,
                "description": doc,
                "tags": list(meta["tags"]) or ["api"],
                "responses": {str(meta["status"]): _success(meta)},
            }
            params = _path_params(ep.url)
            if meta["query"] is not None:
                params.append({"in": "query", "schema": _without(meta["query"], path_names)})
            if meta.get("idempotent"):
                params.append(
                    {
                        "in": "header",
                        "name": IDEMPOTENCY_HEADER,
                        "required": False,
                        "description": "idempotency key: a retry with the same key returns what the first "
                        "made (1-100 visible ASCII characters)",
                        "schema": {"type": "string", "pattern": CLIENT_KEY_RE.pattern},
                    }
                )
            if params:
                op["parameters"] = params
            has_body = meta["body"] is not None or hasattr(handler, "openapi_request_body")
            if meta["body"] is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": _without(meta["body"], path_names)}},
                }
            elif has_body:
                op["requestBody"] = handler.openapi_request_body
            for status, text in ERROR_STATUSES.items():
                if status in BODY_ONLY_STATUSES and not has_body:
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
    return _numeric_limits(spec.to_dict())


def _numeric_limits(node):
    """Write the ``minimum``/``maximum`` of a ``number`` property as numbers: apispec serialises a
    ``fields.Decimal(as_string=True)`` field's Range limits as strings ("0", "100"), which is not valid
    OpenAPI. Returns ``node`` (changed in place)."""
    if isinstance(node, dict):
        if node.get("type") == "number":
            for key in ("minimum", "maximum"):
                if isinstance(node.get(key), str):
                    node[key] = float(node[key])
        for value in node.values():
            _numeric_limits(value)
    elif isinstance(node, list):
        for value in node:
            _numeric_limits(value)
    return node
