"""The audit log records security events and never a password, token or secret."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any


async def test_full_flow_audit_has_events_and_no_secrets(harness: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness
    secrets: list[str] = ["correct-horse-battery", "bob-the-builder-42", "wrong-password-x"]
    client_secret = await h.admin.add_client("svc", scopes=["read"])
    secrets.append(client_secret)
    basic = base64.b64encode(f"svc:{client_secret}".encode()).decode()
    await h.login("alice", "wrong-password-x")
    body = await h.tokens()
    secrets += [body["access_token"], body["refresh_token"]]
    refreshed = (await h.refresh(body["refresh_token"])).json()
    secrets += [refreshed["access_token"], refreshed["refresh_token"]]
    h.clock.advance(30)
    await h.refresh(body["refresh_token"])  # reuse -> family revoked
    cookie = await h.login("bob", "bob-the-builder-42", cookie=True, access_cookie=True)
    secrets += [cookie.json()["csrf_token"], *cookie.cookies.values()]
    cc = await h.client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    secrets.append(cc.json()["access_token"])
    fresh = await h.tokens()
    secrets += [fresh["access_token"], fresh["refresh_token"]]
    await h.client.post(
        "/auth/introspect",
        data={"token": fresh["access_token"]},
        headers={"Authorization": f"Basic {basic}"},
    )
    await h.client.post("/auth/revoke", data={"token": fresh["refresh_token"]})
    await h.client.post(
        "/auth/logout-all", headers={"Authorization": f"Bearer {cc.json()['access_token']}"}
    )
    await h.admin.set_password("bob", "bob-the-builder-43")
    secrets.append("bob-the-builder-43")
    h.keyring.rotate()
    await h.server.poll_once()

    audit_file = h.config.data_dir / "audit.jsonl"
    assert audit_file.stat().st_mode & 0o777 == 0o600  # owner-only
    log_text = audit_file.read_text()
    events = [json.loads(line) for line in log_text.splitlines()]
    names = {e["event"] for e in events}
    assert {
        "login_failure",
        "login_success",
        "refresh",
        "refresh_reuse_detected",
        "revocation",
        "logout_all",
        "client_credentials",
        "client_added",
        "user_password_set",
    } <= names
    assert all(isinstance(e["ts"], float) for e in events)
    everything = log_text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret
        assert secret not in everything
        # Also no fragment long enough to matter (a token's signature, say).
        if len(secret) > 40:
            assert secret[-32:] not in everything


def test_forbidden_fields_are_dropped(tmp_path: Any) -> None:
    from jwtgate.auth.audit import AuditLog

    log = AuditLog(tmp_path / "a.jsonl")
    record = log.emit("x", user="u", password="p", refresh_token="t", client_secret="s")
    log.close()
    assert record == {"ts": record["ts"], "event": "x", "user": "u"}
    assert AuditLog(tmp_path / "a.jsonl").recent(5)[0]["user"] == "u"  # read back from file
