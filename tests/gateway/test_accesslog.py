"""Access log: one JSON line per request, no query string, never a token."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from time import perf_counter
from typing import Any

import pytest

from jwtgate.gateway.accesslog import AccessLogger

# A syntactically valid compact JWS (RFC 7515 appendix A.1 example token).
_JWT = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)


def _log(logger: AccessLogger, **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "request_id": "req-1",
        "route": "echo",
        "method": "GET",
        "path": "/api/echo",
        "status": 200,
        "latency_ms": 1.23456,
        "subject": "alice",
        "error_code": None,
        "client_ip": "127.0.0.1",
    }
    fields.update(overrides)
    logger.log(**fields)
    logger.flush()


def _lines(buf: io.StringIO) -> list[dict[str, Any]]:
    text = buf.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_one_json_line_with_every_field() -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf), status=401, error_code="token_expired", subject=None)
    [line] = _lines(buf)
    assert line["request_id"] == "req-1"
    assert line["route"] == "echo"
    assert line["method"] == "GET"
    assert line["path"] == "/api/echo"
    assert line["status"] == 401
    assert line["latency_ms"] == pytest.approx(1.235)
    assert line["sub"] is None
    assert line["error"] == "token_expired"
    assert line["client_ip"] == "127.0.0.1"
    assert isinstance(line["ts"], float)


# Vectors: RFC 6750 section 2.3 (access_token query parameter) and
# section 5.3 (tokens in URLs end up in logs); fragments and JWTs in the path.
@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (f"/api/echo?access_token={_JWT}", "/api/echo"),
        (f"/api/echo?x=1&access_token={_JWT}#frag", "/api/echo"),
        (f"/api/echo#access_token={_JWT}", "/api/echo"),
        ("/api/echo?", "/api/echo"),
        (f"/callback/{_JWT}/done", "/callback/[redacted]/done"),
        (f"/a?b#{_JWT}", "/a"),
    ],
)
def test_no_query_string_and_no_token(path: str, logged: str) -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf), path=path)
    assert _lines(buf)[0]["path"] == logged
    assert _JWT not in buf.getvalue()
    assert _JWT.split(".")[2] not in buf.getvalue()


# CWE-117 log forging vectors: control characters in client-chosen fields.
@pytest.mark.parametrize(
    "evil",
    ['/x\n{"status":200}', "/x\r\nforged", "/x\x1b[31mred", "/x\x00nul", "/x\u2028sep"],
)
def test_control_characters_cannot_forge_lines(evil: str) -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf), path=evil, subject=evil, request_id=evil)
    text = buf.getvalue()
    assert text.count("\n") == 1
    for raw in ("\r", "\x1b", "\x00", "\u2028"):
        assert raw not in text
    line = _lines(buf)[0]
    assert line["sub"] == evil  # escaped on the wire, intact after parsing


def test_disabled_writes_nothing() -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf, enabled=False))
    assert buf.getvalue() == ""


def test_long_fields_are_capped() -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf), path="/" + "a" * 100_000, subject="s" * 100_000)
    line = _lines(buf)[0]
    assert len(line["path"]) <= 2048
    assert len(line["sub"]) <= 2048


def test_to_file_appends_and_flushes_on_close(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    logger = AccessLogger.to_file(target)
    for i in range(3):
        _log_unflushed(logger, request_id=f"r{i}")
    logger.close()
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["request_id"] for x in lines] == ["r0", "r1", "r2"]


@pytest.mark.parametrize("latency", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_latency_still_yields_valid_json(latency: float) -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf), latency_ms=latency)
    assert _lines(buf)[0]["latency_ms"] == 0.0


def test_non_ascii_round_trips_as_escapes() -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf), subject="zoë \U0001f600", path="/caf\u00e9")
    assert buf.getvalue().isascii()
    line = _lines(buf)[0]
    assert line["sub"] == "zoë \U0001f600"
    assert line["path"] == "/caf\u00e9"


def test_lines_reach_the_file_within_the_flush_interval(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    logger = AccessLogger.to_file(target, flush_interval=0.0)
    try:
        _log_unflushed(logger, request_id="visible")
        assert json.loads(target.read_text(encoding="utf-8"))["request_id"] == "visible"
    finally:
        logger.close()


def test_lines_are_buffered_between_flushes(tmp_path: Path) -> None:
    target = tmp_path / "access.log"
    logger = AccessLogger.to_file(target, flush_interval=3600.0)
    try:
        _log_unflushed(logger, request_id="buffered")
        assert target.read_text(encoding="utf-8") == ""
        logger.flush()
        assert "buffered" in target.read_text(encoding="utf-8")
    finally:
        logger.close()


class _CountingStream(io.StringIO):
    """An unbuffered stream (as under ``PYTHONUNBUFFERED=1``): every write is a system call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_an_unbuffered_stream_gets_one_write_per_flush() -> None:
    stream = _CountingStream()
    logger = AccessLogger(stream, flush_interval=3600.0)
    for i in range(10):
        _log_unflushed(logger, request_id=f"r{i}")
    assert stream.writes == 0  # held in the logger, not one system call per line
    logger.flush()
    assert stream.writes == 1
    assert [x["request_id"] for x in _lines(stream)] == [f"r{i}" for i in range(10)]


