"""The aiohttp fallback client, for the requests the lean client does not take.

The lean client of :mod:`jwtgate.gateway.client` speaks plain HTTP/1.1;
HTTPS upstreams and HEAD requests go through aiohttp instead. aiohttp costs
every worker several MB of memory, so it is imported, and its session
opened, on first use. Redirects are never followed, cookies never stored and
content never decoded, so the upstream's bytes reach the client unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from jwtgate.gateway.asgi import Send
from jwtgate.gateway.errors import BadGateway, BodyTooLarge, GatewayTimeout
from jwtgate.gateway.upstream_headers import response_headers

if TYPE_CHECKING:
    import aiohttp

__all__ = ["FallbackClient"]


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class FallbackClient:
    """A worker's aiohttp session, opened on first use."""

    def __init__(self, *, limit: int, keepalive: float) -> None:
        self._limit = limit
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def _fallback_session(self) -> aiohttp.ClientSession:
        # Imported here: aiohttp costs every worker several MB of memory, and
        # only requests the lean client does not take (see client.py) need it.
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit, keepalive_timeout=self._keepalive, ttl_dns_cache=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def close(self) -> None:
        """Close the session's pooled connections, if it was ever opened."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(
        self,
        url: str,
        method: str,
        headers: list[tuple[bytes, bytes]],
        data: bytes | AsyncIterator[bytes] | None,
        send: Send,
        flags: dict[str, bool],
        connect_timeout: float,
        read_timeout: float,
    ) -> int:
        """Proxy one request to ``url``; returns the status.

        Raises :class:`BadGateway` / :class:`GatewayTimeout` /
        :class:`BodyTooLarge` only while nothing has been sent to the client;
        ``flags`` are those of the streamed request body, if any.
        """
        import aiohttp
        from yarl import URL

        session = self._fallback_session()
        # aiohttp encodes header values as UTF-8, so hand it the text those bytes spell.
        str_headers = [(n.decode("latin-1"), _text(v)) for n, v in headers]
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )
        started = False
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=str_headers,
                data=data,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
            ) as resp:
                await send(
                    {
                        "type": "http.response.start",
                        "status": resp.status,
                        "headers": response_headers(resp.raw_headers),
                    }
                )
                started = True
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return resp.status
        except TimeoutError:
            if started:
                raise
            raise GatewayTimeout() from None
        except aiohttp.ClientError:
            if started:
                raise
            if flags.get("too_large"):
                raise BodyTooLarge() from None
            raise BadGateway() from None
