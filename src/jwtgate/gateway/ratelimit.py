"""Rate limiting: GCRA token buckets, in process or shared through Redis.

The Generic Cell Rate Algorithm (ITU-T I.371; the algorithm behind most
production limiters) stores one number per key, the *theoretical arrival
time* (TAT) of the next conforming request.  A bucket of size ``burst``
refilled at ``rate`` tokens per second is exactly:

* emission interval ``T = 1 / rate``; capacity ``burst * T`` seconds;
* a request at ``now`` is allowed when ``max(TAT, now) + T - burst * T <= now``;
  then ``TAT = max(TAT, now) + T``;
* otherwise it is refused and may retry after ``allow_at - now`` seconds.

A bucket whose TAT is in the past is full, i.e. indistinguishable from an
absent one, so idle keys can be forgotten at no cost in accuracy: that is how
the in-memory limiter bounds its memory and how Redis keys expire.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from jwtgate.clock import Clock, system_clock
from jwtgate.gateway.errors import LimiterUnavailable

if TYPE_CHECKING:
    from jwtgate.config import JwtGateConfig

__all__ = [
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimiter",
    "RedisRateLimiter",
    "build_rate_limiter",
]

_log = logging.getLogger("jwtgate.gateway.ratelimit")
_INF = math.inf  # one global lookup in MemoryRateLimiter.take, not a module's attribute too


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one hit: allowed or not, when to retry, tokens left."""

    allowed: bool
    retry_after: float
    remaining: int


class RateLimiter(Protocol):
    """Anything that can charge one request against a named bucket."""

    async def hit(self, key: str, rate: float, burst: int) -> RateDecision:
        """Take one token from bucket ``key`` (``rate`` tokens/s, ``burst`` capacity)."""
        ...


def _gcra(tat: float, now: float, rate: float, burst: int) -> tuple[RateDecision, float]:
    """One GCRA step: the decision and the new TAT (unchanged when refused)."""
    interval = 1.0 / rate
    base = tat if tat > now else now
    new_tat = base + interval
    allow_at = new_tat - burst * interval
    if allow_at > now:
        return RateDecision(False, allow_at - now, 0), tat
    remaining = int((now - allow_at) / interval + 1e-9)
    return RateDecision(True, 0.0, remaining), new_tat


def _check_args(rate: float, burst: int) -> None:
    # Explicit checks, not asserts: asserts vanish under ``python -O``.
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError("rate must be a positive finite number of tokens per second")
    if burst < 1:
        raise ValueError("burst must be at least 1")


class MemoryRateLimiter:
    """A per-process GCRA limiter with O(1) hits and bounded memory.

    Buckets live in an LRU-ordered dict.  Each hit also looks at the least
    recently used bucket and drops it when it is full again (lossless); when
    ``max_keys`` is reached the least recently used bucket is evicted even if
    not yet full, which can only make the limiter more lenient for that one
    key - memory stays bounded under a flood of distinct keys (e.g. spoofed
    client IPs), which matters more.
    """

    __slots__ = ("_buckets", "_clock", "_max_keys", "_oldest", "_oldest_tat")

    def __init__(self, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, float] = OrderedDict()
        # The least recently used bucket and its TAT, while known: finding it
        # in the dict (an iterator and a lookup) costs more than the rest of a
        # hit, and it only changes when that bucket is hit, dropped or evicted.
        self._oldest: str | None = None
        self._oldest_tat = 0.0

    def take(self, key: str, rate: float, burst: int, now: float | None = None) -> float:
        """Synchronous hit: 0.0 when allowed, else the seconds to wait before a retry.

        Refused means a positive result (the difference of two distinct
        floats is never zero). No decision object and no count of the tokens
        left: this runs on every rate-limited request, and its caller only
        needs the Retry-After. ``now`` is a reading of this limiter's clock
        (read here when not given).
        """
        # GCRA inlined (see _gcra, which hit_now uses for the tokens left).
        if not 0.0 < rate < _INF or burst < 1:
            _check_args(rate, burst)
        if now is None:
            now = self._clock()
        buckets = self._buckets
        interval = 1.0 / rate
        tat = buckets.get(key, now)
        if tat < now:
            tat = now
        new_tat = tat + interval
        allow_at = new_tat - burst * interval
        if allow_at > now:
            return allow_at - now
        buckets[key] = new_tat
        buckets.move_to_end(key)
        oldest = self._oldest
        if oldest is None or oldest == key:
            if len(buckets) == 1:  # alone: the oldest and the newest
                oldest, self._oldest_tat = key, new_tat
            else:
                oldest = next(iter(buckets))
                self._oldest_tat = buckets[oldest]
            self._oldest = oldest
        # Lossless eviction: the oldest bucket is full again, forgetting it changes nothing.
        if self._oldest_tat <= now:
            del buckets[oldest]
            self._oldest = None
        if len(buckets) > self._max_keys:
            buckets.popitem(last=False)
            self._oldest = None
        return 0.0

    def hit_now(self, key: str, rate: float, burst: int) -> RateDecision:
        """Synchronous :meth:`hit` (the in-process limiter never waits)."""
        _check_args(rate, burst)
        now = self._clock()
        tat = self._buckets.get(key, now)
        retry = self.take(key, rate, burst, now)
        if retry:
            return RateDecision(False, retry, 0)
        # The same step from the same TAT and clock reading: the tokens left.
        return _gcra(tat, now, rate, burst)[0]

    async def hit(self, key: str, rate: float, burst: int) -> RateDecision:
        """Take one token from bucket ``key``."""
        return self.hit_now(key, rate, burst)

    def __len__(self) -> int:
        return len(self._buckets)


