"""The page toolkit: what every capability's pages use to answer a browser, in one way each.

- **One policy for service errors** (:data:`POLICY`, :func:`outcome`): 401 → the login page; 403, 404
  (and 429) → the error page with the navigation; 400, 409, 413 on a form → the form again with the
  message next to its field or at the top; 503 → a plain "try again" page; anything else → the error page
  with an incident id. :meth:`Pages.attempt` applies it to one call of a handler (the form's refusals come
  back as a :class:`Refusal`, everything else goes on to the entrypoint, which applies the same table:
  :meth:`services.gateway.http.PageEndpoint.response_from_exception`). Decisions use the error's status
  and ``details["reason"]`` code, never its message text.
- **Form errors** (:func:`form_errors`): field messages flattened to ``{field: text}`` in the page's
  language, a refusal without fields under ``"form"`` (shown at the top). Every text a person reads
  comes from the error-code catalogue (:mod:`services.gateway.wording`, docs/errors.md), never from the
  service's message.
- **One kind of notice** (:meth:`Pages.redirect`): a 303 carrying at most one notice ``{kind: "ok" |
  "error", text, ref}`` in a short-lived signed cookie (:data:`NOTICE_COOKIE`, itsdangerous, 60 s), shown
  by ``_notice.html`` on the next page rendered and cleared there. Nothing of it is in the URL, so a
  reload or a shared link shows no stale message and nobody can put words on a page with a crafted link.
- **Confirmations** of irreversible actions: the ``confirm`` macro of ``_pages.html`` (a required "I
  understand this cannot be undone" box next to the button) and :func:`require_confirmed` on the
  handler, so that a form posted without the box is refused with the message next to it.
- **Exports**: :func:`download` is the one way to answer a file (``Content-Disposition`` with an ASCII
  name and the UTF-8 one, never cached); spreadsheet content is made by :mod:`dmlib.exports`.
"""

from __future__ import annotations

import base64
import enum
import mimetypes
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from dmlib.auth import csrf_token, verify_token
from dmlib.errors import BadInput, NotFound, PayloadTooLarge, ServiceError, Unauthenticated

from .wording import field_label, field_text, in_language, refusal_text  # noqa: F401 (in_language: one home)

HERE = os.path.dirname(__file__)
STATIC_DIR = os.path.join(HERE, "static")
NOTICE_COOKIE = "dm_notice"
#: Seconds a notice lives: long enough for the redirect it rides on, short enough never to linger.
NOTICE_MAX_AGE = 60
NOTICE_SALT = "dm-notice"
CONFIRM_FIELD = "confirmed"


class Outcome(enum.Enum):
    """What a page does with a service error."""

    LOGIN = "login"  # 303 to /login?next=…
    ERROR_PAGE = "error_page"  # the error page, with the navigation
    FORM = "form"  # the form again, the message next to its field or at the top
    UNAVAILABLE = "unavailable"  # a plain "try again in a moment" page


#: The one policy of the pages for service errors, by HTTP status (:mod:`dmlib.errors`).
POLICY: dict[int, Outcome] = {
    400: Outcome.FORM,
    401: Outcome.LOGIN,
    403: Outcome.ERROR_PAGE,
    404: Outcome.ERROR_PAGE,
    409: Outcome.FORM,
    413: Outcome.FORM,
    429: Outcome.ERROR_PAGE,
    503: Outcome.UNAVAILABLE,
}


def outcome(status: int) -> Outcome:
    """The page outcome of an error status: :data:`POLICY`, else the error page (a 500 with its incident)."""
    return POLICY.get(status, Outcome.ERROR_PAGE)


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _leaves(v)]
    if isinstance(value, list | tuple):
        return [m for v in value for m in _leaves(v)]
    return [str(value)]


def form_errors(
    exc: ServiceError,
    locale: str | None = None,
    gettext: Callable[[str], str] | None = None,
    expand: tuple[str, ...] = (),
) -> dict[str, str]:
    """A refusal's field messages for a form: ``{"title": "…", "form": "…"}``, in the page's language
    from the catalogue (:mod:`services.gateway.wording`), never the service's text.

    Nested messages are joined (``attachments.0.filename`` → ``attachments``); a field named in
    ``expand`` whose messages are a dict is spread into its keys (the evaluation form's ``stars`` →
    ``c1``, ``c2``…). Each message is :func:`services.gateway.wording.field_text`. A refusal without
    field messages, or a 413, gives the catalogue text of its code under ``"form"`` (shown at the top of
    the form)."""
    gettext = gettext or (lambda s: s)
    joiner = "；" if locale == "zh-CN" else "; "

    def text(v) -> str:
        shown = dict.fromkeys(field_text(m, gettext, locale) for m in _leaves(v))  # each sentence once
        return joiner.join(shown)

    errors: dict[str, str] = {}
    for key, value in exc.fields.items():
        if key in expand and isinstance(value, dict):
            errors.update({k: text(v) for k, v in value.items()})
        else:
            errors[key] = text(value)
    if exc.status == 413 or not errors:
        errors.setdefault("form", refusal_text(exc, gettext))
    return errors


