"""A real `okno run` on a real redis-server: kill -9 Redis under load, nothing is lost or doubled."""

from __future__ import annotations

from pathlib import Path

from scripts.outage import outage_run
from tests.channels.telegram.botapi_standin import TOKEN, BotApiStandin


def test_redis_kill9_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    bot_api = BotApiStandin()
    telegram = {
        "OKNO_TELEGRAM_TOKEN": TOKEN,
        "OKNO_TELEGRAM_API_URL": bot_api.start(),
        "OKNO_TELEGRAM_WEBHOOK_SECRET": "okno-webhook-secret_1",
    }
    try:
        report = outage_run(
            tmp_path, before=3.0, outage=15.0, after=3.0, rate=8.0, deadline=60.0,
            extra_env=telegram,
        )  # fmt: skip
    finally:
        bot_api.stop()
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
    # `okno run --port P` registered the webhook at port P and said so, not "long polling".
    assert bot_api.webhook is not None
    url = f"http://127.0.0.1:{report.port}/api/v1/intake/telegram"
    assert bot_api.webhook["url"] == url
    assert any(f"Telegram bot (webhook at {url})" in line for line in lines[:up])
    # SIGTERM stopped every child of `okno run`.
    assert report.exit_code == 0 and report.leftover_pids == []
