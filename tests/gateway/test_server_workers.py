"""The multi-worker parent's bookkeeping for multiprocess metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwtgate.gateway.server import _mark_dead


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
