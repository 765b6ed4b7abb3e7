"""Smoke test of benchmarks/verify.py: one tiny round, every row present."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "verify.py"


def test_benchmark_runs_and_reports_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("jwtgate_bench_verify", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert module.main(["--seconds", "0.002", "--rounds", "1", "--json"]) == 0
    finally:
        del sys.modules[spec.name]
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"HS256", "RS256", "ES256", "EdDSA"}
    for row in report.values():
        assert set(row) == {"raw", "jwtgate", "jwtgate_cached", "pyjwt", "joserfc"}
        assert row["raw"]["ratio_to_raw"] == 1.0
        assert all(cell["ops_per_s"] > 0 for cell in row.values())
