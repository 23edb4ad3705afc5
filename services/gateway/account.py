"""Login, logout, the caller's own profile, language switch, home page, static files, health, OpenAPI."""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import urlparse

from werkzeug.wrappers import Response

from dmlib.auth import Actor, Grant
from dmlib.contracts import members as c
from dmlib.errors import BadInput, NotFound

from .http import COOKIE, LANG_COOKIE, LOCALES, api, json_response, page, request_token
from .openapi import build_spec
from .routing import Router


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/"
    return target


class AccountRoutes(Router):
    uses = ("members_rpc",)

    def _login(self, credentials: dict, request) -> tuple[str, dict]:
        """Check ``{"login", "password"}`` with members (which validates them and applies the failed-login
        limits per login and per client address), then sign the token. Returns (token, member).

        The call carries the gateway's own service token: members believes the client address only from
        the gateway (services/members/service.py, ``authenticate``)."""
        self.identity.act_as_service()
        member = self.members_rpc.authenticate(credentials, getattr(request, "client_address", None))
        return self.identity.issue(self._actor_of(member)), member

    @staticmethod
    def _actor_of(member: dict) -> Actor:
        return Actor(
            member_id=member["member_id"],
            name=member["name"],
            union_id=member["union_id"],
            grants=tuple(Grant(r["role"], r["scope"]) for r in member["roles"]),
        )

    def _set_session(self, response: Response, token: str) -> Response:
        """The session cookie, living as long as the token it carries (renewed with it)."""
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Lax",
            secure=self.web.cookie_secure,
            path="/",
            max_age=max(1, self.identity.actor.expires_at - int(time.time())),
        )
        return response

    def _token_out(self, token: str, member: dict) -> dict:
        actor = self.identity.actor
        return {
            "token": token,
            "expires_at": actor.expires_at,
            "session_expires_at": actor.session_end,
            "member": member,
        }

    # ----- API -----------------------------------------------------------------------------------
    @api(
        "POST",
        "/api/v1/auth/login",
        body=c.LoginIn,
        response=c.LoginOut,
        public=True,
        tags=["auth"],
        csrf=False,
    )
    def api_login(self, request, body):
        """Log in with a login name and password. Returns ``{"token", "expires_at", "member"}``; send the
        token as ``Authorization: Bearer <token>``. 401 for a wrong login or password; 429 with
        ``Retry-After`` (seconds) after too many failures for this login (``LOGIN_ACCOUNT_LIMIT``, default
        5) or from this address (``LOGIN_ADDRESS_LIMIT``, default 20) within ``LOGIN_WINDOW_SECONDS``
        (default 900); the password is then not checked."""
        token, member = self._login(body, request)
        return self._token_out(token, member)

    @api("POST", "/api/v1/auth/refresh", response=c.LoginOut, tags=["auth"])
    def api_refresh(self, request):
        """Renew the caller's token within its login session, without the password: returns
        ``{"token", "expires_at", "session_expires_at", "member"}`` like a login, with a new token valid
        for ``TOKEN_TTL_SECONDS`` (default 8 h) but never past the session's end (``SESSION_MAX_SECONDS``
        after the login, default 30 days; then 401 and a new login). The roles are read again
        (``members.renew_login``), so a grant or withdrawal since the login holds from now on. With the
        session cookie (and the CSRF token, as every cookie POST) the cookie is renewed too. The old
        token stays valid until its own expiry; logout revokes the whole session, old and new tokens.
        401 without a valid token or after logout; 403 for a service token."""
        old = self.identity.actor
        member = self.members_rpc.renew_login()
        renewed = replace(self._actor_of(member), session_id=old.session, session_expires_at=old.session_end)
        token = self.identity.issue(renewed)
        body = self._token_out(token, member)
        if request_token(request)[1] == "cookie":
            return self._set_session(json_response(body), token)
        return body

    def _revoke(self) -> None:
        """Revoke the request's token, if it has a valid one (members records it and tells every
        service; this process refuses it at once). Without a token there is nothing to revoke."""
        actor = self.identity.actor_or_none
        if actor is not None and not actor.is_system:
            self.members_rpc.revoke_token()
            self.identity.revoked(actor.session, actor.session_end)

    @api("POST", "/api/v1/auth/logout", tags=["auth"], status=204, public=True)
    def api_logout(self, request):
        """Log out: the token's login session (bearer or cookie; every token renewed from that login) is
        revoked until the session's end, at the gateway and in every service (401 from then on), and the
        session cookie is deleted."""
        self._revoke()
        response = json_response(None, 204)
        response.delete_cookie(COOKIE, path="/")
        return response

    @api("GET", "/api/v1/me", response=c.ProfileOut, tags=["auth"])
    def api_me(self, request):
        """The caller's own member record, union path and roles."""
        return self.members_rpc.profile()

    @api(
        "PUT",
        "/api/v1/me/password",
        body=c.PasswordIn(exclude=("member_id",)),  # the caller's own
        response=c.PasswordOut,
        tags=["auth"],
    )
    def api_password(self, request, body):
        """Change one's own password: ``{"current_password", "new_password"}`` (8-128 characters)."""
        me = self.identity.actor
        return self.members_rpc.set_password({**body, "member_id": me.member_id})

    @api("GET", "/api/v1/openapi.json", public=True, tags=["meta"])
    def openapi(self, request):
        """This API's OpenAPI 3 document."""
        return build_spec(self.web.entrypoints)

    @api("GET,POST,PUT,PATCH,DELETE", "/api/v1/<path:rest>", public=True, tags=["meta"])
    def api_no_such_address(self, request, rest):
        """Any other address under /api/v1 (or a method it does not take): 404 in the JSON error shape,
        not the web server's HTML page (found by the schemathesis fuzz tier). Not in the OpenAPI
        document."""
        raise NotFound(
            f"no such API address / 接口不存在: /api/v1/{rest}", details={"method": request.method}
        )

    @api("GET", "/healthz", public=True, tags=["meta"])
    def healthz(self, request):
        """Liveness of the gateway and, with ``?deep=1``, of the members service behind it."""
        if request.args.get("deep"):
            self.members_rpc.health()
        return {"status": "ok"}

    # ----- pages ---------------------------------------------------------------------------------
    @page("GET", "/static/<path:path>", public=True)
    def static(self, request, path):
        return self.web.static(path)

    @page("GET", "/lang/<code>", public=True)
    def switch_language(self, request, code):
        if code not in LOCALES:
            raise BadInput("unknown language / 未知语言")
        response = Response(status=303, headers={"Location": safe_next(request.args.get("next"))})
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax", path="/")
        return response

    @page("GET", "/login", public=True)
    def login_page(self, request):
        return self.web.render(
            "login.html", request=request, next=safe_next(request.args.get("next")), errors={}, login=""
        )

    @page("POST", "/login", public=True, csrf=False)
    def login_submit(self, request):
        login, password = request.form.get("login", "").strip(), request.form.get("password", "")
        target = safe_next(request.form.get("next"))
        errors, status, headers = {}, 400, {}
        if not login:
            errors["login"] = self.web.gettext("Enter your login name")
        if not password:
            errors["password"] = self.web.gettext("Enter your password")
        if not errors:
            # a 401 here is the wrong password this form asks for; a 429 the failed-login limit
            found = self.web.attempt(
                self._login, {"login": login, "password": password}, request, also=(401, 429)
            )
            if found.refusal is None:
                token, _ = found.value
                return self._set_session(self.web.redirect(target), token)
            if found.refusal.status == 429:
                status = 429
                retry = int(found.refusal.details.get("retry_after_s") or 60)
                minutes = max(1, -(-retry // 60))
                errors["form"] = self.web.gettext(
                    "Too many failed logins. Try again in %(minutes)s minutes.", minutes=minutes
                )
                headers = {"Retry-After": str(retry)}
            else:
                errors["form"] = self.web.gettext("Wrong login or password")
        response = self.web.render(
            "login.html",
            status=status if errors else 200,
            request=request,
            next=target,
            errors=errors,
            login=login,
        )
        response.headers.extend(headers)
        return response

    @page("POST", "/logout")
    def logout(self, request):
        """Log out (the token is revoked, as :meth:`api_logout`) and go to the login page."""
        self._revoke()
        response = Response(status=303, headers={"Location": "/login"})
        response.delete_cookie(COOKIE, path="/")
        return response

    @page("GET", "/me")
    def profile_page(self, request):
        profile = self.members_rpc.profile()
        return self.web.render("profile.html", request=request, profile=profile, errors={})

    @page("POST", "/me/password")
    def password_submit(self, request):
        me = self.identity.actor
        body = {
            "member_id": me.member_id,
            "current_password": request.form.get("current_password") or None,
            "new_password": request.form.get("new_password", ""),
        }
        # members answers a wrong current password with 401 (services/members/service.py, set_password)
        refusal = self.web.attempt(self.members_rpc.set_password, body, also=(401,)).refusal
        if refusal is None:
            return self.web.redirect("/me", self.web.gettext("Password changed"))
        errors = dict(refusal.errors)
        if "form" in errors:  # a refusal without a field is about the current password
            errors["current_password"] = errors.pop("form")
        return self.web.render(
            "profile.html",
            status=refusal.status,
            request=request,
            profile=self.members_rpc.profile(),
            errors=errors,
        )
