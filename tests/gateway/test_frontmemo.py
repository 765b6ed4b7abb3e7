"""Stages 1-3 reused for a request that repeats its predecessor on a connection.

A hit must give what running the stages gives, with a fresh request id;
any change of an input (a header, the path, the query, the method, the
compiled policy after a reload) must run them again.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any, cast

import pytest

from jwtgate.config import load_config_text
from jwtgate.gateway.compile import compile_gateway
from jwtgate.gateway.dispatch import upstream_headers, upstream_where
from jwtgate.gateway.errors import InvalidRequest, RouteNotFound
from jwtgate.gateway.frontmemo import MEMO_MAX_BYTES, FrontMemo, front_token, upstream_request
from jwtgate.gateway.outcome import Outcome
from jwtgate.gateway.state import Policy
from jwtgate.jose import VerifiedToken

_ROUTES = (
    "{name: api, match: {prefix: /api}, upstream: 'http://h'},"
    "{name: two, match: {prefix: /two}, upstream: ['http://h1', 'http://h2']},"
    "{name: web, match: {prefix: /web}, upstream: 'http://h',"
    " cors: {allow_origins: ['https://a.example']}},"
    "{name: rest, match: {prefix: /}, upstream: 'http://h', auth: public}"
)
_TOKEN = b"Bearer abc.def.ghi"


def _policy(extra: str = "") -> Policy:
    text = f"gateway: {{routes: [{_ROUTES}]{extra}}}"
    compiled = compile_gateway(load_config_text(text))
    return cast("Policy", SimpleNamespace(compiled=compiled, identity={}))


def _scope(
    path: str = "/api/x",
    method: str = "GET",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    if headers is None:
        headers = [(b"host", b"gw.example"), (b"authorization", _TOKEN), (b"accept", b"*/*")]
    return {
        "type": "http",
        "scheme": "http",
        "client": ("10.0.0.1", 5000),
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers,
    }


def _run(policy: Policy, scope: dict[str, Any], memo: FrontMemo | None) -> Any:
    out = Outcome()
    f, ext, kept = front_token(scope, policy, out, memo)
    return f, ext, kept, out


def test_a_repeated_request_reuses_the_stages_with_a_fresh_request_id() -> None:
    policy = _policy()
    f1, ext1, memo, out1 = _run(policy, _scope(), None)
    assert memo is not None
    f2, ext2, memo2, out2 = _run(policy, _scope(), memo)  # equal, not the same lists
    assert memo2 is memo
    assert f2.inbound is f1.inbound
    assert f2.route is f1.route
    assert ext2 is ext1
    assert f2.client == f1.client == ("10.0.0.1", b"10.0.0.1")
    assert ext2.token == "abc.def.ghi"
    assert f1.rid != f2.rid
    assert out2.request_id == f2.rid
    assert out1.request_id == f1.rid
    assert out2.route == "api"


@pytest.mark.parametrize(
    "change",
    [
        {"path": "/api/y"},
        {"method": "DELETE"},
        {"query": b"a=1"},
        {"headers": [(b"host", b"gw.example"), (b"authorization", b"Bearer other")]},
        {"headers": [(b"host", b"gw.example"), (b"authorization", _TOKEN), (b"accept", b"x")]},
    ],
)
def test_any_changed_input_runs_the_stages_again(change: dict[str, Any]) -> None:
    policy = _policy()
    _, _, memo, _ = _run(policy, _scope(), None)
    scope = _scope(**change)
    f, ext, kept, _ = _run(policy, scope, memo)
    fresh_f, fresh_ext, _, _ = _run(policy, scope, None)
    assert kept is not memo
    assert kept is not None
    assert f.inbound is not memo.front.inbound
    assert f.inbound.headers == fresh_f.inbound.headers
    assert (ext.token, ext.query_string) == (fresh_ext.token, fresh_ext.query_string)


def test_a_reload_runs_the_stages_on_the_new_policy() -> None:
    old = _policy()
    _, _, memo, _ = _run(old, _scope(path="/other"), None)
    assert memo.front.route.name == "rest"
    # The same request under a configuration without the catch-all route.
    text = "gateway: {routes: [{name: api, match: {prefix: /api}, upstream: 'http://h'}]}"
    new = cast("Policy", SimpleNamespace(compiled=compile_gateway(load_config_text(text))))
    with pytest.raises(RouteNotFound):
        _run(new, _scope(path="/other"), memo)


def test_refusals_are_not_kept() -> None:
    policy = _policy()
    _, _, memo, _ = _run(policy, _scope(), None)
    twice = [(b"authorization", _TOKEN), (b"authorization", _TOKEN)]
    for _ in range(2):
        with pytest.raises(InvalidRequest):
            _run(policy, _scope(headers=twice), memo)


def test_cors_routes_are_left_to_the_asgi_path() -> None:
    f, ext, kept, _ = _run(_policy(), _scope(path="/web/x"), None)
    assert f.route.name == "web"
    assert ext is None
    assert kept is None


def test_large_heads_are_not_kept() -> None:
    policy = _policy()
    big = [(b"authorization", _TOKEN), (b"x-big", b"v" * MEMO_MAX_BYTES)]
    _, ext, kept, _ = _run(policy, _scope(headers=big), None)
    assert ext.token == "abc.def.ghi"
    assert kept is None


def test_a_trusted_proxys_request_id_and_client_are_kept() -> None:
    policy = _policy(", trusted_proxies: ['10.0.0.0/8']")
    headers = [
        (b"authorization", _TOKEN),
        (b"x-forwarded-for", b"203.0.113.9"),
        (b"x-request-id", b"req-1"),
    ]
    _, _, memo, _ = _run(policy, _scope(headers=headers), None)
    f, _, kept, out = _run(policy, _scope(headers=list(headers)), memo)
    assert kept is memo
    assert out.from_proxy
    assert f.rid == out.request_id == b"req-1"
    assert f.client == ("203.0.113.9", b"203.0.113.9, 10.0.0.1")


def test_upstream_headers_leave_the_kept_fields_alone() -> None:
    policy = _policy()
    _, _, memo, _ = _run(policy, _scope(), None)
    before = list(memo.front.inbound.headers)
    for _ in range(2):
        f, ext, _, out = _run(policy, _scope(), memo)
        sent = upstream_headers(_scope(), f, policy, ext, None, out.from_proxy)
        assert (b"x-request-id", f.rid) in sent
    assert memo.front.inbound.headers == before


def _token(subject: str) -> VerifiedToken:
    fields = dict.fromkeys((f.name for f in dataclasses.fields(VerifiedToken)), None)
    fields.update(header={}, claims={"sub": subject}, subject=subject)
    return VerifiedToken(**fields)  # type: ignore[arg-type]


def _upstream(policy: Policy, scope: dict[str, Any], memo: FrontMemo | None, token: Any) -> Any:
    f, ext, kept, out = _run(policy, scope, memo)
    if kept is memo and kept is not None:  # a repeat: as the lane does
        got = upstream_request(kept, scope, f, policy, ext, token, out.from_proxy)
    else:
        base, target = upstream_where(scope, policy, f.route, ext)
        got = base, target, upstream_headers(scope, f, policy, ext, token, out.from_proxy)
    return got, f, ext, kept, out


def test_the_upstream_request_is_what_dispatch_builds_each_time() -> None:
    policy = _policy()
    alice, bob = _token("alice"), _token("bob")
    memo = None
    for path, token in [("/api/x", alice), ("/api/x", alice), ("/api/x", bob), ("/api/y", bob)]:
        scope = _scope(path=path)
        (base, target, headers), f, ext, memo, out = _upstream(policy, scope, memo, token)
        assert (base, target) == upstream_where(scope, policy, f.route, ext)
        assert headers == upstream_headers(scope, f, policy, ext, token, out.from_proxy)
        assert (b"x-user-id", token.subject.encode()) in headers
        assert headers[-1] == (b"x-request-id", f.rid)


def test_a_new_raw_path_is_a_new_target() -> None:
    policy = _policy()
    _, _, _, memo, _ = _upstream(policy, _scope(path="/api/a b"), None, None)
    scope = _scope(path="/api/a b")
    scope["raw_path"] = b"/api/a%20b"
    (_, target, _), _, _, kept, _ = _upstream(policy, scope, memo, None)
    assert kept is not memo
    assert target == b"/api/a%20b"


def test_several_upstreams_still_rotate() -> None:
    policy = cast("Policy", SimpleNamespace(**vars(_policy()), round_robin=[0, 0, 0, 0]))
    memo = None
    bases = []
    for _ in range(4):
        (base, _, _), _, _, memo, _ = _upstream(policy, _scope(path="/two/x"), memo, None)
        bases.append(base)
    assert bases == ["http://h1", "http://h2", "http://h1", "http://h2"]
