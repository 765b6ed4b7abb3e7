"""GCRA rate limiting: in memory with an injected clock, and shared through the real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.clock import FrozenClock
from jwtgate.config import JwtGateConfig, load_config_text
from jwtgate.gateway.errors import LimiterUnavailable, render_error
from jwtgate.gateway.ratelimit import (
    MemoryRateLimiter,
    RateDecision,
    RedisRateLimiter,
    build_rate_limiter,
)


def test_burst_then_refuse_with_retry_after() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    decisions = [limiter.hit_now("k", rate=2.0, burst=5) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    refused = decisions[5]
    # 2 tokens/s: the next token is 0.5 s away.
    assert refused.retry_after == pytest.approx(0.5)
    assert refused.remaining == 0


def test_refill_with_injected_clock() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(3):
        assert limiter.hit_now("k", rate=1.0, burst=3).allowed
    assert not limiter.hit_now("k", rate=1.0, burst=3).allowed
    clock.advance(0.99)
    assert not limiter.hit_now("k", rate=1.0, burst=3).allowed
    clock.advance(0.02)
    assert limiter.hit_now("k", rate=1.0, burst=3).allowed
    assert not limiter.hit_now("k", rate=1.0, burst=3).allowed
    clock.advance(100)  # refills to the burst, never beyond
    assert [limiter.hit_now("k", rate=1.0, burst=3).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


def test_refused_hits_do_not_consume() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    assert limiter.hit_now("k", rate=1.0, burst=1).allowed
    for _ in range(50):
        assert not limiter.hit_now("k", rate=1.0, burst=1).allowed
    clock.advance(1.0)
    assert limiter.hit_now("k", rate=1.0, burst=1).allowed


def test_keys_are_independent() -> None:
    limiter = MemoryRateLimiter(FrozenClock())
    assert limiter.hit_now("a", rate=1.0, burst=1).allowed
    assert not limiter.hit_now("a", rate=1.0, burst=1).allowed
    assert limiter.hit_now("b", rate=1.0, burst=1).allowed


def test_memory_is_bounded_under_a_key_flood() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock, max_keys=100)
    for i in range(10_000):
        limiter.hit_now(f"ip-{i}", rate=1.0, burst=5)
    assert len(limiter) <= 100


def test_full_buckets_are_forgotten() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    for i in range(50):
        limiter.hit_now(f"k{i}", rate=10.0, burst=5)
    clock.advance(60)
    for _ in range(60):
        limiter.hit_now("live", rate=10.0, burst=5)
        clock.advance(0.1)
    assert len(limiter) <= 2


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (float("inf"), 1), (1.0, 0)])
def test_invalid_parameters_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="must"):
        MemoryRateLimiter().hit_now("k", rate, burst)


async def test_async_hit_matches_sync() -> None:
    limiter = MemoryRateLimiter(FrozenClock())
    assert await limiter.hit("k", 1.0, 1) == RateDecision(True, 0.0, 0)
    assert not (await limiter.hit("k", 1.0, 1)).allowed


def test_build_defaults_to_memory() -> None:
    assert isinstance(build_rate_limiter(JwtGateConfig()), MemoryRateLimiter)


def test_memory_limiter_runs_on_the_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets follow the monotonic clock, not the wall clock.

    On wall-clock time a step back (NTP, a resumed VM) would leave every
    bucket's TAT in the future and refuse each key for as long as the step.
    """
    steady = FrozenClock(1000.0)
    monkeypatch.setattr(time, "monotonic", steady)
    limiter = build_rate_limiter(JwtGateConfig())
    assert isinstance(limiter, MemoryRateLimiter)
    assert limiter.take("k", rate=1.0, burst=1) == 0.0
    assert limiter.take("k", rate=1.0, burst=1) == pytest.approx(1.0)
    steady.advance(1.0)  # only the monotonic clock moves
    assert limiter.take("k", rate=1.0, burst=1) == 0.0


