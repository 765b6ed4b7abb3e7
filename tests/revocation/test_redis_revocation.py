"""RedisRevocationStore against the real Redis: two workers, snapshot, reconnect, pruning."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from jwtgate.clock import FrozenClock
from jwtgate.revocation import (
    RedisRevocationStore,
    RevocationEvent,
    RevocationKind,
    RevocationStore,
    RevocationStoreUnavailable,
)

pytestmark = pytest.mark.redis

NOW = 1_800_000_000.0


async def _eventually(check: Callable[[], bool], limit: float = 5.0) -> None:
    """Bounded poll: succeed as soon as ``check`` holds, fail after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def _store(
    url: str, prefix: str, clock: FrozenClock, **kw: object
) -> AsyncIterator[RedisRevocationStore]:
    store = RedisRevocationStore(url, prefix=prefix, clock=clock, **kw)  # type: ignore[arg-type]
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def test_implements_the_store_protocol() -> None:
    store: RevocationStore = RedisRevocationStore("redis://127.0.0.1:6379/0")
    assert store.view is not None


# One vector per revocation kind (docs/architecture.md "Revocation").
@pytest.mark.parametrize(
    ("event", "claims"),
    [
        (RevocationEvent(RevocationKind.JTI, "jti-1", NOW + 600), ("jti-1", None, "u", NOW)),
        (RevocationEvent(RevocationKind.SID, "fam-1", NOW + 600), ("x", "fam-1", "u", NOW)),
        (RevocationEvent(RevocationKind.SUB, "bob", NOW + 600, NOW), ("x", None, "bob", NOW - 1)),
    ],
)
async def test_publish_on_one_worker_reaches_the_other(
    redis_url: str,
    redis_prefix: str,
    event: RevocationEvent,
    claims: tuple[str, str | None, str, float],
) -> None:
    clock = FrozenClock(NOW)
    async with (
        _store(redis_url, redis_prefix, clock) as one,
        _store(redis_url, redis_prefix, clock) as two,
    ):
        assert not two.view.is_revoked(*claims)
        await one.publish(event)
        assert one.view.is_revoked(*claims)  # applied locally before returning
        await _eventually(lambda: two.view.is_revoked(*claims))


async def test_store_started_after_publishing_loads_the_snapshot(
    redis_url: str, redis_prefix: str
) -> None:
    clock = FrozenClock(NOW)
    async with _store(redis_url, redis_prefix, clock) as one:
        await one.publish(RevocationEvent(RevocationKind.JTI, "a", NOW + 60))
        await one.publish(RevocationEvent(RevocationKind.SUB, "carol", NOW + 60, NOW - 5))
    async with _store(redis_url, redis_prefix, clock) as late:
        assert late.view.is_revoked("a", None, None, NOW)
        assert late.view.is_revoked(None, None, "carol", NOW - 6)
        assert not late.view.is_revoked(None, None, "carol", NOW - 4)


