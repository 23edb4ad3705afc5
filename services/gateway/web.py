"""The gateway's page rendering: one Jinja2 environment per container with Babel translations.

Message ids in templates and code are English; ``translations/zh_CN/LC_MESSAGES/<domain>.po`` carry the
Chinese, one catalogue per capability (``messages`` for the foundation, ``evaluations``, ``congress``, …),
merged at start (compiled to ``.mo`` by ``scripts/setup.sh``). Chinese is the default locale (DESIGN: Chinese first, with an English switch). Templates call ``_("...")``; the
translation is chosen per request and passed in the render context (never installed globally, so
concurrent requests in different languages cannot mix).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime

from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations
from jinja2 import Environment, PackageLoader, select_autoescape
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from dmlib.auth import csrf_token, verify_token
from dmlib.errors import Unauthenticated, from_dict

from .pages import Outcome, Pages, form_errors, outcome
from .wording import INCIDENT, field_label, in_language, refusal_text

HERE = os.path.dirname(__file__)
BABEL_LOCALE = {"zh-CN": "zh_Hans_CN", "en": "en"}


def load_translations() -> dict[str, NullTranslations]:
    """zh-CN: every compiled catalogue under translations/zh_CN merged; en: the message ids themselves."""
    folder = os.path.join(HERE, "translations", "zh_CN", "LC_MESSAGES")
    zh = Translations()
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.endswith(".mo"):
            with open(os.path.join(folder, name), "rb") as f:
                zh.merge(Translations(f))
    return {"zh-CN": zh, "en": NullTranslations()}


def shown_error(payload: dict, locale: str, gettext, pgettext) -> dict:
    """What the error page shows of an error body (:func:`services.gateway.http.error_payload`): the
    catalogue text of its code (with the incident number of a 500), its field messages under the
    fields' names in words; never the service's message (:mod:`services.gateway.wording`)."""
    exc = from_dict(payload)
    message = refusal_text(exc, gettext)
    if exc.details.get("incident"):
        message += " " + gettext(INCIDENT, incident=exc.details["incident"])
    fields = {
        field_label(k, pgettext): v
        for k, v in form_errors(exc, locale, gettext).items()
        if k != "form" and exc.fields
    }
    return {"error": exc.code, "message": message, "fields": fields, "details": exc.details}


def client_key(values=None) -> str:
    """The hidden ``client_key`` of a create's form (templates: ``{{ client_key(values) }}``): the key the
    form was first shown with when it comes back with an error, else a fresh one. A submit sent twice (a
    double click, a reload after a timeout) then makes one object (``dmlib.storage.Store.once``)."""
    kept = (values or {}).get("client_key") if hasattr(values, "get") else None
    return kept if isinstance(kept, str) and kept else uuid.uuid4().hex


class Web(DependencyProvider):
    """Injects the page toolkit (:class:`services.gateway.pages.Pages`) bound to the request's locale and
    login."""

    is_web = True

    def setup(self):
        self.env = Environment(
            loader=PackageLoader("services.gateway", "templates"),
            autoescape=select_autoescape(),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals["client_key"] = client_key
        self.translations = load_translations()
        self.secret = None
        self.static_cache: dict[str, bytes] = {}

    def start(self):
        from dmlib.auth import auth_secret

        config = self.container.config
        self.secret = auth_secret(config)
        self.cookie_secure = str(config.get("COOKIE_SECURE") or "").lower() in ("1", "true", "yes")
        self.max_upload_bytes = int(config.get("MAX_UPLOAD_BYTES") or 64 * 1024 * 1024)

    def get_dependency(self, worker_ctx):
        return Pages(self, worker_ctx)

    def context(self, locale: str) -> dict:
        t = self.translations.get(locale) or self.translations["zh-CN"]
        babel_locale = BABEL_LOCALE[locale]

        def gettext(message: str, **values) -> str:
            text = t.gettext(message)
            return text % values if values else text

        def term(kind: str, key: str) -> str:
            """A coded term's name (``object:worker_home``, ``role:…``, ``action:…``): the catalogue's,
            else (English has no catalogue) the key in words, never the code with its prefix."""
            text = t.gettext(f"{kind}:{key}")
            return key.replace("_", " ").replace(".", ": ") if text == f"{kind}:{key}" else text

        return {
            "_": gettext,
            "term": term,
            "ngettext": t.ngettext,
            "pgettext": t.pgettext,
            "in_language": in_language,
            "locale": locale,
            "other_locale": "en" if locale == "zh-CN" else "zh-CN",
            "fmt_dt": lambda v, f="yyyy-MM-dd HH:mm": (
                format_datetime(
                    datetime.fromisoformat(v) if isinstance(v, str) else v, f, locale=babel_locale
                )
                if v
                else ""
            ),
            "fmt_num": lambda v: format_decimal(v, locale=babel_locale),
            "fmt_pct": lambda v: format_percent(v, format="#,##0.0%", locale=babel_locale),
        }

    def render_error(self, status: int, payload: dict, locale: str, token: str | None = None) -> Response:
        """The error page of :data:`services.gateway.pages.POLICY`: ``unavailable.html`` (a plain "try
        again in a moment") for a 503, else ``error.html`` with the navigation of the caller's login."""
        actor, csrf = None, ""
        if token and self.secret:
            try:
                actor = verify_token(self.secret, token)
                csrf = csrf_token(self.secret, actor)
            except Unauthenticated:
                pass
        template = "unavailable.html" if outcome(status) is Outcome.UNAVAILABLE else "error.html"
        context = self.context(locale)
        html = self.env.get_template(template).render(
            status=status, error=shown_error(payload, locale, context["_"], context["pgettext"]),
            actor=actor, csrf_token=csrf, path="/", notice=None, **context,
        )  # fmt: skip
        return Response(html, status=status, mimetype="text/html")
