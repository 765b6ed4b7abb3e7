"""Gateway settings and the compile step: defaults, path-named errors, cross-field rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwtgate.config import load_config_text
from jwtgate.errors import ConfigError
from jwtgate.gateway.compile import compile_gateway
from jwtgate.gateway.server import check_workers


def test_embedded_defaults_make_a_single_issuer_gateway() -> None:
    config = load_config_text("")
    compiled = compile_gateway(config)
    (issuer,) = compiled.issuers
    assert issuer.issuer == config.tokens.issuer
    assert issuer.audiences == frozenset({config.tokens.audience})
    assert issuer.algorithms == frozenset({config.tokens.algorithm})
    assert issuer.source == "keyring"
    assert [r.name for r in compiled.routes] == [
        "auth",
        "admin",
        "echo",
        "public",
        "stats",
        "console",
    ]
    assert compiled.internal_names == frozenset({"auth", "echo", "console"})
    # The default forward headers are stripped inbound on every route.
    assert {b"x-user-id", b"x-token-id", b"x-forwarded-for"} <= compiled.strip_exact
    # The gateway reads the cookie the auth server sets: __Host- while cookies are Secure.
    admin = compiled.routes[1]
    assert admin.cookie == "__Host-jwtgate-access"
    assert admin.roles_any == frozenset({"admin"})
    # The auth route hands Authorization to the auth server (logout, /me, client_secret_basic).
    assert config.gateway.routes[0].forward_token is True


def test_relaxed_secure_cookies_use_the_unprefixed_name() -> None:
    # Browsers refuse __Host- cookies without Secure (RFC 6265bis 4.1.3.2), so the auth
    # server drops the prefix and the gateway must look for the same name.
    config = load_config_text("auth:\n  cookies:\n    secure: false\n")
    assert compile_gateway(config).routes[1].cookie == "jwtgate-access"


ROUTE = "{name: r, match: {prefix: /x}, upstream: 'http://127.0.0.1:9'}"

BAD = [
    (
        f"gateway: {{routes: [{ROUTE}, {{name: b, match: {{prefix: /y}}, upstream: 'http://a',"
        " require: {scopes: {any_of: []}}}]}",
        "gateway.routes[1].require.scopes.any_of",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: /y}, upstream: 'http://a',"
        " require: {roles: {any_of: [a], all_of: [b]}}}]}",
        "gateway.routes[0].require.roles",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: y}, upstream: 'http://a'}]}",
        "gateway.routes[0].match",
    ),
    (
        "gateway: {routes: [{name: b, match: {path: /y, prefix: /y}, upstream: 'http://a'}]}",
        "gateway.routes[0].match",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: /y}, upstream: 'ftp://a'}]}",
        "gateway.routes[0].upstream",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: /y}, upstream: ['internal://a', 'http://b']}]}",
        "gateway.routes[0].upstream",
    ),
    (
        "gateway: {routes: [{name: b, match: {path: /y}, upstream: 'http://a',"
        " strip_prefix: true}]}",
        "gateway.routes[0]",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: /y}, upstream: 'http://a', auth: public,"
        " require: {roles: {any_of: [x]}}}]}",
        "gateway.routes[0]",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: /y}, upstream: 'http://a',"
        " forward: {sub: 'Bad Header'}}]}",
        "gateway.routes[0].forward",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: /y}, upstream: 'http://a',"
        " rate_limit: {key: user, rate: 1, burst: 1}}]}",
        "gateway.routes[0].rate_limit.key",
    ),
    (
        "gateway: {routes: [{name: b, match: {prefix: /y}, upstream: 'http://a',"
        " cors: {allow_origins: ['*'], allow_credentials: true}}]}",
        "gateway.routes[0].cors",
    ),
    (
        f"gateway: {{routes: [{ROUTE}, {ROUTE}]}}",
        "gateway: Value error, route names must be unique",
    ),
    ("gateway: {issuers: [{issuer: x, audiences: [a]}]}", "gateway.issuers[0]"),
    (
        "gateway: {issuers: [{issuer: x, audiences: [a], keyring: true, jwks_file: f}]}",
        "gateway.issuers[0]",
    ),
    (
        "gateway: {issuers: [{issuer: x, audiences: [a], jwks_url: 'http://idp.example/jwks'}]}",
        "gateway.issuers[0]",  # plain http only for loopback
    ),
    ("gateway: {issuers: []}", "gateway"),
    ("gateway: {listeners: [{port: 70000}]}", "gateway.listeners[0].port"),
    (
        "gateway: {listeners: [{port: 1, tls: {cert: c, key: k, min_version: 1.1}}]}",
        "gateway.listeners[0].tls.min_version",
    ),
    ("gateway: {trusted_proxies: [not-a-net]}", "gateway.trusted_proxies"),
    ("gateway: {listeners: [{port: 9180}]}", "gateway: Value error, listeners and admin_listener"),
    ("gateway: {rotues: []}", "gateway.rotues"),
]


@pytest.mark.parametrize(("text", "where"), BAD)
def test_bad_values_name_their_path(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    assert info.value.description.startswith(where), info.value.description


def test_yaml_float_tls_version_and_hsts_forms() -> None:
    config = load_config_text(
        "gateway: {listeners: [{port: 1, tls: {cert: c, key: k, min_version: 1.3, hsts: off}},"
        " {port: 2, tls: {cert: c, key: k, hsts: {max_age: 60}}}]}"
    )
    first, second = config.gateway.listeners
    assert first.tls is not None
    assert first.tls.min_version == "1.3"
    assert first.tls.hsts is None
    assert second.tls is not None
    assert second.tls.hsts is not None
    assert second.tls.hsts.max_age == 60


def test_compile_resolves_issuer_defaults_and_relative_jwks_file() -> None:
    config = load_config_text(
        "data_dir: /srv/jg\n"
        "tokens: {leeway: 5, max_ttl: 600, access_ttl: 300}\n"
        "gateway: {issuers: [{issuer: a, audiences: [x], jwks_file: keys.json},"
        " {issuer: b, audiences: [y], jwks_url: 'https://idp/jwks', algorithms: [RS256],"
        " leeway: 1, max_lifetime: 60}]}"
    )
    a, b = compile_gateway(config).issuers
    assert (a.jwks_file, a.leeway, a.max_lifetime) == (Path("/srv/jg/keys.json"), 5.0, 600.0)
    assert a.algorithms == frozenset({"ES256"})
    assert (b.source, b.algorithms, b.leeway, b.max_lifetime) == (
        "jwks_url",
        frozenset({"RS256"}),
        1.0,
        60.0,
    )


def test_keyring_issuer_must_allow_the_local_algorithm() -> None:
    config = load_config_text(
        "gateway: {issuers: [{issuer: a, audiences: [x], keyring: true, algorithms: [RS256]}]}"
    )
    with pytest.raises(ConfigError, match=r"gateway.issuers\[0\].algorithms"):
        compile_gateway(config)


def test_public_stats_route_refused() -> None:
    config = load_config_text(
        "gateway: {routes: [{name: s, match: {path: /s}, upstream: 'internal://stats',"
        " auth: public}]}"
    )
    with pytest.raises(ConfigError, match=r"gateway.routes\[0\].auth"):
        compile_gateway(config)


def test_several_workers_need_redis_revocation_with_inprocess_auth() -> None:
    with pytest.raises(ConfigError, match=r"gateway\.workers"):
        check_workers(load_config_text("gateway: {workers: 2}"))
    check_workers(load_config_text("gateway: {workers: 2}\nrevocation: {backend: redis}"))
    routes = "routes: [{name: r, match: {prefix: /}, upstream: 'http://127.0.0.1:9'}]"
    check_workers(load_config_text(f"gateway: {{workers: 2, {routes}}}"))


def test_compiled_route_prefix_semantics() -> None:
    config = load_config_text(
        "gateway: {routes: [{name: a, match: {prefix: /api}, upstream: 'http://h'},"
        " {name: b, match: {prefix: /files/}, upstream: 'http://h'},"
        " {name: c, match: {path: /exact}, upstream: 'http://h'}]}"
    )
    a, b, c = compile_gateway(config).routes
    assert [a.matches_path(p) for p in ("/api", "/api/", "/api/x", "/apix", "/ap")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert [b.matches_path(p) for p in ("/files/", "/files/x", "/files")] == [True, True, False]
    assert [c.matches_path(p) for p in ("/exact", "/exact/", "/exactly")] == [True, False, False]


@pytest.mark.parametrize(
    ("routes", "shadowed"),
    [
        (
            "{name: a, match: {prefix: /}, upstream: 'http://h'},"
            " {name: b, match: {prefix: /admin}, upstream: 'http://h'}",
            1,
        ),
        (
            "{name: a, match: {prefix: /api}, upstream: 'http://h'},"
            " {name: b, match: {path: /api/admin}, upstream: 'http://h'}",
            1,
        ),
        (
            "{name: a, match: {prefix: /api, methods: [GET, POST]}, upstream: 'http://h'},"
            " {name: b, match: {prefix: /api/x, methods: [GET]}, upstream: 'http://h'}",
            1,
        ),
        (
            "{name: a, match: {path: /x}, upstream: 'http://h'},"
            " {name: b, match: {path: /x}, upstream: 'http://h'}",
            1,
        ),
    ],
)
def test_unreachable_routes_are_refused(routes: str, shadowed: int) -> None:
    config = load_config_text(f"gateway: {{routes: [{routes}]}}")
    with pytest.raises(ConfigError, match=rf"gateway\.routes\[{shadowed}\]: unreachable"):
        compile_gateway(config)


@pytest.mark.parametrize(
    "routes",
    [
        "{name: a, match: {prefix: /api/admin}, upstream: 'http://h'},"
        " {name: b, match: {prefix: /api}, upstream: 'http://h'}",
        "{name: a, match: {prefix: /api, host: a.example}, upstream: 'http://h'},"
        " {name: b, match: {prefix: /api}, upstream: 'http://h'}",
        "{name: a, match: {prefix: /api, methods: [GET]}, upstream: 'http://h'},"
        " {name: b, match: {prefix: /api}, upstream: 'http://h'}",
        "{name: a, match: {prefix: /api}, upstream: 'http://h'},"
        " {name: b, match: {prefix: /apix}, upstream: 'http://h'}",
    ],
)
def test_reachable_route_orders_are_accepted(routes: str) -> None:
    compile_gateway(load_config_text(f"gateway: {{routes: [{routes}]}}"))


def test_unusable_certificate_fails_before_listening(tmp_path: Path) -> None:
    from jwtgate.gateway.server import serve

    (tmp_path / "cert.pem").write_text("not a certificate")
    config = load_config_text(
        "gateway: {admin_listener: null, listeners: [{port: 0, tls: "
        f"{{cert: '{tmp_path}/cert.pem', key: '{tmp_path}/missing.pem'}}}}]}}"
    )
    with pytest.raises(ConfigError, match=r"gateway\.listeners\[0\]\.tls"):
        serve(config, None)