@dataclass(frozen=True)
class Refusal:
    """A service's refusal of a form (400, 409 or 413): its status, ``reason`` code (``details.reason``),
    the catalogue text of its code in the page's language, the form errors and the details (figures worth showing)."""

    status: int
    reason: str | None
    message: str
    errors: dict[str, str]
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Attempt:
    """What :meth:`Pages.attempt` gives back: the call's ``value``, or its ``refusal``."""

    value: Any = None
    refusal: Refusal | None = None


def notice_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=NOTICE_SALT)


def dump_notice(secret: str, kind: str, text: str, ref: str | None = None) -> str:
    """The signed cookie value of a notice (``kind``: "ok" or "error")."""
    return notice_serializer(secret).dumps({"kind": kind, "text": text, "ref": ref})


def load_notice(secret: str, value: str | None, max_age: int = NOTICE_MAX_AGE) -> dict | None:
    """The notice of a cookie value, or None when absent, forged, altered or older than ``max_age`` s."""
    if not value:
        return None
    try:
        notice = notice_serializer(secret).loads(value, max_age=max_age)
    except BadSignature:  # includes SignatureExpired
        return None
    return notice if isinstance(notice, dict) and notice.get("kind") in ("ok", "error") else None


def require_confirmed(request) -> None:
    """Refuse (400, field ``confirmed``) an irreversible action posted without its confirmation box (the
    ``confirm`` macro of ``templates/_pages.html``)."""
    if request.form.get(CONFIRM_FIELD) != "on":
        raise BadInput(
            "confirm that this cannot be undone / 请确认此操作不可撤销",
            fields={CONFIRM_FIELD: ["Tick the box to confirm"]},
            reason="confirm_required",
        )


