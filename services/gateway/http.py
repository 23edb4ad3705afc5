"""HTTP entrypoints of the gateway: ``@api`` (JSON under /api/v1/) and ``@page`` (HTML), with the one
mapping of errors to HTTP statuses.

Each request's identity is its token: ``Authorization: Bearer <token>`` (API clients) or the HttpOnly
cookie ``dm_token`` (browsers). The entrypoint puts the token into the worker's context data, so every
RPC the handler makes carries it and each service verifies it itself (:mod:`dmlib.auth`). A state
change authenticated by the cookie must carry the login's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``); bearer requests cannot be forged cross-site and need none.

Each routed request gets an id (``X-Request-Id`` in the answer, context data ``request_id`` for every
RPC and event that follows): the audit entries of the changes it makes carry it.

Error mapping (API → JSON ``{"error", "message", "fields", "details"}``; pages → the one page policy of
:mod:`services.gateway.pages`: a redirect to /login for 401, a "try again" page for 503, else the error
page):

- typed errors from any service (:mod:`dmlib.errors`) → their ``status`` (400/401/403/404/409/413/429/503);
  a 429 carries ``Retry-After`` (seconds, from ``details.retry_after_s``);
- malformed JSON or a body that is not an object → 400;
- database connection errors that escaped a service → 503;
- anything else → 500 with an incident id in the log; never a traceback in the answer.

Every answer of the web server, routed or not (werkzeug's own 404/405 too), carries
:data:`SECURITY_HEADERS` (CSP without inline script, no framing, nosniff, same-origin referrer),
``Cache-Control: no-store`` unless the route set its own (static files are public; nothing personal is
kept by a browser or proxy cache), and ``Strict-Transport-Security`` when config ``HSTS_SECONDS`` > 0
(set it only when the site is served over HTTPS): :class:`GatewayWebServer` adds them as WSGI middleware.

Request bodies (:func:`read_body`): every route reads at most ``MAX_JSON_BYTES`` (config, default 1 MiB);
a route that takes uploads names a larger config key with ``max_body=`` (the member import and disclosure
publishing take ``MAX_UPLOAD_BYTES``). A ``Content-Length`` over the limit is refused (413) before one byte
of the body is read; a body without one (chunked) is read only up to the limit, then refused (413). A JSON
body nested deeper than :data:`MAX_JSON_DEPTH` is refused (400) before it is parsed, so no
``RecursionError`` can reach the answer.

The client address (:func:`client_address`, for the login limits) is the socket peer; a
``X-Forwarded-For`` header is believed only hop by hop through the proxies listed in config
``TRUSTED_PROXIES`` (comma-separated addresses or networks, default none).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import uuid
from functools import partial
from urllib.parse import quote

from eventlet.event import Event
from nameko.exceptions import RemoteError
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.wrappers import Response

from dmlib.auth import CONTEXT_KEY, Identity, auth_secret, csrf_token, verify_token
from dmlib.errors import EXPECTED, BadInput, Forbidden, PayloadTooLarge, ServiceError, Unauthenticated

from .pages import Outcome, outcome

log = logging.getLogger(__name__)

COOKIE = "dm_token"
LANG_COOKIE = "lang"
LOCALES = ("zh-CN", "en")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
UNAVAILABLE_REMOTE = {"ServerSelectionTimeoutError", "AutoReconnect", "NetworkTimeout", "ConnectionFailure"}
DEFAULT_MAX_JSON_BYTES = 1024 * 1024
#: The header of a create's idempotency key (``@api(..., idempotent=True)``): the gateway passes it to the
#: service as the body's ``client_key``; a create retried with the same key (its answer lost to a timeout)
#: returns what the first made (``dmlib.storage.Store.once``; docs/architecture.md, "Retried creates").
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Deepest nesting of arrays and objects a JSON body may have (no contract nests deeper than 4).
MAX_JSON_DEPTH = 32
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


def trusted_networks(value) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse config ``TRUSTED_PROXIES``: "10.0.0.5, 172.16.0.0/12" (a list is accepted too)."""
    items = value if isinstance(value, list | tuple) else str(value or "").split(",")
    return tuple(ipaddress.ip_network(str(i).strip(), strict=False) for i in items if str(i).strip())


def client_address(request, trusted: tuple = ()) -> str | None:
    """The client's IP address: the socket peer, or, when the peer is a trusted proxy, the nearest
    address in ``X-Forwarded-For`` (read right to left) that is not itself a trusted proxy.

    A forged header from a client that is not a trusted proxy is ignored; a malformed entry stops the
    walk at the proxy that passed it on."""
    address = request.remote_addr
    if not trusted or not address:
        return address
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",") if a.strip()]
    while True:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address
        if not any(ip in net for net in trusted) or not forwarded:
            return address
        candidate = forwarded.pop()
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return address
        address = candidate


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body over {limit} bytes / 请求体过大", details={"limit_bytes": limit})


