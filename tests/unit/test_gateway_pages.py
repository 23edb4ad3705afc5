"""The gateway's page toolkit (services/gateway/pages.py) and router composition (routing.py): the one
error policy, form errors in the page's language, the signed notice shown once, confirmations, downloads,
and the composed service class. No broker, no database: the real Jinja environment, fakes for the rest."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from dmlib.auth import issue_token
from dmlib.errors import (
    BadInput,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
)
from services.gateway.http import api, page
from services.gateway.pages import (
    NOTICE_COOKIE,
    Outcome,
    Pages,
    download,
    dump_notice,
    form_errors,
    in_language,
    load_notice,
    outcome,
    require_confirmed,
)
from services.gateway.routing import Router, compose
from services.gateway.web import Web
from services.gateway.wording import FIELD_FALLBACK, GENERIC, REASONS
from tests.helpers import AUTH_SECRET, member

SECRET = AUTH_SECRET


@pytest.mark.parametrize(
    "status, expected",
    [
        (400, Outcome.FORM),
        (401, Outcome.LOGIN),
        (403, Outcome.ERROR_PAGE),
        (404, Outcome.ERROR_PAGE),
        (409, Outcome.FORM),
        (413, Outcome.FORM),
        (429, Outcome.ERROR_PAGE),
        (500, Outcome.ERROR_PAGE),
        (503, Outcome.UNAVAILABLE),
    ],
)
def test_the_one_policy_table(status, expected):
    assert outcome(status) is expected


def test_form_errors_flatten_nested_fields_and_speak_the_page_language():
    # issue 16: a page shows catalogue text (services/gateway/wording.py), never a service's message; a
    # Latin-only field message on a Chinese page becomes the catalogue's generic field sentence
    exc = BadInput(
        "bad input / 输入有误",
        fields={
            "title": ["too short / 太短"],
            "attachments": {"0": {"filename": ["bad"]}},
            "stars": {"c1": ["1-5"]},
        },
    )
    assert form_errors(exc, "zh-CN") == {"title": "太短", "attachments": FIELD_FALLBACK, "stars": "1-5"}
    assert form_errors(exc, "en", expand=("stars",)) == {
        "title": "too short",
        "attachments": "bad",
        "c1": "1-5",
    }
    already = Conflict("already voted / 您已投票", reason="already_voted")
    assert form_errors(already, "en") == {"form": REASONS["already_voted"][1]}
    assert form_errors(Conflict("x / 甲"), "en") == {"form": GENERIC["conflict"]}
    too_big = PayloadTooLarge("upload over 1 MiB / 上传文件过大", fields={"file": ["over"]})
    assert form_errors(too_big, "en") == {"file": "over", "form": GENERIC["payload_too_large"]}
    assert in_language("plain text", "en") == "plain text"
    assert in_language("a / 甲", None) == "a / 甲"


def test_the_notice_is_signed_and_short_lived():
    value = dump_notice(SECRET, "error", "须至少80人", "r1")
    assert load_notice(SECRET, value) == {"kind": "error", "text": "须至少80人", "ref": "r1"}
    assert load_notice("another-secret-0123456789abcdef0123", value) is None  # forged
    assert load_notice(SECRET, value[:-2] + ("AA" if not value.endswith("AA") else "BB")) is None  # altered
    assert load_notice(SECRET, value, max_age=-1) is None  # older than its lifetime
    assert load_notice(SECRET, None) is None and load_notice(SECRET, "garbage") is None


@pytest.fixture
def pages():
    web = Web()
    web.setup()
    web.secret, web.cookie_secure, web.max_upload_bytes = SECRET, False, 1024
    actor = member("M0000001", "u01")
    ctx = SimpleNamespace(
        container=SimpleNamespace(entrypoints=()),
        data={"language": "zh-CN", "auth_token": issue_token(SECRET, actor)},
    )
    return Pages(web, ctx)


def request(path="/x", cookies=None, form=None):
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in (cookies or {}).items())} if cookies else {}
    return Request(
        EnvironBuilder(path=path, method="POST" if form else "GET", data=form, headers=headers).get_environ()
    )


def test_a_redirect_carries_one_notice_the_next_page_shows_once_and_clears(pages):
    r = pages.redirect("/congress/sessions/s1/console", "须至少80人", kind="error")
    assert r.status_code == 303 and r.headers["Location"] == "/congress/sessions/s1/console"  # not in the URL
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith(f"{NOTICE_COOKIE}=") and "HttpOnly" in cookie and "Max-Age=60" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    shown = pages.render("import.html", request=request(cookies={NOTICE_COOKIE: value}), errors={})
    assert 'id="notice"' in shown.get_data(as_text=True) and "须至少80人" in shown.get_data(as_text=True)
    assert shown.headers["Set-Cookie"].startswith(f"{NOTICE_COOKIE}=;")  # cleared
    forged = pages.render("import.html", request=request(cookies={NOTICE_COOKIE: "x" + value}), errors={})
    assert 'id="notice"' not in forged.get_data(as_text=True)
    assert pages.redirect("/x").headers.get("Set-Cookie") is None  # no notice, no cookie


def test_attempt_returns_form_refusals_and_passes_on_the_rest(pages):
    def refuse(exc):
        def call(*_a, **_k):
            raise exc

        return call

    assert pages.attempt(lambda a, b: a + b, 1, b=2).value == 3
    refusal = pages.attempt(
        refuse(Conflict("already voted / 您已投票", details={"reason": "already_voted"}))
    ).refusal
    already = "您已投过票。每人只能投一次，您的选票已计入。"  # errors.po, not the service's text
    assert (refusal.status, refusal.reason, refusal.message, refusal.errors) == (
        409,
        "already_voted",
        already,
        {"form": already},
    )
    assert pages.attempt(refuse(BadInput("x / 甲", fields={"text": ["短"]}))).refusal.errors == {"text": "短"}
    for exc in (
        Unauthenticated("a / 甲"),
        Forbidden("b / 乙"),
        NotFound("c / 丙"),
        ServiceUnavailable("d / 丁"),
    ):
        with pytest.raises(type(exc)):
            pages.attempt(refuse(exc))
    assert pages.attempt(refuse(Unauthenticated("wrong / 错")), also=(401,)).refusal.status == 401
    with pytest.raises(TooManyRequests):
        pages.attempt(refuse(TooManyRequests("slow / 慢")))
    assert pages.visible(refuse(Forbidden("no / 否")), default=[]) == []
    with pytest.raises(Conflict):
        pages.visible(refuse(Conflict("x / 甲")))


def test_act_goes_back_with_the_refusal_or_the_done_notice(pages):
    def refuse():
        raise Conflict(
            "quorum not reached / 须至少80人",
            details={"due_count": 120, "present_count": 79, "required": 80},
            reason="quorum_not_reached",
        )

    back = pages.act("/c", refuse, done="ok")
    assert back.status_code == 303 and back.headers["Location"] == "/c"
    assert (
        load_notice(SECRET, back.headers["Set-Cookie"].split(";")[0].split("=", 1)[1])["text"]
        == "应到代表120人，实到79人，开幕须到会80人（三分之二）。请为到会代表签到后再试。"
    )
    done = pages.act("/c", lambda: None, done="已保存")
    assert load_notice(SECRET, done.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]) == {
        "kind": "ok",
        "text": "已保存",
        "ref": None,
    }


def test_an_irreversible_action_needs_its_confirmation(pages):
    with pytest.raises(BadInput) as refused:
        require_confirmed(request(form={"reason": "数据有误"}))
    assert "confirmed" in refused.value.fields
    require_confirmed(request(form={"reason": "数据有误", "confirmed": "on"}))  # no error
    html = pages.provider.env.from_string(
        '{% import "_pages.html" as kit with context %}{{ kit.confirm(errors, "撤回") }}'
    )
    out = html.render(errors={"confirmed": "请勾选"}, _=lambda s: s)
    assert 'name="confirmed"' in out and "required" in out and "请勾选" in out


def test_download_names_the_file_in_ascii_and_utf8_and_is_never_cached():
    r = download(b"x", "text/csv", "会议纪要.csv", ascii_name="minutes.csv")
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"minutes.csv\"; filename*=UTF-8''%E4%BC%9A%E8%AE%AE%E7%BA%AA%E8%A6%81.csv"
    )
    assert r.headers["Cache-Control"] == "private, no-store" and r.mimetype == "text/csv"
    assert (
        download(b"x", "application/pdf", "a.pdf", inline=True)
        .headers["Content-Disposition"]
        .startswith("inline;")
    )


class _Alpha(Router):
    uses = ("alpha_rpc",)

    @api("GET", "/api/v1/alpha", tags=["meta"])
    def alpha(self, request):
        """Alpha."""
        return self._helper()

    def _helper(self):
        return self.alpha_rpc


class _Beta(Router):
    @page("GET", "/beta")
    def beta(self, request):
        return "beta"

    def _helper(self):  # the same helper name as _Alpha's: no clash, each router has its own namespace
        return "beta"


def test_compose_puts_each_routers_entrypoints_on_one_service_class():
    service_cls = compose("S", (_Alpha, _Beta), name="s", web=None, identity=None, alpha_rpc=None)
    assert service_cls.alpha.__doc__ == "Alpha." and hasattr(service_cls.alpha, "nameko_entrypoints")
    assert not hasattr(service_cls, "_helper")  # helpers stay in their router
    instance = service_cls()
    instance.web, instance.identity, instance.alpha_rpc = "w", "i", "the alpha rpc"
    assert instance.alpha(None) == "the alpha rpc" and instance.beta(None) == "beta"


def test_compose_refuses_a_route_declared_twice_or_a_missing_dependency():
    with pytest.raises(TypeError, match="alpha"):
        compose("S", (_Alpha, _Alpha), name="s", web=None, identity=None, alpha_rpc=None)
    with pytest.raises(TypeError, match="alpha_rpc"):
        compose("S", (_Alpha,), name="s", web=None, identity=None)
