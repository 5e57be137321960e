"""A real `okno run` on a real redis-server: kill -9 Redis under load, nothing is lost or doubled."""

from __future__ import annotations

from pathlib import Path

from scripts.outage import outage_run


def test_redis_kill9_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    report = outage_run(tmp_path, before=3.0, outage=15.0, after=3.0, rate=8.0, deadline=60.0)
    count = report.count
    assert count.acknowledged >= 100, report.refused
    assert report.acked_during_outage >= 50  # stored and acknowledged while Redis was away
    # While Redis is away the API still acknowledges (stored first), and says what is down.
    assert report.readyz_during[0] == 503 and "redis" in report.readyz_during[1]
    assert "okno_redis_up 0" in report.metrics_during
    assert (count.lost, count.doubled) == (0, 0), count
    assert report.recovery_seconds is not None and report.recovery_seconds <= 60
    # The banner says "up" only after each child said it was really running.
    lines = [line.strip() for line in report.output]
    up = next(i for i, line in enumerate(lines) if line.startswith("Okno is up"))
    for ready in (
        "worker 1 running",
        "worker 2 running",
        "SMTP server listening",
        "API and portal",
    ):
        assert any(line.startswith(ready) for line in lines[:up]), ready
    # SIGTERM stopped every child of `okno run`.
    assert report.exit_code == 0 and report.leftover_pids == []