def download(
    data: bytes | str, mimetype: str, filename: str, inline: bool = False, ascii_name: str | None = None
) -> Response:
    """A file answer: ``Content-Disposition`` (attachment unless ``inline``) with an ASCII name
    (``ascii_name``, else ``filename`` with "_" for other characters) and the UTF-8 one (RFC 6266),
    ``Cache-Control: private, no-store``. Spreadsheets are made with :mod:`dmlib.exports` (no cell can run
    as a formula)."""
    ascii_name = ascii_name or filename.encode("ascii", "replace").decode().replace("?", "_")
    ascii_name = ascii_name.replace('"', "_")
    disposition = "inline" if inline else "attachment"
    return Response(
        data,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


class Pages:
    """The toolkit bound to one request's worker (what :class:`services.gateway.web.Web` injects):
    render, redirect with a notice, attempt a call under the policy, static files."""

    def __init__(self, provider, worker_ctx):
        self.provider = provider
        self.cookie_secure = provider.cookie_secure
        self.max_upload_bytes = provider.max_upload_bytes
        self.entrypoints = worker_ctx.container.entrypoints
        self.locale = worker_ctx.data.get("language") or "zh-CN"
        self.token = worker_ctx.data.get("auth_token")

    @property
    def gettext(self):
        return self.provider.context(self.locale)["_"]

    def field_label(self, name: str) -> str:
        """A field's name in words in the page's language (:func:`services.gateway.wording.field_label`)."""
        return field_label(name, self.provider.context(self.locale)["pgettext"])

    # ----- pages -----------------------------------------------------------------------------------
    def render(self, template: str, status: int = 200, request=None, **context) -> Response:
        """Render ``template`` with the locale helpers, the logged-in actor (or None), its CSRF token and
        the pending notice (read from the request's cookie and cleared by this answer)."""
        actor, csrf = None, ""
        if self.token:
            try:
                a = verify_token(self.provider.secret, self.token)
                actor, csrf = a, csrf_token(self.provider.secret, a)
            except Unauthenticated:
                pass
        cookie = request.cookies.get(NOTICE_COOKIE) if request is not None else None
        html = self.provider.env.get_template(template).render(
            actor=actor,
            csrf_token=csrf,
            path=request.path if request is not None else "/",
            notice=load_notice(self.provider.secret, cookie),
            **self.provider.context(self.locale),
            **context,
        )
        response = Response(html, status=status, mimetype="text/html")
        if cookie:
            response.delete_cookie(NOTICE_COOKIE, path="/")
        return response

    def redirect(self, target: str, notice: str | None = None, kind: str = "ok", ref: str | None = None):
        """303 to ``target`` (a path of this site), carrying ``notice`` (already in the page's language)
        to the next page rendered; ``ref`` is an id the notice is about (``data-ref`` on it)."""
        response = Response(status=303, headers={"Location": target})
        if notice:
            response.set_cookie(
                NOTICE_COOKIE,
                dump_notice(self.provider.secret, kind, notice, ref),
                max_age=NOTICE_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=self.cookie_secure,
                path="/",
            )
        return response

    # ----- the error policy ------------------------------------------------------------------------
    def refusal(self, exc: ServiceError, expand: tuple[str, ...] = ()) -> Refusal:
        """A form refusal of ``exc`` in the page's language."""
        return Refusal(
            status=exc.status,
            reason=exc.details.get("reason"),
            message=refusal_text(exc, self.gettext),
            errors=form_errors(exc, self.locale, self.gettext, expand),
            details=exc.details,
        )

    def attempt(
        self, call: Callable, *args, expand: tuple[str, ...] = (), also: tuple[int, ...] = (), **kwargs
    ) -> Attempt:
        """Run ``call(*args, **kwargs)`` under :data:`POLICY`: a refusal whose outcome is
        :attr:`Outcome.FORM` comes back as ``Attempt(refusal=…)`` for the handler to show its form
        again; every other error goes on to the entrypoint (login, error page, try-again page).

        ``also``: further statuses the form shows itself. Only the login and password forms use it: a
        401 there is the wrong password the form asks for, not a lost login (and the login form shows
        the failed-login limit's 429 with its minutes)."""
        try:
            return Attempt(value=call(*args, **kwargs))
        except ServiceError as exc:  # the one place a page catches a service error
            if outcome(exc.status) is not Outcome.FORM and exc.status not in also:
                raise
            return Attempt(refusal=self.refusal(exc, expand))

    def visible(self, call: Callable, *args, default: Any = None, **kwargs) -> Any:
        """A read of a page that shows ``default`` (nothing) instead of the error page when the object is
        refused or hidden from the caller (403, 404), e.g. a congress the caller cannot read on the
        proposals home; every other error follows the policy."""
        try:
            return call(*args, **kwargs)
        except ServiceError as exc:
            if exc.status not in (403, 404):
                raise
            return default

    def act(self, target: str, call: Callable, *args, done: str | None = None, **kwargs) -> Response:
        """A button's action (no fields of its own): run it and go back to ``target`` with ``done``, or
        with the refusal's message (a 409 with its figures, a 400) at the top of that page."""
        result = self.attempt(call, *args, **kwargs)
        if result.refusal is not None:
            return self.redirect(target, result.refusal.message, kind="error")
        return self.redirect(target, done)

    # ----- files -----------------------------------------------------------------------------------
    def static(self, path: str) -> Response:
        """A file under ``static/`` (cached in memory), with a long cache lifetime."""
        full = os.path.normpath(os.path.join(STATIC_DIR, path))
        if not full.startswith(STATIC_DIR + os.sep) or not os.path.isfile(full):
            raise NotFound("no such file / 文件不存在")
        cache = self.provider.static_cache
        if full not in cache:
            with open(full, "rb") as f:
                cache[full] = f.read()
        mimetype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        return Response(cache[full], mimetype=mimetype, headers={"Cache-Control": "public, max-age=3600"})


def form_client_key(request) -> str | None:
    """The hidden ``client_key`` of a create's form (``{{ client_key(values) }}`` in its template,
    :func:`services.gateway.web.client_key`), passed to the service so that a submit sent twice makes one
    object; None when the form has none."""
    return request.form.get("client_key") or None


def check_upload(request, limit: int) -> None:
    """Refuse a multipart upload over ``limit`` bytes (its ``Content-Length``) before a file is read:
    :class:`PayloadTooLarge` (413) with ``details.limit_bytes``."""
    if request.content_length and request.content_length > limit:
        raise PayloadTooLarge(
            f"upload over {limit // (1024 * 1024)} MiB / 上传文件过大", details={"limit_bytes": limit}
        )


def form_files(request, field: str) -> list[dict]:
    """The files chosen in a form's file field as the services' attachment input:
    ``[{filename, content_b64}]`` (empty choices left out). Call :func:`check_upload` first."""
    return [
        {"filename": x.filename, "content_b64": base64.b64encode(x.read()).decode()}
        for x in request.files.getlist(field)
        if x and x.filename
    ]
