"""The multi-worker parent: listening sockets per worker, multiprocess metrics bookkeeping."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from jwtgate.errors import ConfigError
from jwtgate.gateway.server import _mark_dead, bind_group


def test_a_dead_workers_live_gauges_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prometheus_client keeps live gauges per pid in gauge_live*_<pid>.db files;
    # mark_process_dead removes those of a dead worker and nothing else.
    for name in ("gauge_livesum_101.db", "gauge_liveall_101.db", "counter_101.db"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "gauge_livesum_202.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    _mark_dead(101)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_101.db",
        "gauge_livesum_202.db",
    ]


def test_without_a_metrics_directory_nothing_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Single-process metrics: no directory is configured, so no file anywhere
    # (not even one that looks like a dead worker's) may be touched.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gauge_livesum_101.db").write_bytes(b"")
    _mark_dead(101)
    assert (tmp_path / "gauge_livesum_101.db").exists()


def _accepted(sock: socket.socket) -> int:
    sock.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
def test_each_worker_gets_its_own_socket_and_a_share_of_connections() -> None:
    # One shared socket let the first worker to wake accept a whole burst
    # (62 of 64 wrk connections); a reuseport group hashes each connection.
    group = bind_group("127.0.0.1", 0, 2)
    try:
        assert group[0] is not group[1]
        port = group[0].getsockname()[1]
        assert port != 0
        assert group[1].getsockname()[1] == port
        for sock in group:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        time.sleep(0.1)
        counts = [_accepted(sock) for sock in group]
        for client in clients:
            client.close()
    finally:
        for sock in group:
            sock.close()
    assert sum(counts) == 64
    # Binomial(64, 1/2): below 12 on either side has odds under 1e-6.
    assert min(counts) >= 12, counts


def test_a_port_held_with_reuseport_by_another_process_is_a_conflict() -> None:
    # A reuseport bind alone would silently join the other group and take a
    # share of its traffic; the plain probe bind refuses the port instead.
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", 0))
    other.listen(8)
    try:
        with pytest.raises(ConfigError, match="cannot listen"):
            bind_group("127.0.0.1", other.getsockname()[1], 2)
    finally:
        other.close()


def test_one_worker_or_a_shared_socket_is_one_object() -> None:
    (single,) = bind_group("127.0.0.1", 0, 1)
    try:
        assert single.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    finally:
        single.close()
