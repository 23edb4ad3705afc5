"""Rendering of notifications: one Jinja2 environment per container (STYLE.md rule 11), templates in
``services/notify/templates/<locale>/<kind>.txt`` with one block per channel (``subject``, ``inbox``,
``email``, ``sms``), compiled once and cached, so a 100,000-member fan-out renders each message with
already-compiled block functions.

Templates are plain text (no autoescape: e-mail and SMS bodies are text; the inbox page escapes on
output). Undefined variables raise, so a template and its context cannot drift apart silently.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined
from nameko.extensions import DependencyProvider

from .rules import LOCALES

#: SMS text is cut to this many characters (one long SMS; providers split beyond).
SMS_MAX = 140


class Renderer:
    """``render(kind, locale, context, blocks)`` → ``{block: text}``."""

    def __init__(self, env: Environment):
        self.env = env
        self._cache: dict[tuple[str, str], object] = {}

    def template(self, kind: str, locale: str):
        key = (kind, locale if locale in LOCALES else "zh-CN")
        tpl = self._cache.get(key)
        if tpl is None:
            tpl = self._cache[key] = self.env.get_template(f"{key[1]}/{kind}.txt")
        return tpl

    def render(self, kind: str, locale: str, context: dict, blocks: tuple[str, ...]) -> dict[str, str]:
        """Render the ``blocks`` of ``kind``'s template in ``locale`` (unknown locales fall back to zh-CN).

        Raises jinja2 ``UndefinedError`` when the context lacks a variable the template uses."""
        tpl = self.template(kind, locale)
        ctx = tpl.new_context(context)
        out = {b: "".join(tpl.blocks[b](ctx)).strip() for b in blocks}
        if "sms" in out:
            out["sms"] = out["sms"][:SMS_MAX]
        return out


def make_env() -> Environment:
    return Environment(
        loader=PackageLoader("services.notify", "templates"),
        autoescape=False,  # noqa: S701 - plain-text e-mail and SMS; pages escape on output
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=False,
    )


class Templates(DependencyProvider):
    """Injects the container's :class:`Renderer` (environment built in ``setup()``)."""

    def setup(self) -> None:
        self.renderer = Renderer(make_env())

    def get_dependency(self, worker_ctx) -> Renderer:
        return self.renderer
