"""HTTP entrypoints of the gateway: ``@api`` (JSON under /api/v1/) and ``@page`` (HTML), with the one
mapping of errors to HTTP statuses.

Each request's identity is its token: ``Authorization: Bearer <token>`` (API clients) or the HttpOnly
cookie ``dm_token`` (browsers). The entrypoint puts the token into the worker's context data, so every
RPC the handler makes carries it and each service verifies it itself (:mod:`dmlib.auth`). A state
change authenticated by the cookie must carry the login's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``); bearer requests cannot be forged cross-site and need none.

Error mapping (API → JSON ``{"error", "message", "fields", "details"}``; pages → an error page, and a
redirect to /login for 401):

- typed errors from any service (:mod:`dmlib.errors`) → their ``status`` (400/401/403/404/409/413/503);
- malformed JSON or a body that is not an object → 400;
- database connection errors that escaped a service → 503;
- anything else → 500 with an incident id in the log; never a traceback in the answer.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from functools import partial
from urllib.parse import quote

from eventlet.event import Event
from nameko.exceptions import RemoteError
from nameko.web.handlers import HttpRequestHandler
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from dmlib.auth import CONTEXT_KEY, auth_secret, csrf_token, verify_token
from dmlib.errors import EXPECTED, BadInput, Forbidden, ServiceError, Unauthenticated

log = logging.getLogger(__name__)

COOKIE = "dm_token"
LANG_COOKIE = "lang"
LOCALES = ("zh-CN", "en")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
UNAVAILABLE_REMOTE = {"ServerSelectionTimeoutError", "AutoReconnect", "NetworkTimeout", "ConnectionFailure"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


def request_token(request) -> tuple[str | None, str | None]:
    """(token, how it came: "bearer" | "cookie" | None)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, "bearer"
    token = request.cookies.get(COOKIE)
    return (token, "cookie") if token else (None, None)


def request_locale(request) -> str:
    """zh-CN unless the ``lang`` cookie or query, or the browser's first language, says English."""
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    accept = request.headers.get("Accept-Language", "")
    return "en" if accept.lower().startswith("en") else "zh-CN"


