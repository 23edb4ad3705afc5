"""The error-code catalogue (services/gateway/wording.py, docs/errors.md): every code raised under
services/ and dmlib/ has a text for people, in Chinese too; pages show catalogue text in the page's
language and never a service's message. Codes are collected from the source (AST), not listed by hand."""

from __future__ import annotations

import ast
import importlib
import os
import re

import pytest
from babel.messages.pofile import read_po

from dmlib import errors as e
from services.gateway import wording as w
from services.gateway.pages import form_errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
ERROR_CLASSES = {k.__name__ for k in (*e.EXPECTED, e.ServiceError)}
PO = os.path.join(ROOT, "services", "gateway", "translations", "zh_CN", "LC_MESSAGES", "errors.po")


def _module_name(path: str) -> str:
    return os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")


def _value(node: ast.expr, path: str):
    if isinstance(node, ast.Constant):
        return node.value
    module = importlib.import_module(_module_name(path))  # a constant such as c.ALREADY_VOTED
    return eval(compile(ast.Expression(node), path, "eval"), vars(module))  # noqa: S307 (our own source)


def raised_codes() -> dict[str, set[str]]:
    """Every ``reason`` given to an error class in services/ and dmlib/ (``reason=`` or
    ``details={"reason": …}``) → the places that raise it."""
    found: dict[str, set[str]] = {}
    for top in ("services", "dmlib"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ERROR_CLASSES):
                        continue
                    for kw in node.keywords:
                        values = []
                        if kw.arg == "reason":
                            values.append(kw.value)
                        elif kw.arg == "details" and isinstance(kw.value, ast.Dict):
                            values += [
                                v
                                for k, v in zip(kw.value.keys, kw.value.values, strict=True)
                                if isinstance(k, ast.Constant) and k.value == "reason"
                            ]
                        for v in values:
                            code = _value(v, path)
                            where = f"{os.path.relpath(path, ROOT)}:{node.lineno}"
                            found.setdefault(code, set()).add(where)
    return found


def test_the_source_scan_finds_the_codes_it_should():
    codes = raised_codes()
    assert {"quorum_not_reached", "already_voted", "stale", "confirm_required", "not_open"} <= set(codes)


def test_every_code_raised_has_a_catalogue_entry():
    missing = {code: sorted(where) for code, where in raised_codes().items() if code not in w.REASONS}
    assert missing == {}


def test_every_error_class_has_a_generic_sentence():
    assert {k.code for k in e.EXPECTED} | {"internal_error"} <= set(w.GENERIC)


def _catalogue_ids() -> set[str]:
    return {
        *w.GENERIC.values(),
        *(t for _, t in w.REASONS.values()),
        *(t for _, t in w.FIELD_PATTERNS),
        w.FIELD_FALLBACK,
        w.INCIDENT,
    }


def test_every_text_has_chinese_in_errors_po_with_the_same_placeholders():
    with open(PO, "rb") as f:
        catalog = read_po(f)
    zh = {m.id: m.string for m in catalog if m.id and not m.context}
    labels = {m.id: m.string for m in catalog if m.id and m.context == "field"}
    for msgid in _catalogue_ids():
        assert zh.get(msgid), msgid
        assert w.has_chinese(zh[msgid]), msgid
        assert set(re.findall(r"%\((\w+)\)s", zh[msgid])) == set(re.findall(r"%\((\w+)\)s", msgid)), msgid
    for label in w.FIELD_LABELS.values():
        assert w.has_chinese(labels.get(label, "")), label


def test_the_status_of_a_code_is_the_status_of_the_class_raising_it():
    statuses = {k.__name__: k.status for k in e.EXPECTED}
    for top in ("services", "dmlib"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in (n for n in files if n.endswith(".py")):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in statuses:
                        for kw in node.keywords:
                            if kw.arg == "reason":
                                code = _value(kw.value, path)
                                assert w.REASONS[code][0] == statuses[node.func.id], (code, path)


def test_docs_errors_md_is_current():
    with open(os.path.join(ROOT, "docs", "errors.md"), encoding="utf-8") as f:
        page = f.read()
    assert page == w.docs_page(), "run: python -m services.gateway.wording > docs/errors.md"


# ----- what a page shows -------------------------------------------------------------------------
ZH = w.po_translations()


def zh_gettext(text: str) -> str:
    return ZH.get(text, text)


def en_gettext(text: str) -> str:
    return text


@pytest.mark.parametrize(
    "exc",
    [
        e.Conflict(
            "quorum not reached: 3 present of 5 delegates, 4 needed / 未达法定人数",
            details={"due_count": 5, "present_count": 3, "required": 4},
            reason="quorum_not_reached",
        ),
        e.Conflict("the session is closed / 会议已闭幕", reason="session_closed"),
        e.Conflict("something new and unlisted / 新的冲突"),
        e.BadInput("invalid input / 输入有误"),
        e.PayloadTooLarge("upload over 1 MiB / 上传文件过大", fields={"file": ["over"]}),
    ],
)
def test_a_refusal_speaks_the_page_language_and_never_the_service_text(exc):
    zh = form_errors(exc, "zh-CN", zh_gettext)["form"]
    en = form_errors(exc, "en", en_gettext)["form"]
    assert w.has_chinese(zh) and w.fits_locale(zh, "zh-CN")
    assert w.fits_locale(en, "en") and re.search("[A-Za-z]", en)
    english, chinese = exc.message.split(" / ")
    assert zh != chinese and en != english and zh != exc.message


def test_the_quorum_refusal_gives_its_figures():
    exc = e.Conflict(
        "quorum not reached / 未达法定人数",
        details={"due_count": 120, "present_count": 79, "required": 80},
        reason="quorum_not_reached",
    )
    assert form_errors(exc, "zh-CN", zh_gettext)["form"] == (
        "应到代表120人，实到79人，开幕须到会80人（三分之二）。请为到会代表签到后再试。"
    )
    # a detail the text needs is missing: the class's sentence, not a half-filled one
    bare = e.Conflict("quorum not reached / 未达法定人数", reason="quorum_not_reached")
    assert form_errors(bare, "en", en_gettext)["form"] == w.GENERIC["conflict"]


@pytest.mark.parametrize(
    "message, zh, en",
    [
        ("Missing data for required field.", "必填项，请填写。", "Required: please fill this in."),
        ("Not a valid integer.", "请填写整数。", "Enter a whole number."),
        ("Length must be between 2 and 200.", "请填写2至200个字。", "Enter 2 to 200 characters."),
        ("Longer than maximum length 20.", "最多填写20个字。", "Enter at most 20 characters."),
        ("Must be greater than or equal to 1 and less than or equal to 5.", "请填写1至5之间的数字。", None),
        ("too short / 太短", "太短", "too short"),
        ("taken", "此项填写有误，请检查后重新填写。", "taken"),  # Latin-only never on a Chinese page
        ("须为整数", "须为整数", "This value is not accepted. Check it and enter it again."),
    ],
)
def test_field_messages_are_catalogue_text_in_the_page_language(message, zh, en):
    assert w.field_text(message, zh_gettext, "zh-CN") == zh
    if en is not None:
        assert w.field_text(message, en_gettext, "en") == en


def test_field_names_are_words():
    def pgettext(context, text):
        return {"national_id": "身份证号"}.get(next(k for k, v in w.FIELD_LABELS.items() if v == text), text)

    assert w.field_label("national_id", pgettext) == "身份证号"
    assert w.field_label("national_id", lambda c, t: t) == "Resident ID number"
    assert w.field_label("some_field", lambda c, t: t) == "some field"
