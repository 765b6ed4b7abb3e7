"""Revocations shared through Redis: a durable hash plus pub/sub to every worker.

Layout (``P`` is the configured prefix):

* ``P revocations`` - hash ``kind:value`` -> event JSON: the durable snapshot;
* ``P revocations:expiry`` - sorted set ``kind:value`` scored by ``expires_at``,
  used to prune entries whose tokens have all expired;
* channel ``P revocations`` - every published event, as JSON.

A worker subscribes *first* and loads the snapshot *second*, so an event
published in between arrives one way or the other (applying twice is
harmless: :meth:`RevocationView.apply` is idempotent).  When the pub/sub
connection drops, messages published meanwhile are lost by Redis design, so
every reconnect reloads the snapshot.  Publishing is one Lua script: merge
with any existing entry, write hash and zset, prune expired entries, and
``PUBLISH`` - atomic, so no subscriber can see an event the snapshot lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from jwtgate.clock import Clock, system_clock
from jwtgate.errors import JwtGateError
from jwtgate.revocation.base import RevocationEvent, RevocationView

__all__ = ["RedisRevocationStore", "RevocationStoreUnavailable"]

_log = logging.getLogger("jwtgate.revocation.redis")
_ERRORS = (redis.exceptions.RedisError, OSError)

# KEYS: hash, zset.  ARGV: field, kind, value, expires_at, not_before, now, channel.
_PUBLISH_LUA = """
local exp = tonumber(ARGV[4])
local nbf = tonumber(ARGV[5])
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local o = cjson.decode(old)
  if tonumber(o.expires_at) > exp then exp = tonumber(o.expires_at) end
  if tonumber(o.not_before) > nbf then nbf = tonumber(o.not_before) end
end
local payload = cjson.encode({kind = ARGV[2], value = ARGV[3], expires_at = exp, not_before = nbf})
redis.call('HSET', KEYS[1], ARGV[1], payload)
redis.call('ZADD', KEYS[2], exp, ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[6], 'LIMIT', 0, 1000)
for _, f in ipairs(dead) do
  redis.call('HDEL', KEYS[1], f)
  redis.call('ZREM', KEYS[2], f)
end
redis.call('PUBLISH', ARGV[7], payload)
return payload
"""


class RevocationStoreUnavailable(JwtGateError):
    """The shared revocation store cannot be reached."""

    code = "revocation_unavailable"
    status = 503
    default_description = "the revocation store is unavailable"


class RedisRevocationStore:
    """A :class:`~jwtgate.revocation.RevocationStore` shared by every worker through Redis.

    ``start`` fails with :class:`RevocationStoreUnavailable` when Redis is
    down: starting with an empty view would silently accept revoked tokens.
    Later disconnects keep the last view, reconnect with backoff and reload
    the snapshot; ``connected`` and ``reconnects`` tell the health check.
    ``on_apply(n)`` is called with the number of events applied (for metrics).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "jwtgate:",
        clock: Clock = system_clock,
        on_apply: Callable[[int], None] | None = None,
        prune_interval: float = 60.0,
    ) -> None:
        self._url = url
        self._clock = clock
        self._view = RevocationView(clock)
        self._hash = f"{prefix}revocations"
        self._zset = f"{prefix}revocations:expiry"
        self._channel = f"{prefix}revocations"
        self._on_apply = on_apply
        self._prune_interval = prune_interval
        # Named connections let operators (and tests) find the subscriber in CLIENT LIST.
        self.client_name = f"jwtgate-revocation-{secrets.token_hex(4)}"
        self._redis = aioredis.Redis.from_url(url, client_name=self.client_name)
        self._script = self._redis.register_script(_PUBLISH_LUA)
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._resync = False
        # Payloads this store published and already applied; their echo on the
        # channel is skipped so ``on_apply`` counts each event once.
        self._own: set[bytes] = set()
        self.connected = False
        self.reconnects = 0

    @property
    def view(self) -> RevocationView:
        """The in-process view checked on every request."""
        return self._view

    async def start(self) -> None:
        """Subscribe, load the snapshot, then follow the channel in the background."""
        try:
            await self._subscribe_and_load()
        except _ERRORS as exc:
            await self._drop_pubsub()
            raise RevocationStoreUnavailable(
                detail=f"cannot reach Redis for revocations: {type(exc).__name__}"
            ) from None
        self._task = asyncio.create_task(self._follow(), name="jwtgate-revocation-follow")

    async def publish(self, event: RevocationEvent) -> None:
        """Store the event durably, broadcast it, and apply it here before returning."""
        field = f"{event.kind.value}:{event.value}"
        try:
            payload = await self._script(
                keys=[self._hash, self._zset],
                args=[
                    field,
                    event.kind.value,
                    event.value,
                    repr(event.expires_at),
                    repr(event.not_before),
                    repr(self._clock()),
                    self._channel,
                ],
            )
        except _ERRORS as exc:
            raise RevocationStoreUnavailable(
                detail=f"cannot publish a revocation: {type(exc).__name__}"
            ) from None
        if len(self._own) < 10_000:
            self._own.add(bytes(payload))
        self._apply_payload(payload)
        self._view.prune()

    async def close(self) -> None:
        """Stop following the channel and release connections."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_pubsub()
        await self._redis.aclose()
        self.connected = False

    async def load_snapshot(self) -> int:
        """Apply every live entry of the durable hash; returns how many were applied."""
        raw = await self._redis.hgetall(self._hash)
        now = self._clock()
        applied = 0
        for payload in raw.values():
            event = self._parse(payload)
            if event is not None and event.expires_at >= now:
                self._view.apply(event)
                applied += 1
        if applied and self._on_apply is not None:
            self._on_apply(applied)
        self._view.prune()
        return applied

    async def _subscribe_and_load(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._pubsub = pubsub
        await pubsub.subscribe(self._channel)
        # redis-py reconnects a dropped pub/sub connection by itself and
        # resubscribes; this callback tells us to reload what we missed.
        connection: Any = pubsub.connection
        if connection is not None:
            connection.register_connect_callback(self._on_reconnect)
        await self.load_snapshot()
        self.connected = True

    async def _on_reconnect(self, _connection: object) -> None:
        self._resync = True

    async def _follow(self) -> None:
        backoff = 0.05
        next_prune = self._clock() + self._prune_interval
        while True:
            try:
                if self._pubsub is None:
                    await self._subscribe_and_load()
                    backoff = 0.05
                message = await self._pubsub.get_message(timeout=1.0)
                if self._resync:
                    self._resync = False
                    self.reconnects += 1
                    self._own.clear()
                    await self.load_snapshot()
                    self.connected = True
                if message is not None and message.get("type") == "message":
                    data = message["data"]
                    if data in self._own:
                        self._own.discard(data)
                    else:
                        self._apply_payload(data)
            except _ERRORS as exc:
                self.connected = False
                self.reconnects += 1
                self._own.clear()
                _log.warning("revocation channel lost (%s); reconnecting", type(exc).__name__)
                await self._drop_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if self._clock() >= next_prune:
                self._view.prune()
                next_prune = self._clock() + self._prune_interval

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*_ERRORS):
                await pubsub.aclose()

    def _apply_payload(self, payload: bytes | str) -> None:
        event = self._parse(payload)
        if event is None:
            return
        self._view.apply(event)
        if self._on_apply is not None:
            self._on_apply(1)

    @staticmethod
    def _parse(payload: bytes | str) -> RevocationEvent | None:
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return RevocationEvent.from_json(data)
        except ValueError:
            # Never crash the follower on one bad message; it is not ours to trust.
            _log.warning("ignoring a malformed revocation message")
            return None