def read_body(request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes, else :class:`PayloadTooLarge` (413).

    With ``Content-Length`` the length is checked before anything is read; without it (``Transfer-Encoding:
    chunked``; eventlet's server de-chunks ``wsgi.input`` but does not set ``wsgi.input_terminated``, so
    werkzeug would see an empty body) at most ``limit + 1`` bytes are read and more is refused."""
    length = request.content_length
    if length is not None:
        if length > limit:
            raise too_large(limit)
        return request.get_data()
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        data = request.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise too_large(limit)
        return data
    return b""


_JSON_STRUCTURE = re.compile(rb'\\.|["\[\]{}]', re.DOTALL)


def json_depth_exceeds(text: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if the JSON text opens more than ``limit`` arrays/objects inside each other (brackets inside
    strings do not count). One scan for the structural characters (base64 uploads have none), no
    parsing, no recursion."""
    depth, in_string = 0, False
    for match in _JSON_STRUCTURE.finditer(text):
        token = match.group()
        if len(token) == 2:  # an escape: only meaningful inside a string
            continue
        if token == b'"':
            in_string = not in_string
        elif in_string:
            continue
        elif token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def request_locale(request) -> str:
    """zh-CN unless the ``lang`` cookie or query, or the browser's first language, says English."""
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LOCALES:
        return chosen
    accept = request.headers.get("Accept-Language", "")
    return "en" if accept.lower().startswith("en") else "zh-CN"


def error_payload(exc: BaseException) -> tuple[int, dict]:
    """The one mapping of an exception to (HTTP status, JSON body)."""
    if isinstance(exc, RequestEntityTooLarge):  # werkzeug's own check of a form over the limit
        exc = too_large(getattr(exc, "limit", 0) or 0)
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


def error_headers(status: int, payload: dict) -> dict:
    """Headers an error answer needs: ``Retry-After`` for a 429."""
    retry = (payload.get("details") or {}).get("retry_after_s")
    return {"Retry-After": str(int(retry))} if status == 429 and retry else {}


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    body = "" if payload is None else json.dumps(payload, ensure_ascii=False, default=str)
    response = Response(body, status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


class SecurityHeaders:
    """WSGI middleware: adds ``headers`` to every response that does not set them itself."""

    def __init__(self, app, headers: dict[str, str]):
        self.app = app
        self.headers = headers

    def __call__(self, environ, start_response):
        def start(status, headers, *exc_info):
            present = {k.lower() for k, _ in headers}
            extra = [(k, v) for k, v in self.headers.items() if k.lower() not in present]
            return start_response(status, [*headers, *extra], *exc_info)

        return self.app(environ, start)


class GatewayWebServer(WebServer):
    """nameko's web server with :class:`SecurityHeaders` around it (config ``HSTS_SECONDS``)."""

    def get_wsgi_app(self):
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
        hsts = int(self.container.config.get("HSTS_SECONDS") or 0)
        if hsts > 0:
            headers["Strict-Transport-Security"] = f"max-age={hsts}; includeSubDomains"
        return SecurityHeaders(super().get_wsgi_app(), headers)


class GatewayEntrypoint(HttpRequestHandler):
    """Shared by ``@api`` and ``@page``: identity, locale and CSRF into the worker; security headers out.

    Keyword options (also read by the OpenAPI builder): ``summary``, ``body`` (contract schema of the
    request body), ``query`` (schema of the query string), ``response`` (schema, or ``[schema]`` for a
    list), ``status`` (success status), ``tags``, ``public`` (no login needed), ``csrf`` (default True), ``max_body`` (the config key of this
    route's body limit, default ``MAX_JSON_BYTES``), ``idempotent`` (a create that takes the
    ``Idempotency-Key`` header: :data:`IDEMPOTENCY_HEADER`).
    """

    server = GatewayWebServer()

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
        max_body="MAX_JSON_BYTES",
        idempotent=False,
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
            "idempotent": idempotent,
        }
        self.csrf = csrf
        self.max_body_key = max_body
        kwargs.setdefault("expected_exceptions", EXPECTED)  # typed 4xx are answers, not errors to log loudly
        super().__init__(method, url, **kwargs)

    def setup(self):
        config = self.container.config
        self.secret = auth_secret(config)
        self.trusted_proxies = trusted_networks(config.get("TRUSTED_PROXIES"))
        self.max_body = int(config.get(self.max_body_key) or DEFAULT_MAX_JSON_BYTES)
        identity = next((d for d in self.container.dependencies if isinstance(d, Identity)), None)
        self.verify = identity.verify if identity is not None else partial(verify_token, self.secret)
        super().setup()

    def check_csrf(self, request, token: str | None, via: str | None) -> None:
        if request.method in SAFE_METHODS or via != "cookie" or not self.csrf:
            return
        try:
            actor = self.verify(token)
        except Unauthenticated:
            return  # the handler answers 401 itself
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        if not hmac.compare_digest(sent, csrf_token(self.secret, actor)):
            raise Forbidden(
                "missing or wrong CSRF token; reload the page / 表单已失效，请刷新页面后重试", reason="csrf"
            )

    def handle_request(self, request):
        request.shallow = False
        request.request_id = uuid.uuid4().hex
        request.max_content_length = self.max_body  # werkzeug refuses a larger form or upload (413)
        try:
            if request.content_length is not None and request.content_length > self.max_body:
                raise too_large(self.max_body)  # before anything reads the body
            token, via = request_token(request)
            locale = request_locale(request)
            request.locale = locale
            request.client_address = client_address(request, self.trusted_proxies)
            self.check_csrf(request, token, via)
            if not self.meta["public"]:
                self.verify(
                    token
                )  # 401 (also when logged out) / the login redirect, whatever the handler does
            # the request id travels with every RPC and event that follows (audit entries record it)
            context_data = {CONTEXT_KEY: token, "language": locale, "request_id": request.request_id}
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
        response.headers["X-Request-Id"] = request.request_id  # the id audit entries of this request carry
        return response  # the security headers are added by GatewayWebServer


class ApiEndpoint(GatewayEntrypoint):
    """A JSON endpoint. The handler gets ``(request, **path_values)`` plus ``body`` (the parsed JSON
    object) when the route declares a ``body`` schema; it returns a JSON-able value, or
    ``(status, value)``, or a werkzeug ``Response``."""

    def get_entrypoint_parameters(self, request):
        args, kwargs = super().get_entrypoint_parameters(request)
        if self.meta["body"] is not None:
            kwargs = {**kwargs, "body": self.parse_body(request, self.max_body)}
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if self.meta["idempotent"] and key is not None:
                kwargs["body"] = {**kwargs["body"], "client_key": key}  # validated by the contract
        return args, kwargs

    @staticmethod
    def parse_body(request, limit: int = DEFAULT_MAX_JSON_BYTES) -> dict:
        """The JSON object of the body: 413 over ``limit`` bytes (:func:`read_body`), 400 when missing,
        malformed, nested deeper than :data:`MAX_JSON_DEPTH` or not an object."""
        data = read_body(request, limit)
        if not data:
            raise BadInput("a JSON object is required / 需要 JSON 对象", fields={"_body": ["missing"]})
        if json_depth_exceeds(data):
            raise BadInput(
                f"JSON nested deeper than {MAX_JSON_DEPTH} levels / JSON 嵌套层数过多",
                fields={"_body": [f"nested deeper than {MAX_JSON_DEPTH}"]},
            )
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
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
        return json_response(payload, status, error_headers(status, payload))


class PageEndpoint(GatewayEntrypoint):
    """An HTML page. The handler returns a werkzeug ``Response`` (usually ``self.web.render(...)``)."""

    def response_from_result(self, result):
        return result if isinstance(result, Response) else Response(str(result), mimetype="text/html")

    def response_from_exception(self, exc, request=None):
        """The pages' one policy (:data:`services.gateway.pages.POLICY`) for an error that left the
        handler: 401 → /login, 503 → the "try again" page, anything else → the error page with the
        navigation (a form's own refusals are shown by the handler: :meth:`Pages.attempt`)."""
        status, payload = error_payload(exc)
        if outcome(status) is Outcome.LOGIN and request is not None:
            target = request.full_path.rstrip("?") if request.method == "GET" else "/"
            response = Response(status=303, headers={"Location": f"/login?next={quote(target)}"})
            if request.cookies.get(COOKIE):
                response.delete_cookie(COOKIE, path="/")
            return response
        web = next((d for d in self.container.dependencies if getattr(d, "is_web", False)), None)
        locale = getattr(request, "locale", "zh-CN")
        if web is None:
            response = Response(payload["message"], status=status, mimetype="text/plain")
        else:
            token = request_token(request)[0] if request is not None else None
            response = web.render_error(status, payload, locale, token)
        response.headers.extend(error_headers(status, payload))
        return response


api = ApiEndpoint.decorator
page = PageEndpoint.decorator
