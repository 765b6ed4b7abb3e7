"""The in-memory limiter's hot path pinned to the GCRA step it inlines.

``_Reference`` is the limiter as it was written before ``take`` stopped
counting the tokens left; every decision, Retry-After and the order in which
buckets are kept and evicted must stay the same.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from jwtgate.clock import FrozenClock
from jwtgate.gateway.ratelimit import MemoryRateLimiter, RateDecision


class _Reference:
    def __init__(self, clock: FrozenClock, max_keys: int) -> None:
        self.clock, self.max_keys = clock, max_keys
        self.buckets: OrderedDict[str, float] = OrderedDict()

    def hit(self, key: str, rate: float, burst: int) -> RateDecision:
        now = self.clock()
        buckets = self.buckets
        interval = 1.0 / rate
        tat = max(buckets.get(key, now), now)
        new_tat = tat + interval
        allow_at = new_tat - burst * interval
        if allow_at > now:
            return RateDecision(False, allow_at - now, 0)
        buckets.pop(key, None)  # kept last: the most recently used
        buckets[key] = new_tat
        oldest, oldest_tat = next(iter(buckets.items()))
        if oldest_tat <= now:  # full again
            del buckets[oldest]
        while len(buckets) > self.max_keys:
            del buckets[next(iter(buckets))]
        return RateDecision(True, 0.0, int((now - allow_at) / interval + 1e-9))


@given(
    max_keys=st.integers(min_value=1, max_value=4),
    hits=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d", "e"]),
            st.floats(min_value=0.0, max_value=1.5),
            st.sampled_from([0.5, 1.0, 3.0, 10.0]),
            st.integers(min_value=1, max_value=4),
            st.booleans(),
        ),
        min_size=1,
        max_size=60,
    ),
)
@settings(max_examples=300, deadline=None)
def test_take_and_hit_now_match_the_reference(
    max_keys: int, hits: list[tuple[str, float, float, int, bool]]
) -> None:
    clock, ref_clock = FrozenClock(), FrozenClock()
    limiter = MemoryRateLimiter(clock, max_keys=max_keys)
    reference = _Reference(ref_clock, max_keys)
    for key, dt, rate, burst, fast in hits:
        clock.advance(dt)
        ref_clock.advance(dt)
        expected = reference.hit(key, rate, burst)
        if fast:
            assert limiter.take(key, rate, burst) == expected.retry_after
        else:
            assert limiter.hit_now(key, rate, burst) == expected
        assert list(limiter._buckets.items()) == list(reference.buckets.items())


def test_take_refuses_bad_arguments() -> None:
    limiter = MemoryRateLimiter()
    for rate, burst in [(0.0, 1), (-1.0, 1), (math.inf, 1), (math.nan, 1), (1.0, 0)]:
        try:
            limiter.take("k", rate, burst)
        except ValueError:
            continue
        raise AssertionError((rate, burst))