@pytest.mark.redis
async def test_redis_two_limiters_share_one_bucket(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock()
    one = RedisRateLimiter(redis_url, prefix=redis_prefix, clock=clock)
    two = RedisRateLimiter(redis_url, prefix=redis_prefix, clock=clock)
    try:
        results = [await (one if i % 2 else two).hit("sub:alice", 2.0, 4) for i in range(5)]
        assert [r.allowed for r in results] == [True, True, True, True, False]
        assert [r.remaining for r in results[:4]] == [3, 2, 1, 0]
        assert results[4].retry_after == pytest.approx(0.5)
        clock.advance(0.5)
        assert (await one.hit("sub:alice", 2.0, 4)).allowed
        assert not (await two.hit("sub:alice", 2.0, 4)).allowed
        assert (await two.hit("sub:bob", 2.0, 4)).allowed
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_redis_concurrent_hits_are_atomic(redis_url: str, redis_prefix: str) -> None:
    limiters = [RedisRateLimiter(redis_url, prefix=redis_prefix) for _ in range(2)]
    try:
        # Server clock: 50 concurrent hits at 0.01 tokens/s leave exactly `burst` allowed.
        results = await asyncio.gather(
            *(limiters[i % 2].hit("shared", 0.01, 10) for i in range(50))
        )
        assert sum(r.allowed for r in results) == 10
        refused = [r for r in results if not r.allowed]
        assert all(90 < r.retry_after <= 100 for r in refused)
    finally:
        for limiter in limiters:
            await limiter.close()


@pytest.mark.redis
async def test_redis_bucket_keys_expire(redis_url: str, redis_prefix: str) -> None:
    import redis.asyncio as aioredis

    limiter = RedisRateLimiter(redis_url, prefix=redis_prefix)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await limiter.hit("x" * 500, 10.0, 5)
        keys = await client.keys(f"{redis_prefix}*")
        assert len(keys) == 1
        assert len(keys[0]) < 300  # long keys are hashed
        ttl_ms = await client.pttl(keys[0])
        assert 0 < ttl_ms <= 100  # one token at 10/s: gone within 0.1 s
    finally:
        await client.aclose()
        await limiter.close()


@pytest.mark.redis
async def test_redis_unreachable_fails_open(unused_port: int) -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{unused_port}/0", prefix="x:")
    try:
        decision = await limiter.hit("k", 1.0, 3)
        assert decision.allowed
        assert limiter.errors == 1
    finally:
        await limiter.close()


@pytest.mark.redis
async def test_redis_unreachable_can_fail_closed(unused_port: int) -> None:
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{unused_port}/0", prefix="x:", fail_open=False)
    try:
        with pytest.raises(LimiterUnavailable):
            await limiter.hit("k", 1.0, 3)
        assert limiter.errors == 1
    finally:
        await limiter.close()


@pytest.mark.parametrize(("setting", "fail_open"), [("allow", True), ("deny", False)])
def test_the_configured_error_policy_reaches_the_limiter(setting: str, fail_open: bool) -> None:
    config = load_config_text(
        f"gateway: {{rate_limit_backend: redis, rate_limit_on_error: {setting}}}"
    )
    limiter = build_rate_limiter(config)
    assert isinstance(limiter, RedisRateLimiter)
    assert limiter._fail_open is fail_open


def test_a_closed_limiter_answers_503_with_retry_after() -> None:
    status, headers, body = render_error(LimiterUnavailable(), token_presented=False)
    assert status == 503
    assert (b"retry-after", b"1") in headers
    assert json.loads(body)["error"] == "temporarily_unavailable"


@given(
    rate=st.floats(min_value=0.1, max_value=1000.0),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=200),
)
@settings(max_examples=100, deadline=None)
def test_gcra_never_exceeds_burst_plus_refill(rate: float, burst: int, steps: list[float]) -> None:
    """Property: over any window from the start, allowed <= burst + rate * elapsed."""
    clock = FrozenClock()
    start = clock.now
    limiter = MemoryRateLimiter(clock)
    allowed = 0
    for dt in steps:
        clock.advance(dt)
        decision = limiter.hit_now("k", rate, burst)
        if decision.allowed:
            allowed += 1
            assert 0 <= decision.remaining < burst
        else:
            # 1e-6: float resolution of epoch seconds is ~2e-7.
            assert 0 < decision.retry_after <= burst / rate + 1e-6
        assert allowed <= burst + rate * (clock.now - start) + 1e-6


@pytest.mark.redis
async def test_build_redis_limiter_from_config(redis_url: str, redis_prefix: str) -> None:
    config = load_config_text(
        f"gateway:\n  rate_limit_backend: redis\nredis:\n  url: {redis_url}\n"
        f"  prefix: '{redis_prefix}'\n"
    )
    limiter = build_rate_limiter(config)
    assert isinstance(limiter, RedisRateLimiter)
    try:
        assert (await limiter.hit("k", 1.0, 1)).allowed
        assert not (await limiter.hit("k", 1.0, 1)).allowed
    finally:
        await limiter.close()
