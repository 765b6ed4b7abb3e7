"""Login reads the throttle rows and the user in one hop on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from jwtgate.auth.errors import TooManyAttempts


async def _both_paths(core: Any, username: str, ip: str, now: float) -> list[object]:
    """``login_state`` through the SQLite fast path and the portable SQLAlchemy path."""
    results: list[object] = []
    for fast in (True, False):
        core.fast_path = fast
        try:
            results.append(await core.login_state(username, ip, now))
        except TooManyAttempts as exc:
            results.append(("throttled", exc.retry_after))
        finally:
            core.fast_path = True
    return results


async def test_login_state_agrees_with_the_portable_path(harness: Any) -> None:
    """Throttle verdict and user record are the same on the engine-specific one-hop read
    (SQLite and PostgreSQL) and the portable path, in every throttle state."""
    h = harness
    core, ip = h.server.core, "192.0.2.7"
    seen = []
    for name in ("alice", "nobody", "x" * 65, "ALICE"):
        fast, portable = await _both_paths(core, name, ip, h.clock())
        assert fast == portable
        seen.append(fast)
    assert seen[0][1].info.username == "alice"  # type: ignore[index]
    assert seen[1][1] is None  # type: ignore[index]
    assert seen[2][1] is None  # type: ignore[index]
    # A success makes the pair trusted ("clean": no write on the next success).
    await core.throttle.record_success("alice", ip, h.clock())
    fast, portable = await _both_paths(core, "alice", ip, h.clock())
    assert fast == portable
    assert fast[0] is True  # type: ignore[index]
    # Failures from another address: soft account delay, then a pair lockout.
    for _ in range(12):
        await core.throttle.record_failure("bob", "198.51.100.9", h.clock())
        fast, portable = await _both_paths(core, "bob", "198.51.100.9", h.clock())
        assert fast == portable
        seen.append(fast)
    assert any(isinstance(s, tuple) and s[0] == "throttled" for s in seen)
