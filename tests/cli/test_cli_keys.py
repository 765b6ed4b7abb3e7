"""``jwtgate keys ...`` through the real command line."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

RunCli = Callable[..., Any]


def test_keys_generate_list_rotate_jwks_export(inproc_cli: RunCli, tmp_path: Path) -> None:
    jwtgate_cli = inproc_cli  # in process: same code path, without interpreter start-up
    made = jwtgate_cli("keys", "generate", "--json")
    assert made.rc == 0, made.err
    first = made.json()["keys"][0]
    assert first["state"] == "active"
    assert first["alg"] == "ES256"
    assert "generating an ES256 key" in made.err  # progress goes to stderr

    again = jwtgate_cli("keys", "generate", "--json")
    assert again.rc == 0
    assert again.json()["created"] is False
    assert again.json()["keys"][0]["kid"] == first["kid"]  # a second run reuses the keyring

    rotated = jwtgate_cli("keys", "rotate", "--alg", "EdDSA", "--json").json()
    assert rotated["previous"] == first["kid"]
    assert rotated["alg"] == "EdDSA"

    listed = jwtgate_cli("keys", "list", "--json").json()
    states = {k["kid"]: k["state"] for k in listed["keys"]}
    assert listed["active"] == rotated["active"]
    assert states == {first["kid"]: "verify-only", rotated["active"]: "active"}

    text = jwtgate_cli("keys", "list")
    assert text.out.splitlines()[0].split() == ["KID", "ALG", "STATE", "CREATED", "VERIFY", "UNTIL"]

    jwks = jwtgate_cli("keys", "jwks").json()
    assert {k["kid"] for k in jwks["keys"]} == set(states)
    for key in jwks["keys"]:
        # RFC 7517 section 9.3 / issue 2: never private members in a JWKS.
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
        assert key["use"] == "sig"
        assert key["alg"] in ("ES256", "EdDSA")

    pem = jwtgate_cli(
        "keys", "export", f"--kid={first['kid']}", "--private"
    )  # a kid may start with "-"
    assert pem.rc == 0
    assert pem.out.startswith("-----BEGIN PRIVATE KEY-----")
    assert "WARNING" in pem.err
    assert "PRIVATE" in pem.err

    key_files = [p for p in (tmp_path / "data" / "keys").iterdir() if p.suffix == ".pem"]
    assert key_files
    for path in key_files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_keys_generate_new_adds_a_prepublished_key(inproc_cli: RunCli) -> None:
    jwtgate_cli = inproc_cli
    assert jwtgate_cli("keys", "generate").rc == 0
    added = jwtgate_cli("keys", "generate", "--new", "--alg", "ES256", "--json").json()
    assert added["keys"][0]["state"] == "verify-only"


def test_keys_errors_are_one_line(jwtgate_cli: RunCli, inproc_cli: RunCli) -> None:
    # As a real process: no keyring yet is a clear operational error, not a traceback.
    missing = jwtgate_cli("keys", "list")
    missing.assert_one_line_error(1, "cli_error")
    assert "jwtgate keys generate" in missing.err

    jwtgate_cli = inproc_cli  # the rest in process (same data directory)
    assert jwtgate_cli("keys", "generate").rc == 0
    jwtgate_cli("keys", "export", "--kid", "no-such-kid", "--private").assert_one_line_error(
        1, "not_found"
    )
    # Without --private the command refuses (usage error, exit 2).
    jwtgate_cli("keys", "export", "--kid", "x").assert_one_line_error(2, "usage_error")
    jwtgate_cli("keys", "export", "--private").assert_one_line_error(2, "usage_error")
    jwtgate_cli("keys", "rotate", "--alg", "none").assert_one_line_error(2, "usage_error")
    json_err = jwtgate_cli("keys", "export", "--kid", "nope", "--private", "--json")
    assert json_err.rc == 1
    assert '"error": "not_found"' in json_err.err


def test_rsa_generation_shows_progress(inproc_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "rsa.yaml"
    config.write_text("tokens: {algorithm: RS256, rsa_bits: 2048}\n")
    made = inproc_cli("keys", "generate", "--config", str(config), "--json")
    assert made.rc == 0, made.err
    assert "generating an RSA-2048 key for RS256" in made.err  # long operation: progress on stderr
    assert made.json()["keys"][0]["alg"] == "RS256"


def test_keys_retire_refuses_active_then_retires(inproc_cli: RunCli) -> None:
    jwtgate_cli = inproc_cli
    first = jwtgate_cli("keys", "generate", "--json").json()["keys"][0]["kid"]
    refused = jwtgate_cli("keys", "retire", f"--kid={first}")
    assert refused.rc == 1
    assert "rotate first" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert jwtgate_cli("keys", "rotate").rc == 0
    retired = jwtgate_cli("keys", "retire", f"--kid={first}", "--json")
    assert retired.rc == 0, retired.err
    assert retired.json()["state"] == "retired"
    jwks = jwtgate_cli("keys", "jwks").json()
    assert first not in {k["kid"] for k in jwks["keys"]}
    missing = jwtgate_cli("keys", "retire", "--kid=nope")
    assert missing.rc == 1
    assert "not_found" in missing.err