def test_a_full_buffer_is_written_without_waiting_for_the_interval() -> None:
    stream = _CountingStream()
    logger = AccessLogger(stream, flush_interval=3600.0, max_lines=4)
    for i in range(9):
        _log_unflushed(logger, request_id=f"r{i}")
    assert stream.writes == 2  # after lines 4 and 8
    assert len(_lines(stream)) == 8


def _log_unflushed(logger: AccessLogger, request_id: str) -> None:
    logger.log(
        request_id=request_id, route="echo", method="GET", path="/", status=200,
        latency_ms=1.0, subject=None, error_code=None, client_ip=None,
    )  # fmt: skip


def test_the_stamp_follows_the_request_time_to_the_millisecond() -> None:
    buf = io.StringIO()
    logger = AccessLogger(buf, flush_interval=3600.0)
    start = perf_counter()
    wall = time.time()
    for dt in (0.0, 0.0001, 0.0021, 1.5):
        logger.log("r", "echo", "GET", "/", 200, 1.0, None, None, None, now=start + dt)
    logger.flush()
    stamps = [line["ts"] for line in _lines(buf)]
    steps = [round(s - stamps[0], 3) for s in stamps]
    # Rounded to the millisecond: 0.1 ms later may or may not cross one.
    assert steps[0] == 0.0
    assert steps[1] in (0.0, 0.001)
    assert steps[2] in (0.002, 0.003)
    assert steps[3] in (1.499, 1.5, 1.501)
    assert abs(stamps[0] - wall) < 1.0


@pytest.mark.parametrize("status", [100, 200, 204, 499, 599, 999, 0, 1000, 42, True])
def test_status_is_logged_as_its_integer(status: int) -> None:
    """Statuses from the table and outside it read as ``int(status)``, as they always have."""
    buf = io.StringIO()
    logger = AccessLogger(buf)
    for _ in range(2):  # the first line fills the field tables, the second reads them
        _log(logger, status=status)
    assert [line["status"] for line in _lines(buf)] == [int(status)] * 2
    assert f'"status":{int(status)},' in buf.getvalue()


@pytest.mark.parametrize(
    ("request_id", "logged"),
    [
        (b"0a1b2c3d4e000123", "0a1b2c3d4e000123"),  # made by the gateway: written as it is
        (b"edge-1.req:42_x", "edge-1.req:42_x"),  # a trusted proxy's id: encoded
        (b'x"\n{"status":200}', 'x"\n{"status":200}'),  # escaped, not a second line
        (b"caf\xe9", "caf\u00e9"),  # read as latin-1, escaped to ASCII
        (b"a" * 3000, "a" * 2048),  # cut like any field
    ],
)
def test_request_ids_given_as_bytes(request_id: bytes, logged: str) -> None:
    buf = io.StringIO()
    _log(AccessLogger(buf), request_id=request_id)
    assert buf.getvalue().isascii()
    assert buf.getvalue().count("\n") == 1
    assert _lines(buf)[0]["request_id"] == logged


def test_a_bytes_request_id_is_logged_as_its_text_would_be() -> None:
    ids = ["0a1b2c3d4e000123", "edge-1.req:42", 'q"uote', "tab\there", "x" * 2100]
    text, raw = io.StringIO(), io.StringIO()
    by_text, by_bytes = AccessLogger(text), AccessLogger(raw)
    for rid in ids:
        for logger, value in ((by_text, rid), (by_bytes, rid.encode("latin-1"))):
            logger.log(value, "r", "GET", "/", 200, 1.0, None, None, None, now=1.0)
    by_text.flush()
    by_bytes.flush()
    assert raw.getvalue() == text.getvalue()


def test_stamps_read_as_the_wall_time_formatted_to_the_millisecond() -> None:
    """The second's text and a millisecond from the table equal ``f"{wall:.3f}"``."""
    buf = io.StringIO()
    logger = AccessLogger(buf, flush_interval=3600.0)
    steps = [0.00001, 0.0003, 0.0005, 0.0007, 0.001, 0.0123, 0.3, 0.9996, 1.7, 61.0]
    now = perf_counter()
    expected = []
    for i in range(3000):
        now += steps[(i * 7) % len(steps)]
        if i % 1000 == 999:
            logger.flush()  # a new offset: the second is read again
            buf.seek(0)
            buf.truncate()
            expected.clear()
        logger.log("r", "echo", "GET", "/", 200, 1.0, None, None, None, now=now)
        expected.append(f"{now + logger._offset:.3f}")
    logger.flush()
    assert [line.split(",")[0][6:] for line in buf.getvalue().splitlines()] == expected