async def test_sub_not_before_merges_to_the_latest(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock(NOW)
    async with _store(redis_url, redis_prefix, clock) as one:
        await one.publish(RevocationEvent(RevocationKind.SUB, "dave", NOW + 60, NOW))
        await one.publish(RevocationEvent(RevocationKind.SUB, "dave", NOW + 30, NOW - 100))
    async with _store(redis_url, redis_prefix, clock) as late:
        assert late.view.is_revoked(None, None, "dave", NOW - 1)


async def test_expired_entries_are_pruned(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock(NOW)
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with _store(redis_url, redis_prefix, clock) as one:
            await one.publish(RevocationEvent(RevocationKind.JTI, "old", NOW + 10))
            clock.advance(20)
            assert one.view.prune() == 1
            assert not one.view.is_revoked("old", None, None, NOW)
            # The next publish prunes the durable copy too.
            await one.publish(RevocationEvent(RevocationKind.JTI, "new", NOW + 600))
            fields = await client.hkeys(f"{redis_prefix}revocations")
            assert fields == [b"jti:new"]
            assert await client.zcard(f"{redis_prefix}revocations:expiry") == 1
        async with _store(redis_url, redis_prefix, clock) as late:
            assert len(late.view) == 1
    finally:
        await client.aclose()


async def test_snapshot_skips_expired_entries(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock(NOW)
    async with _store(redis_url, redis_prefix, clock) as one:
        await one.publish(RevocationEvent(RevocationKind.JTI, "soon", NOW + 5))
    clock.advance(10)
    async with _store(redis_url, redis_prefix, clock) as late:
        assert len(late.view) == 0


async def test_reconnect_resubscribes_and_reloads(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock(NOW)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        async with (
            _store(redis_url, redis_prefix, clock) as worker,
            _store(redis_url, redis_prefix, clock) as auth,
        ):
            # Kill only this worker's connections (others' tests share the server).
            clients = await admin.client_list()
            ids = [c["id"] for c in clients if c.get("name") == worker.client_name]
            assert ids
            for cid in ids:
                await admin.client_kill_filter(_id=cid)
            await auth.publish(RevocationEvent(RevocationKind.JTI, "during-outage", NOW + 60))
            await _eventually(lambda: worker.view.is_revoked("during-outage", None, None, NOW))
            await _eventually(lambda: worker.reconnects >= 1)
            # And the channel works again after the reconnect.
            await auth.publish(RevocationEvent(RevocationKind.JTI, "after", NOW + 60))
            await _eventually(lambda: worker.view.is_revoked("after", None, None, NOW))
            assert worker.connected
    finally:
        await admin.aclose()


async def test_malformed_messages_are_ignored(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock(NOW)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        async with _store(redis_url, redis_prefix, clock) as worker:
            channel = f"{redis_prefix}revocations"
            for bad in ("not json", "[]", json.dumps({"kind": "nope", "value": "x"})):
                await admin.publish(channel, bad)
            good = RevocationEvent(RevocationKind.JTI, "ok", NOW + 60)
            await admin.publish(channel, json.dumps(good.to_json()))
            await _eventually(lambda: worker.view.is_revoked("ok", None, None, NOW))
            assert len(worker.view) == 1
    finally:
        await admin.aclose()


async def test_on_apply_counts_events(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock(NOW)
    counted: list[int] = []
    async with _store(redis_url, redis_prefix, clock) as one:
        await one.publish(RevocationEvent(RevocationKind.JTI, "a", NOW + 60))
    async with _store(redis_url, redis_prefix, clock, on_apply=counted.append):
        assert sum(counted) == 1


@pytest.mark.parametrize(
    "action",
    [
        lambda s: s.start(),
        lambda s: s.publish(RevocationEvent(RevocationKind.JTI, "x", NOW)),
    ],
)
async def test_unreachable_redis_is_a_clear_error(
    unused_port: int, action: Callable[[RedisRevocationStore], Awaitable[None]]
) -> None:
    store = RedisRevocationStore(f"redis://127.0.0.1:{unused_port}/0")
    try:
        with pytest.raises(RevocationStoreUnavailable) as info:
            await action(store)
        assert info.value.code == "revocation_unavailable"
        assert info.value.status == 503
        assert str(unused_port) not in info.value.description
    finally:
        await store.close()


async def test_publisher_counts_its_own_event_once(redis_url: str, redis_prefix: str) -> None:
    clock = FrozenClock(NOW)
    mine: list[int] = []
    theirs: list[int] = []
    async with (
        _store(redis_url, redis_prefix, clock, on_apply=mine.append) as one,
        _store(redis_url, redis_prefix, clock, on_apply=theirs.append) as two,
    ):
        await one.publish(RevocationEvent(RevocationKind.JTI, "once", NOW + 60))
        await _eventually(lambda: two.view.is_revoked("once", None, None, NOW))
        await _eventually(lambda: not one._own)  # the echo came back and was skipped
        assert sum(mine) == 1
        assert sum(theirs) == 1
