"""Brute-force protection: pair lockout, ip lockout, capped soft account delay, trusted ips."""

from __future__ import annotations

from typing import Any

import httpx

ALICE = ("alice", "correct-horse-battery")
BASE_URL = "https://auth.test"


def _client_from(h: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=h.server.app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


async def _login(client: httpx.AsyncClient, password: str) -> httpx.Response:
    return await client.post("/auth/login", json={"username": "alice", "password": password})


async def test_pair_lockout_does_not_lock_out_the_user_elsewhere(harness: Any) -> None:
    """OWASP Authentication Cheat Sheet "Account Lockout": lock the attacker, not the user."""
    attacker, user = _client_from(harness, "203.0.113.9"), _client_from(harness, "198.51.100.7")
    async with attacker, user:
        for _ in range(5):
            assert (await _login(attacker, "guess-guess-1")).status_code == 401
        locked = await _login(attacker, ALICE[1])  # even the right password is refused now
        assert locked.status_code == 429
        assert locked.json()["error"] == "too_many_attempts"
        assert int(locked.headers["retry-after"]) == 60
        assert (await _login(user, ALICE[1])).status_code == 200
        events = [e for e in harness.server.core.audit.recent(50) if e["event"] == "lockout"]
        assert events
        assert events[0]["scope"] == "pair"
        assert events[0]["ip"] == "203.0.113.9"
        harness.clock.advance(61)
        assert (await _login(attacker, ALICE[1])).status_code == 200


async def test_lockouts_grow_and_are_capped(make_harness: Any, clock: Any) -> None:
    h = await make_harness(
        throttle={"lockout_base": 10, "lockout_max": 25, "account_soft_threshold": 100}
    )
    attacker = _client_from(h, "203.0.113.10")
    async with attacker:
        waits = []
        for _ in range(3):
            for _ in range(5):
                await _login(attacker, "wrong-wrong-1")
            r = await _login(attacker, "wrong-wrong-1")
            waits.append(int(r.headers["retry-after"]))
            clock.advance(waits[-1])
        assert waits == [10, 20, 25]


async def test_account_soft_delay_is_capped_and_spares_trusted_ips(
    make_harness: Any, clock: Any
) -> None:
    settings = {"pair_max_failures": 100, "account_soft_threshold": 3, "account_max_delay": 8}
    h = await make_harness(throttle=settings)
    home = _client_from(h, "198.51.100.1")
    async with home:
        assert (await _login(home, ALICE[1])).status_code == 200  # trusted from now on
    # A distributed attack: each failure from a new address.
    statuses = []
    for i in range(8):
        bot = _client_from(h, f"203.0.113.{i + 20}")
        async with bot:
            statuses.append((await _login(bot, "guess-guess-2")).status_code)
    assert statuses[:3] == [401, 401, 401]
    assert 429 in statuses[3:]
    newcomer = _client_from(h, "192.0.2.50")
    async with newcomer:
        r = await _login(newcomer, ALICE[1])
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) <= 8  # capped: never locked out for long
        clock.advance(8)
        assert (await _login(newcomer, ALICE[1])).status_code == 200
    home = _client_from(h, "198.51.100.1")
    async with home:
        for i in range(3):
            bot = _client_from(h, f"203.0.113.{i + 40}")
            async with bot:
                await _login(bot, "guess-guess-3")
        assert (await _login(home, ALICE[1])).status_code == 200  # trusted ip unaffected


async def test_ip_lockout_for_password_spraying(make_harness: Any) -> None:
    h = await make_harness(throttle={"ip_max_failures": 4})
    sprayer = _client_from(h, "203.0.113.77")
    async with sprayer:
        for name in ("u1", "u2", "u3", "u4"):
            r = await sprayer.post(
                "/auth/login", json={"username": name, "password": "Summer-2026!"}
            )
            assert r.status_code == 401
        r = await sprayer.post("/auth/login", json={"username": "bob", "password": "x" * 9})
        assert r.status_code == 429
        assert any(
            e["event"] == "lockout" and e["scope"] == "ip" for e in h.server.core.audit.recent(20)
        )


async def test_throttle_state_is_shared_through_the_database(harness: Any) -> None:
    """A second auth instance on the same database sees the lockout."""
    attacker = _client_from(harness, "203.0.113.5")
    async with attacker:
        for _ in range(5):
            await _login(attacker, "guess-guess-4")
    other = type(harness)(harness.config, harness.clock)
    await other.server.start()
    try:
        client = _client_from(other, "203.0.113.5")
        async with client:
            assert (await _login(client, ALICE[1])).status_code == 429
    finally:
        await other.close()


async def test_returning_user_login_skips_the_throttle_write(sqlite_harness: Any) -> None:
    from sqlalchemy import select

    from jwtgate.auth.schema import login_throttle

    h = sqlite_harness
    client = _client_from(h, "198.51.100.20")

    async def trusted_until() -> float:
        async with h.server.core.engine.connect() as conn:
            value = await conn.scalar(
                select(login_throttle.c.trusted_until).where(
                    login_throttle.c.key == "pair:198.51.100.20|alice"
                )
            )
        return float(value)

    async with client:
        assert (await _login(client, ALICE[1])).status_code == 200
        first = await trusted_until()
        h.clock.advance(60)
        assert (await _login(client, ALICE[1])).status_code == 200
        assert await trusted_until() == first  # nothing to clear, trust still fresh
        assert (await _login(client, "wrong-wrong-9")).status_code == 401
        assert (await _login(client, ALICE[1])).status_code == 200
        assert await trusted_until() == first + 60  # a failure forces the reset write
