"""``jwtgate token issue|verify|decode`` through the real command line."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jwtgate.cli.main import main

RunCli = Callable[..., Any]


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_issue_verify_decode_round_trip(keyed_cli: RunCli) -> None:
    """Real processes: the compact token printed by one run verifies in another."""
    issued = keyed_cli(
        "token", "issue", "--sub", "alice", "--aud", "jwtgate", "--scope", "api read",
        "--role", "admin", "--role", "user", "--claim", "tenant=acme", "--claim", "n=42",
        "--claim", 'tags=["a","b"]', "--claim", "label=not json", "--ttl", "120", "--json",
    )  # fmt: skip
    assert issued.rc == 0, issued.err
    data = issued.json()
    token = data["access_token"]
    assert data["expires_in"] == 120
    claims = data["claims"]
    assert claims["sub"] == "alice"
    assert claims["roles"] == ["admin", "user"]
    assert claims["scope"] == "api read"
    # JSON values when valid JSON, otherwise plain strings.
    assert claims["n"] == 42
    assert claims["tags"] == ["a", "b"]
    assert claims["label"] == "not json"
    assert claims["tenant"] == "acme"

    verified = keyed_cli("token", "verify", token, "--json")
    assert verified.rc == 0, verified.err
    assert verified.json()["valid"] is True
    assert verified.json()["claims"]["jti"] == data["jti"]
    assert verified.json()["header"]["typ"] == "at+jwt"

    decoded = keyed_cli("token", "decode", token)
    assert decoded.rc == 0
    assert decoded.out.count("UNVERIFIED") >= 3  # banner, header and claims are marked


def test_verify_text_stdin_and_decode(inproc_cli: RunCli) -> None:
    assert inproc_cli("keys", "generate").rc == 0
    plain = inproc_cli("token", "issue", "--sub", "alice", "--role", "admin")
    assert plain.rc == 0
    token = plain.out.strip()
    assert token.count(".") == 2  # only the compact token

    text = inproc_cli("token", "verify", token)
    assert text.rc == 0
    assert text.out.startswith("valid")

    via_stdin = inproc_cli("token", "verify", "-", stdin=token + "\n")
    assert via_stdin.rc == 0

    decoded_json = inproc_cli("token", "decode", token, "--json").json()
    assert decoded_json["verified"] is False
    assert decoded_json["claims"]["sub"] == "alice"


@pytest.mark.parametrize(
    ("claim", "why"),
    [
        ("exp=1", "RFC 7519 section 4.1.4 exp"),
        ("iss=http://evil", "RFC 7519 section 4.1.1 iss"),
        ("sub=root", "RFC 7519 section 4.1.2 sub"),
        ("aud=x", "RFC 7519 section 4.1.3 aud"),
        ("jti=1", "RFC 7519 section 4.1.7 jti"),
        ('roles=["admin"]', "RFC 9068 section 2.2.3.1 roles"),
        ("csrf=x", "jwtgate.csrf binding"),
        ("sid=x", "refresh family id"),
        ("noequals", "syntax"),
        ("=value", "syntax"),
    ],
)
def test_issue_rejects_bad_claims(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], claim: str, why: str
) -> None:
    # In-process (same code path as the subprocess runs above, without the start-up cost).
    rc = main(["token", "issue", "--sub", "x", "--claim", claim, "--data-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 2, why
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "usage_error" in captured.err


def test_issue_rejects_ttl_over_cap(inproc_cli: RunCli) -> None:
    keyed_cli = inproc_cli
    keyed_cli("token", "issue", "--sub", "x", "--ttl", "99999").assert_one_line_error(2)
    keyed_cli("token", "issue", "--sub", "x", "--ttl", "ten").assert_one_line_error(2)


_HEADER = {"typ": "at+jwt", "alg": "ES256", "kid": "nope"}
_CLAIMS = {
    "iss": "http://127.0.0.1:8080/auth",
    "aud": "jwtgate",
    "sub": "x",
    "iat": int(time.time()),
    "exp": int(time.time()) + 300,
    "jti": "j" * 22,
}


@pytest.mark.parametrize(
    ("token", "code"),
    [
        pytest.param("garbage", "malformed_token", id="not-three-segments"),
        pytest.param("a.b", "malformed_token", id="two-segments"),
        pytest.param(
            f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(_CLAIMS)}.",
            "alg_none",
            id="CVE-2015-9235-alg-none",
        ),
        pytest.param(
            f"{_b64(_HEADER)}.{_b64(_CLAIMS)}.{'A' * 86}", "unknown_kid", id="unknown-kid"
        ),
    ],
)
def test_verify_refuses_bad_tokens(inproc_cli: RunCli, token: str, code: str) -> None:
    assert inproc_cli("keys", "generate").rc == 0
    result = inproc_cli("token", "verify", token)
    result.assert_one_line_error(1, code)
    assert len(token) < 8 or token not in result.err  # the token is never echoed back


def test_verify_wrong_audience_and_json_result(inproc_cli: RunCli) -> None:
    keyed_cli = inproc_cli
    assert keyed_cli("keys", "generate").rc == 0
    token = keyed_cli("token", "issue", "--sub", "carol").out.strip()
    keyed_cli("token", "verify", token, "--aud", "other").assert_one_line_error(
        1, "audience_mismatch"
    )
    as_json = keyed_cli("token", "verify", token, "--aud", "other", "--json")
    assert as_json.rc == 1
    assert as_json.json() == {
        "valid": False,
        "error": "audience_mismatch",
        "error_description": as_json.json()["error_description"],
    }


def test_decode_malformed_and_missing_keyring(jwtgate_cli: RunCli, inproc_cli: RunCli) -> None:
    jwtgate_cli("token", "decode", "not-a-token").assert_one_line_error(1, "malformed_token")
    inproc_cli("token", "issue", "--sub", "x").assert_one_line_error(1, "cli_error")
    inproc_cli("token", "issue").assert_one_line_error(2, "usage_error")  # --sub is required
