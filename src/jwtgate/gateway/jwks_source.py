"""Key sources for issuers whose keys live elsewhere: a JWKS URL or a JWKS file.

:class:`RemoteJwksSource` is rotation-safe where many gateways are not:

* the set is cached and refreshed in the background every ``ttl`` seconds;
* a failed fetch (HTTP error, timeout, oversized or invalid document) keeps
  the last good set - *stale-if-error* (PyJWT's JWKS client drops it);
* an unknown ``kid`` triggers at most one refetch per ``cooldown``, and
  concurrent refreshes share one request (single-flight), so a flood of
  tokens with random ``kid`` values cannot be turned into a flood of fetches;
* only ``https`` URLs, except loopback, so keys cannot be swapped on the wire;
  redirects are never followed (a redirect could lead anywhere);
* the URL comes from configuration only: a ``jku``/``x5u`` in a token is never
  fetched (RFC 8725 section 3.10; the verifier rejects such headers).

Keys that stay in the set keep their object identity across refreshes and
``version`` changes only when the set really changes, so the verified-token
cache survives routine TTL refreshes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from jwtgate.clock import Clock, system_clock
from jwtgate.errors import ConfigError, JwtGateError
from jwtgate.jose.jwks import JwksKeySet
from jwtgate.jose.keys import VerificationKey

if TYPE_CHECKING:
    import aiohttp

__all__ = ["JwksFileSource", "RemoteJwksSource", "check_jwks_url"]

_log = logging.getLogger("jwtgate.gateway.jwks")


def check_jwks_url(url: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is ``https``, or ``http`` on loopback."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise ConfigError("a JWKS URL must be an absolute http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigError("a JWKS URL must not carry credentials")
    if scheme == "http" and not _is_loopback(host):
        # Keys fetched in clear text could be replaced by anyone on the path.
        raise ConfigError("a JWKS URL must use https (http only on loopback)")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse(body: bytes) -> dict[str, VerificationKey]:
    """Strictly parse a JWKS document into keys by kid (raises on anything odd).

    A document without a single usable key is refused like a broken one: an
    issuer never means "trust nothing", and keeping the last good set is
    safer than letting a publishing mistake reject every token.
    """
    keyset = JwksKeySet.parse(body)
    keys = {kid: keyset.get(kid) for kid in keyset.kids}
    usable = {kid: key for kid, key in keys.items() if key is not None}
    if not usable:
        raise ValueError("the JWKS has no usable key")
    return usable


def _merge(
    old: Mapping[str, VerificationKey], new: dict[str, VerificationKey]
) -> tuple[dict[str, VerificationKey], bool]:
    """Reuse old objects for unchanged keys; report whether the trusted set changed."""
    changed = old.keys() != new.keys()
    for kid, key in new.items():
        prev = old.get(kid)
        if prev is not None and prev.alg == key.alg and prev.public_jwk() == key.public_jwk():
            new[kid] = prev
        else:
            changed = True
    return new, changed


class _FetchFailed(Exception):
    def __init__(self, result: str) -> None:
        super().__init__(result)
        self.result = result


class RemoteJwksSource:
    """A :class:`~jwtgate.jose.KeySource` fed from a JWKS URL (see the module doc).

    ``start`` never raises for an unreachable issuer: the gateway starts with
    an empty set (tokens get ``401 unknown_kid``) and keeps retrying every
    ``cooldown``.  ``on_fetch(result)`` is told every fetch outcome:
    ``updated``, ``unchanged``, ``http_error``, ``timeout``, ``network_error``,
    ``too_large`` or ``invalid``.
    """

    version: int
    """Bumped whenever the trusted set changes (a plain attribute: read on every cache hit)."""
    get: Callable[[str], VerificationKey | None]
    """The trusted key with this kid, or ``None``: the key dict's own ``get``,
    rebound whenever the set is replaced, so a lookup is one C call."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300,
        cooldown: float = 30,
        timeout: float = 5,
        max_bytes: int = 512 * 1024,
        clock: Clock = system_clock,
        on_fetch: Callable[[str], None] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        check_jwks_url(url)
        if ttl <= 0 or cooldown < 0 or timeout <= 0 or max_bytes <= 0:
            raise ConfigError("JWKS ttl, timeout and max_bytes must be positive")
        self.url = url
        self._ttl = ttl
        self._cooldown = cooldown
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._clock = clock
        self._on_fetch = on_fetch
        self._poll = poll_interval
        self._keys: dict[str, VerificationKey] = {}
        self.get = self._keys.get
        self.version = 0
        self._digest = b""
        self._last_attempt = -math.inf
        self._next_due = -math.inf
        self._inflight: asyncio.Task[bool] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.fetches = 0
        self.failures = 0
        self.last_result: str | None = None

    @property
    def kids(self) -> frozenset[str]:
        """The kids currently trusted."""
        return frozenset(self._keys)

    def _open_session(self) -> aiohttp.ClientSession:
        # Imported here: aiohttp costs every worker several MB of memory, and
        # only issuers with a JWKS URL need it.
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout), trust_env=False
            )
        return self._session

    async def start(self) -> None:
        """Fetch once (failure is logged, not raised) and start the background refresher."""
        self._open_session()
        await self.refresh()
        self._task = asyncio.create_task(self._refresher(), name="jwtgate-jwks-refresh")

    async def close(self) -> None:
        """Stop the refresher and close the HTTP session."""
        for task in (self._task, self._inflight):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._inflight = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def refresh(self) -> bool:
        """Fetch now, sharing an in-flight fetch if there is one; True on success."""
        inflight = self._inflight
        if inflight is None or inflight.done():
            inflight = self._inflight = asyncio.create_task(self._fetch())
        return await asyncio.shield(inflight)

    async def refresh_for_kid(self, kid: str) -> bool:
        """After an unknown ``kid``: refetch unless one happened within ``cooldown``.

        Returns True if the kid is known afterwards.
        """
        if kid in self._keys:
            return True
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            await asyncio.shield(inflight)
        elif self._clock() - self._last_attempt >= self._cooldown:
            await self.refresh()
        return kid in self._keys

    async def _refresher(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            if self._clock() >= self._next_due:
                await self.refresh()

    async def _fetch(self) -> bool:
        now = self._clock()
        self._last_attempt = now
        self.fetches += 1
        try:
            body = await self._download()
            digest = hashlib.sha256(body).digest()
            if digest == self._digest:
                result = "unchanged"
            else:
                try:
                    parsed = _parse(body)
                except (JwtGateError, ValueError, TypeError, KeyError):
                    raise _FetchFailed("invalid") from None
                self._keys, changed = _merge(self._keys, parsed)
                self.get = self._keys.get
                self._digest = digest
                if changed:
                    self.version += 1
                result = "updated" if changed else "unchanged"
        except _FetchFailed as exc:
            self.failures += 1
            self._next_due = now + min(self._cooldown or self._ttl, self._ttl)
            # Stale-if-error: the last good set stays trusted.
            _log.warning("JWKS fetch failed (%s); keeping %d keys", exc.result, len(self._keys))
            self._report(exc.result)
            return False
        self._next_due = now + self._ttl
        self._report(result)
        return True

    async def _download(self) -> bytes:
        import aiohttp

        session = self._open_session()
        try:
            async with session.get(
                self.url, allow_redirects=False, headers={"Accept": "application/json"}
            ) as resp:
                if resp.status != 200:
                    raise _FetchFailed("http_error")
                if resp.content_length is not None and resp.content_length > self._max_bytes:
                    raise _FetchFailed("too_large")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > self._max_bytes:
                        raise _FetchFailed("too_large")
                    chunks.append(chunk)
                return b"".join(chunks)
        except TimeoutError:
            raise _FetchFailed("timeout") from None
        except (aiohttp.ClientError, OSError):
            raise _FetchFailed("network_error") from None

    def _report(self, result: str) -> None:
        self.last_result = result
        if self._on_fetch is not None:
            self._on_fetch(result)


class JwksFileSource:
    """A :class:`~jwtgate.jose.KeySource` read from a JWKS file, reloaded on change.

    The constructor raises :class:`ConfigError` if the file is missing or
    invalid; a later bad edit is refused and the last good set kept.
    """

    version: int
    """Bumped whenever the trusted set changes (a plain attribute: read on every cache hit)."""
    get: Callable[[str], VerificationKey | None]
    """The trusted key with this kid, or ``None``: the key dict's own ``get``,
    rebound whenever the set is replaced, so a lookup is one C call."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._keys: dict[str, VerificationKey] = {}
        self.get = self._keys.get
        self.version = 0
        self._stamp: tuple[int, int, int] | None = None
        self.failures = 0
        if not self._load():
            raise ConfigError(f"JWKS file {self.path} is missing or invalid")

    def reload_if_changed(self) -> bool:
        """Re-read the file if its size, mtime or inode changed; True if the set changed."""
        try:
            st = os.stat(self.path)
        except OSError:
            self.failures += 1
            return False
        if (st.st_ino, st.st_size, st.st_mtime_ns) == self._stamp:
            return False
        before = self.version
        self._load()
        return self.version != before

    def _load(self) -> bool:
        try:
            st = os.stat(self.path)
            body = self.path.read_bytes()
            parsed = _parse(body)
        except (OSError, JwtGateError, ValueError, TypeError, KeyError):
            self.failures += 1
            _log.warning("JWKS file %s unreadable or invalid; keeping the last good set", self.path)
            return False
        self._stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._keys, changed = _merge(self._keys, parsed)
        self.get = self._keys.get
        if changed or self.version == 0:
            self.version += 1
        return True