# KEYS[1] = bucket key; ARGV = rate, burst, now (or "" for the server's clock).
# Runs atomically on the server, so any number of gateway workers and hosts
# share one bucket exactly.  TIME is allowed in scripts since Redis 5 (effect
# replication), which is what makes the server clock usable here.
_GCRA_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[3])
end
local interval = 1 / rate
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, tostring(allow_at - now), 0}
end
local ttl = math.ceil((new_tat - now) * 1000)
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl)
return {1, '0', math.floor((now - allow_at) / interval + 1e-9)}
"""


class RedisRateLimiter:
    """A GCRA limiter whose buckets live in Redis, shared by every worker and host.

    One hit is one ``EVALSHA`` round trip.  Time comes from the Redis server
    by default (``clock=None``), so gateways with skewed clocks still agree;
    pass a clock to use local time instead (tests, or single-host setups).

    If Redis is unreachable the limiter *fails open* by default (allows,
    logs, counts ``errors``): a rate limit protects availability, and refusing
    every request during a Redis outage would cause the outage it exists to
    prevent.  ``fail_open=False`` (``gateway.rate_limit_on_error: deny``) is
    for limits that guard something costlier than an outage (a paid API, a
    brute-forceable endpoint): the request gets 503 ``temporarily_unavailable``.
    """

    def __init__(
        self, url: str, *, prefix: str, clock: Clock | None = None, fail_open: bool = True
    ) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url)
        self._prefix = f"{prefix}rl:"
        self._clock = clock
        self._script = self._redis.register_script(_GCRA_LUA)
        self.errors = 0
        self._fail_open = fail_open

    async def hit(self, key: str, rate: float, burst: int) -> RateDecision:
        """Take one token from the shared bucket ``key``."""
        import redis.exceptions

        _check_args(rate, burst)
        now = "" if self._clock is None else repr(self._clock())
        try:
            allowed, retry, remaining = await self._script(
                keys=[self._key(key)], args=[repr(float(rate)), burst, now]
            )
        except (redis.exceptions.RedisError, OSError) as exc:
            self.errors += 1
            if self.errors == 1 or self.errors % 1000 == 0:
                verdict = "allowing" if self._fail_open else "refusing with 503"
                _log.warning(
                    "rate limiter: Redis unavailable, %s (%s)", verdict, type(exc).__name__
                )
            if not self._fail_open:
                raise LimiterUnavailable() from None
            return RateDecision(True, 0.0, burst - 1)
        return RateDecision(bool(allowed), float(retry), int(remaining))

    def _key(self, key: str) -> str:
        # Keys may carry client-chosen claim values; hash long ones so a huge
        # claim cannot make huge Redis keys.
        if len(key) > 200:
            key = "h:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._prefix + key

    async def close(self) -> None:
        """Release the connection pool."""
        await self._redis.aclose()


def build_rate_limiter(config: JwtGateConfig, clock: Clock = system_clock) -> RateLimiter:
    """The limiter named by ``gateway.rate_limit_backend`` (``memory`` or ``redis``).

    The Redis limiter uses the Redis server's clock, so ``clock`` only
    applies to the in-memory one.
    """
    backend = getattr(config.gateway, "rate_limit_backend", "memory")
    if backend == "redis":
        return RedisRateLimiter(
            config.redis.url,
            prefix=config.redis.prefix,
            fail_open=config.gateway.rate_limit_on_error == "allow",
        )
    # Buckets measure intervals only, so the in-process limiter runs on the
    # monotonic clock: on the wall clock, a step back (NTP, a VM resumed)
    # would leave every bucket's TAT in the future and refuse every key for
    # as long as the step. A clock passed in (a test's) is used as given.
    return MemoryRateLimiter(time.monotonic if clock is system_clock else clock)