def error_payload(exc: BaseException) -> tuple[int, dict]:
    """The one mapping of an exception to (HTTP status, JSON body)."""
    if isinstance(exc, ServiceError):
        return exc.status, exc.to_dict()
    if isinstance(exc, BadRequest):
        return 400, {
            "error": "bad_input",
            "message": f"bad request / 请求有误: {exc.description}",
            "fields": {},
            "details": {},
        }
    if isinstance(exc, RemoteError) and exc.exc_type in UNAVAILABLE_REMOTE:
        return 503, {
            "error": "service_unavailable",
            "message": "database unavailable / 数据库暂不可用",
            "fields": {},
            "details": {},
        }
    incident = uuid.uuid4().hex[:12]
    log.error("unhandled error, incident %s", incident, exc_info=exc)
    return 500, {
        "error": "internal_error",
        "message": f"internal error, incident {incident} / 系统内部错误",
        "fields": {},
        "details": {"incident": incident},
    }


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    body = "" if payload is None else json.dumps(payload, ensure_ascii=False, default=str)
    response = Response(body, status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


class GatewayEntrypoint(HttpRequestHandler):
    """Shared by ``@api`` and ``@page``: identity, locale and CSRF into the worker; security headers out.

    Keyword options (also read by the OpenAPI builder): ``summary``, ``body`` (contract schema of the
    request body), ``query`` (schema of the query string), ``response`` (schema, or ``[schema]`` for a
    list), ``status`` (success status), ``tags``, ``public`` (no login needed), ``csrf`` (default True).
    """

    def __init__(
        self,
        method,
        url,
        *,
        summary=None,
        body=None,
        query=None,
        response=None,
        status=200,
        tags=(),
        public=False,
        csrf=True,
        **kwargs,
    ):
        self.meta = {
            "summary": summary,
            "body": body,
            "query": query,
            "response": response,
            "status": status,
            "tags": tags,
            "public": public,
        }
        self.csrf = csrf
        kwargs.setdefault("expected_exceptions", EXPECTED)  # typed 4xx are answers, not errors to log loudly
        super().__init__(method, url, **kwargs)

    def setup(self):
        self.secret = auth_secret(self.container.config)
        super().setup()

    def check_csrf(self, request, token: str | None, via: str | None) -> None:
        if request.method in SAFE_METHODS or via != "cookie" or not self.csrf:
            return
        try:
            actor = verify_token(self.secret, token)
        except Unauthenticated:
            return  # the handler answers 401 itself
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        if not hmac.compare_digest(sent, csrf_token(self.secret, actor)):
            raise Forbidden("missing or wrong CSRF token; reload the page / 表单已失效，请刷新页面后重试")

    def handle_request(self, request):
        request.shallow = False
        try:
            token, via = request_token(request)
            locale = request_locale(request)
            request.locale = locale
            self.check_csrf(request, token, via)
            if not self.meta["public"]:
                verify_token(self.secret, token)  # 401 / the login redirect, whatever the handler does
            context_data = {CONTEXT_KEY: token, "language": locale}
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            event = Event()
            self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data={k: v for k, v in context_data.items() if v},
                handle_result=partial(self.handle_result, event),
            )
            response = self.response_from_result(event.wait())
        except Exception as exc:  # noqa: BLE001 - the one error mapping
            response = self.response_from_exception(exc, request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response


class ApiEndpoint(GatewayEntrypoint):
    """A JSON endpoint. The handler gets ``(request, **path_values)`` plus ``body`` (the parsed JSON
    object) when the route declares a ``body`` schema; it returns a JSON-able value, or
    ``(status, value)``, or a werkzeug ``Response``."""

    def get_entrypoint_parameters(self, request):
        args, kwargs = super().get_entrypoint_parameters(request)
        if self.meta["body"] is not None:
            kwargs = {**kwargs, "body": self.parse_body(request)}
        return args, kwargs

    @staticmethod
    def parse_body(request) -> dict:
        if not request.get_data():
            raise BadInput("a JSON object is required / 需要 JSON 对象", fields={"_body": ["missing"]})
        try:
            body = json.loads(request.get_data())
        except (ValueError, UnicodeDecodeError):
            raise BadInput("malformed JSON / JSON 格式错误", fields={"_body": ["malformed JSON"]}) from None
        if not isinstance(body, dict):
            raise BadInput(
                "the body must be a JSON object / 请求体须为 JSON 对象", fields={"_body": ["not an object"]}
            )
        return body

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        status = self.meta["status"]
        if isinstance(result, tuple):
            status, result = result
        return json_response(result, status)

    def response_from_exception(self, exc, request=None):
        status, payload = error_payload(exc)
        return json_response(payload, status)


class PageEndpoint(GatewayEntrypoint):
    """An HTML page. The handler returns a werkzeug ``Response`` (usually ``self.web.render(...)``)."""

    def response_from_result(self, result):
        return result if isinstance(result, Response) else Response(str(result), mimetype="text/html")

    def response_from_exception(self, exc, request=None):
        status, payload = error_payload(exc)
        if status == 401 and request is not None:
            target = request.full_path.rstrip("?") if request.method == "GET" else "/"
            response = Response(status=303, headers={"Location": f"/login?next={quote(target)}"})
            if request.cookies.get(COOKIE):
                response.delete_cookie(COOKIE, path="/")
            return response
        web = next((d for d in self.container.dependencies if getattr(d, "is_web", False)), None)
        locale = getattr(request, "locale", "zh-CN")
        if web is None:
            return Response(payload["message"], status=status, mimetype="text/plain")
        return web.render_error(status, payload, locale)


api = ApiEndpoint.decorator
page = PageEndpoint.decorator
