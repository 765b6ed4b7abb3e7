"""Token endpoints: login, token, logout, logout-all, revoke (RFC 7009), introspect (RFC 7662)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from jwtgate.auth.context import RouteContext
from jwtgate.auth.errors import BearerRequired, InvalidClient, InvalidRequest, UnsupportedGrantType
from jwtgate.auth.http_io import read_form, read_json, required_text, text_field
from jwtgate.auth.openapi_docs import FORM_BODY, LOGIN_BODY, TOKEN_BODY
from jwtgate.auth.service import (
    DELIVERY_BODY,
    DELIVERY_COOKIES,
    DELIVERY_REFRESH_COOKIE,
    Issued,
)
from jwtgate.errors import TokenError

__all__ = ["token_router"]

# RFC 6749 section 5.1: token responses must not be cached.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _flag(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"parameter {name!r} must be a boolean")
    return value


def _token_response(ctx: RouteContext, issued: Issued) -> JSONResponse:
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": issued.access.exp - issued.access.iat,
        "scope": issued.scope,
    }
    if issued.delivery != DELIVERY_COOKIES:
        body["access_token"] = issued.access.token
    if issued.delivery == DELIVERY_BODY and issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    if issued.csrf_token is not None:
        body["csrf_token"] = issued.csrf_token
    response = JSONResponse(body, headers=_NO_STORE)
    ctx.cookies.apply(response, issued, ctx.core.clock())
    return response


def token_router(ctx: RouteContext) -> APIRouter:
    """The token endpoints, bound to ``ctx``."""
    router = APIRouter()
    auth = ctx.config.auth

    @router.post("/login", openapi_extra=LOGIN_BODY, summary="Log in with username and password")
    async def login(request: Request) -> Response:
        """Password login; returns an access token and starts a refresh family.

        With ``"cookie": true`` the refresh token goes in an HttpOnly cookie and a
        CSRF token is returned; ``"access_cookie": true`` also moves the access token
        to an HttpOnly cookie.
        """
        data = await read_json(request, ctx.body_limit)
        username = required_text(data, "username", max_len=1024)
        password = required_text(data, "password", max_len=4096)
        scope = text_field(data, "scope", required=False, max_len=1024)
        cookie, access_cookie = _flag(data, "cookie"), _flag(data, "access_cookie")
        delivery = DELIVERY_BODY
        if cookie if cookie is not None else auth.cookies.default:
            in_cookie = (
                access_cookie if access_cookie is not None else auth.cookies.access_in_cookie
            )
            delivery = DELIVERY_COOKIES if in_cookie else DELIVERY_REFRESH_COOKIE
        issued = await ctx.service.login(
            username, password, scope=scope, ip=ctx.ip(request), delivery=delivery
        )
        return _token_response(ctx, issued)

    @router.post("/token", openapi_extra=TOKEN_BODY, summary="OAuth 2.0 token endpoint")
    async def token(request: Request) -> Response:
        """RFC 6749 token endpoint: ``refresh_token``, ``client_credentials`` (and ``password``
        when enabled). A refresh token may come from the refresh cookie, which then
        requires ``X-CSRF-Token``."""
        form = await read_form(request, ctx.body_limit)
        grant = form.get("grant_type")
        if grant is None:
            raise InvalidRequest("missing parameter 'grant_type'")
        client = await ctx.client(request, form)
        scope = form.get("scope")
        if grant == "refresh_token":
            refresh = form.get("refresh_token")
            if refresh is None:
                refresh = ctx.cookies.refresh_cookie(request)
                if refresh is None:
                    raise InvalidRequest("missing parameter 'refresh_token'")
                ctx.cookies.require_csrf_cookie_match(request)
            issued = await ctx.service.refresh(
                refresh, scope=scope, ip=ctx.ip(request), client=client
            )
            return _token_response(ctx, issued)
        if grant == "client_credentials":
            if client is None:
                raise InvalidClient()
            return _token_response(ctx, await ctx.service.client_credentials(client, scope))
        if grant == "password" and auth.password_grant:
            username, password = form.get("username"), form.get("password")
            if username is None or password is None:
                raise InvalidRequest("missing parameter 'username' or 'password'")
            issued = await ctx.service.login(
                username,
                password,
                scope=scope,
                ip=ctx.ip(request),
                delivery=DELIVERY_BODY,
                client_id=client.info.client_id if client else None,
            )
            return _token_response(ctx, issued)
        raise UnsupportedGrantType()

    @router.post("/logout", summary="Revoke this session")
    async def logout(request: Request) -> Response:
        """Revoke the caller's access token (``jti``) and its refresh family (``sid``)."""
        refresh = ctx.cookies.refresh_cookie(request)
        try:
            verified = ctx.caller(request, unsafe=True)
        except TokenError:
            # An expired access cookie must not keep a browser from logging out:
            # fall back to the refresh cookie (still CSRF-checked below).
            if refresh is None or ctx.cookies.access_cookie(request) is None:
                raise
            verified = None
        if verified is not None:
            await ctx.service.logout(verified)
        else:
            if refresh is None:
                raise BearerRequired()
            ctx.cookies.require_csrf_cookie_match(request)
            family = await ctx.core.refresh.lookup(refresh, ctx.core.clock())
            if family is not None:
                await ctx.service.logout_family(family)
        response = JSONResponse({"logged_out": True}, headers=_NO_STORE)
        ctx.cookies.clear(response)
        return response

    @router.post("/logout-all", summary="Revoke every session of the caller")
    async def logout_all(request: Request) -> Response:
        """Revoke every refresh family of the caller and every token issued before now."""
        verified = ctx.require_caller(request, unsafe=True)
        if not verified.subject:
            raise BearerRequired("the access token has no subject")
        count = await ctx.service.logout_all(verified.subject)
        response = JSONResponse({"logged_out": True, "sessions_revoked": count}, headers=_NO_STORE)
        ctx.cookies.clear(response)
        return response

    @router.post("/revoke", openapi_extra=FORM_BODY, summary="RFC 7009 token revocation")
    async def revoke(request: Request) -> Response:
        """Revoke an access or refresh token. Always 200 for unknown or invalid tokens.

        Confidential clients authenticate and may only revoke their own tokens;
        tokens of the public login client can be revoked by whoever holds them.
        """
        form = await read_form(request, ctx.body_limit)
        client = await ctx.client(request, form)
        token = form.get("token")
        if token is None:
            raise InvalidRequest("missing parameter 'token'")
        if len(token) <= 16384:
            await ctx.service.revoke(token, form.get("token_type_hint"), client)
        return Response(status_code=200, headers=_NO_STORE)

    @router.post("/introspect", openapi_extra=FORM_BODY, summary="RFC 7662 introspection")
    async def introspect(request: Request) -> Response:
        """Introspect a token; only authenticated clients may ask (RFC 7662 section 2.1)."""
        form = await read_form(request, ctx.body_limit)
        client = await ctx.client(request, form)
        if client is None:
            raise InvalidClient()
        token = form.get("token")
        if token is None:
            raise InvalidRequest("missing parameter 'token'")
        if len(token) > 16384:
            return JSONResponse({"active": False}, headers=_NO_STORE)
        result = await ctx.service.introspect(token, form.get("token_type_hint"))
        return JSONResponse(result, headers=_NO_STORE)

    return router
