"""The gateway's page rendering: one Jinja2 environment per container with Babel translations.

Message ids in templates and code are English; ``translations/zh_CN/LC_MESSAGES/<domain>.po`` carry the
Chinese, one catalogue per capability (``messages`` for the foundation, ``evaluations``, ``congress``, …),
merged at start (compiled to ``.mo`` by ``scripts/setup.sh``). Chinese is the default locale (DESIGN: Chinese first, with an English switch). Templates call ``_("...")``; the
translation is chosen per request and passed in the render context (never installed globally, so
concurrent requests in different languages cannot mix).
"""

from __future__ import annotations

import mimetypes
import os
from datetime import datetime

from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations
from jinja2 import Environment, PackageLoader, select_autoescape
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from dmlib.auth import csrf_token, verify_token
from dmlib.errors import NotFound, Unauthenticated

HERE = os.path.dirname(__file__)
STATIC_DIR = os.path.join(HERE, "static")
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


class Web(DependencyProvider):
    """Injects :class:`Pages` (render, static files) bound to the request's locale and login."""

    is_web = True

    def setup(self):
        self.env = Environment(
            loader=PackageLoader("services.gateway", "templates"),
            autoescape=select_autoescape(),
            trim_blocks=True,
            lstrip_blocks=True,
        )
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

        return {
            "_": gettext,
            "ngettext": t.ngettext,
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

    def render_error(self, status: int, payload: dict, locale: str) -> Response:
        html = self.env.get_template("error.html").render(
            status=status, error=payload, actor=None, csrf_token="", path="/", **self.context(locale)
        )
        return Response(html, status=status, mimetype="text/html")


class Pages:
    def __init__(self, provider: Web, worker_ctx):
        self.provider = provider
        self.cookie_secure = provider.cookie_secure
        self.max_upload_bytes = provider.max_upload_bytes
        self.entrypoints = worker_ctx.container.entrypoints
        self.locale = worker_ctx.data.get("language") or "zh-CN"
        self.token = worker_ctx.data.get("auth_token")

    @property
    def gettext(self):
        return self.provider.context(self.locale)["_"]

    def render(self, template: str, status: int = 200, request=None, **context) -> Response:
        """Render ``template`` with the locale helpers, the logged-in actor (or None) and its CSRF token."""
        actor, csrf = None, ""
        if self.token:
            try:
                a = verify_token(self.provider.secret, self.token)
                actor, csrf = a, csrf_token(self.provider.secret, a)
            except Unauthenticated:
                pass
        html = self.provider.env.get_template(template).render(
            actor=actor,
            csrf_token=csrf,
            path=request.path if request is not None else "/",
            **self.provider.context(self.locale),
            **context,
        )
        return Response(html, status=status, mimetype="text/html")

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
