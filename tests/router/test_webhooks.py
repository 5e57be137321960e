"""Outbound webhooks end to end: the CLI subscribes a real HTTP receiver, RQ jobs deliver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from models.db import TicketEvent, WebhookDelivery
from models.types import utcnow
from router.lifecycle import actions, states
from router.lifecycle.records import record_event
from router.runtime import Runtime
from router.sla_sweep import sla_tick
from router.sweeper import sweep
from router.webhook_jobs import WEBHOOK_QUEUE
from router.webhook_subscriptions import webhook_settings
from scripts.cli import main
from tests.conftest import drain
from tests.router.webhook_receiver import Receiver, serve_receiver
from tests.support.workflow import Staff, make_staff, make_ticket

ALL = "ticket.created,ticket.status_changed,ticket.resolved,ticket.commented,sla.breached"


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("OKNO_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("OKNO_DATABASE_URL", runtime.settings.effective_database_url)
    # No waiting between tries here; the default back-off spans about a day.
    monkeypatch.setenv("OKNO_WEBHOOK_RETRY_SECONDS", "[0, 0, 0]")
    monkeypatch.setenv("OKNO_WEBHOOK_TIMEOUT_SECONDS", "0.5")
    webhook_settings.cache_clear()
    yield CliRunner()
    webhook_settings.cache_clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as r:
        yield r


def subscribe(cli: CliRunner, url: str, events: str = ALL, *scope: str) -> str:
    result = cli.invoke(main, ["webhook", "add", "--url", url, "--events", events, *scope])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]  # the secret, alone on the last line


def deliveries(cli: CliRunner) -> list[dict[str, Any]]:
    result = cli.invoke(main, ["webhook", "deliveries", "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.output)
    return sorted(rows, key=lambda r: (r["created_at"], r["event"]))


def new_ticket(runtime: Runtime, service: str = "hr_certificate", **kw: Any) -> str:
    with runtime.sessions() as session:
        number = make_ticket(session, service=service, **kw).number
        session.commit()  # the deliveries' jobs are enqueued by this commit
    assert number
    return number


def deliver(runtime: Runtime) -> None:
    drain(runtime, (WEBHOOK_QUEUE,))


def test_signed_deliveries_follow_one_service_through_its_life(
    cli: CliRunner, runtime: Runtime, receiver: Receiver
) -> None:
    hr_secret = subscribe(cli, receiver.url + "/hr", ALL, "--service", "hr_certificate")
    pay_secret = subscribe(cli, receiver.url + "/pay", "ticket.created", "--service", "pay_2ndfl")
    assert hr_secret.startswith("whsec_") and hr_secret != pay_secret
    staff: Staff = make_staff(runtime)
    number = new_ticket(runtime)
    deliver(runtime)
    (created,) = receiver.at("/hr")
    assert receiver.at("/pay") == []  # one subscription per service: pay_2ndfl saw nothing
    assert created.signed_with(hr_secret) and not created.signed_with(pay_secret)
    body = created.json
    assert set(body) >= {"id", "event", "at", "ticket"}
    assert body["event"] == "ticket.created" and created.headers["X-Okno-Delivery"] == body["id"]
    ticket = body["ticket"]
    assert (ticket["number"], ticket["service"], ticket["team"]) == (number, "hr_certificate", "hr")
    assert ticket["status"] == "new" and ticket["resolution_due_at"]
    assert ticket["requester"]["address"] == "a.petrova@corp.example.com"

    with runtime.sessions() as session:
        actions.claim(session=session, ticket_number=number, user_id=staff.hr.id)
        actions.comment(
            session=session, ticket_number=number, user_id=staff.hr.id, text="Готовим", public=False
        )
        actions.resolve(
            session=session, ticket_number=number, user_id=staff.hr.id, resolution="Готово"
        )
        session.commit()
    deliver(runtime)
    events = [p.json["event"] for p in receiver.at("/hr")]
    assert events == [
        "ticket.created",
        "ticket.status_changed",  # new → assigned
        "ticket.commented",
        "ticket.status_changed",  # → resolved
        "ticket.resolved",
    ]
    assert all(p.signed_with(hr_secret) for p in receiver.at("/hr"))
    assert receiver.at("/hr")[-1].json["ticket"]["status"] == "resolved"
    assert {d["status"] for d in deliveries(cli)} == {"delivered"}

    new_ticket(runtime, service="pay_2ndfl")
    deliver(runtime)
    (pay,) = receiver.at("/pay")
    assert pay.signed_with(pay_secret) and pay.json["ticket"]["service"] == "pay_2ndfl"


def test_5xx_and_timeouts_are_retried_4xx_fails_and_each_attempt_is_kept(
    cli: CliRunner, runtime: Runtime, receiver: Receiver
) -> None:
    receiver.script = {"/flaky": [503, 500, 200], "/gone": [404], "/down": [502]}
    receiver.delay = {"/slow": 2.0}  # longer than the 0.5 s timeout
    for path in ("/flaky", "/gone", "/down", "/slow", "/fine"):
        subscribe(cli, receiver.url + path, "ticket.created")
    new_ticket(runtime)
    deliver(runtime)
    by_url: dict[str, list[dict[str, Any]]] = {
        p: [] for p in ("/flaky", "/gone", "/down", "/slow", "/fine")
    }
    for row in deliveries(cli):
        path = _path_of(cli, row["subscription_id"])
        by_url[path].append(row)
    (flaky,), (gone,), (down,), (slow,), (fine,) = by_url.values()
    assert flaky["status"] == "delivered"
    assert [a["status_code"] for a in flaky["attempts"]] == [503, 500, 200]
    assert gone["status"] == "failed" and [a["status_code"] for a in gone["attempts"]] == [404]
    assert down["status"] == "failed" and len(down["attempts"]) == 4  # 1 try + 3 retries
    assert "gave up after 4 attempt(s)" in down["error"]
    assert slow["status"] == "failed" and len(slow["attempts"]) == 4
    assert all("Timeout" in (a["error"] or "") for a in slow["attempts"])
    assert fine["status"] == "delivered" and len(fine["attempts"]) == 1  # never held up
    # Every try carried the same delivery id and body: receivers can de-duplicate.
    assert len({p.headers["X-Okno-Delivery"] for p in receiver.at("/flaky")}) == 1
    assert len({p.body for p in receiver.at("/flaky")}) == 1


def _path_of(cli: CliRunner, subscription_id: int) -> str:
    rows = json.loads(cli.invoke(main, ["webhook", "list", "--json"]).output)
    url = next(r["url"] for r in rows if r["id"] == subscription_id)
    return "/" + url.rsplit("/", 1)[1]


def test_the_outbox_row_lives_and_dies_with_the_event(
    cli: CliRunner, runtime: Runtime, receiver: Receiver
) -> None:
    subscribe(cli, receiver.url + "/all")
    number = new_ticket(runtime)
    with runtime.sessions() as session:
        ticket = states.load(number, session=session)
        record_event(ticket, "comment", session=session, actor="someone")
        session.rollback()  # the comment never happened: no delivery, no job
    deliver(runtime)
    assert [p.json["event"] for p in receiver.at("/all")] == ["ticket.created"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_an_overdue_ticket_announces_its_breach_once(
    cli: CliRunner, runtime: Runtime, receiver: Receiver
) -> None:
    subscribe(cli, receiver.url + "/sla", "sla.breached", "--team", "hr")
    number = new_ticket(runtime)
    new_ticket(runtime, service="pay_2ndfl")  # another team
    late = utcnow() + timedelta(days=30)  # both clocks of both tickets have run out by then
    sla_tick(runtime, now=late)
    sla_tick(runtime, now=late)  # a second pass fires nothing
    sweep(runtime, older_than=timedelta(0))
    deliver(runtime)
    breaches = receiver.at("/sla")
    assert [b.json["event"] for b in breaches] == ["sla.breached"] * 2  # response, resolution
    assert {b.json["ticket"]["number"] for b in breaches} == {number}
    with runtime.sessions() as session:
        kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.kind == "sla_breached"))
        assert len(list(kinds)) == 4  # both clocks of both tickets; only hr's subscriber heard


def test_urls_events_and_scope_are_checked(
    cli: CliRunner, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add(*args: str) -> Any:
        return cli.invoke(main, ["webhook", "add", *args])

    bad = add("--url", "ftp://cmdb.example/x", "--events", "ticket.created")
    assert bad.exit_code == 1 and "http:// or https://" in bad.output
    bad = add("--url", "https://cmdb.example/x", "--events", "ticket.created,ticket.exploded")
    assert bad.exit_code == 1 and "ticket.exploded" in bad.output
    bad = add("--url", "https://cmdb.example/x", "--events", "ticket.created", "--service", "nope")
    assert bad.exit_code == 1 and "unknown service 'nope'" in bad.output
    monkeypatch.setenv("OKNO_WEBHOOK_REFUSE_PRIVATE", "true")
    webhook_settings.cache_clear()
    bad = add("--url", "http://127.0.0.1:9/x", "--events", "ticket.created")
    assert bad.exit_code == 1 and "private address (127.0.0.1)" in bad.output
    listed = json.loads(cli.invoke(main, ["webhook", "list", "--json"]).output)
    assert listed == []

    monkeypatch.setenv("OKNO_WEBHOOK_REFUSE_PRIVATE", "false")
    webhook_settings.cache_clear()
    subscribe(cli, "http://127.0.0.1:9/x", "ticket.created")
    (row,) = json.loads(cli.invoke(main, ["webhook", "list", "--json"]).output)
    assert "secret" not in row
    assert cli.invoke(main, ["webhook", "remove", str(row["id"])]).exit_code == 0
    assert json.loads(cli.invoke(main, ["webhook", "list", "--json"]).output) == []


def test_a_delivery_whose_job_was_lost_is_sent_by_the_sweeper(
    cli: CliRunner, runtime: Runtime, receiver: Receiver
) -> None:
    subscribe(cli, receiver.url + "/cmdb", "ticket.created")
    number = new_ticket(runtime)
    runtime.redis.flushdb()  # Redis lost the job (an outage, a failover): the row is still there
    deliver(runtime)
    assert receiver.posts == []
    report = sweep(runtime, older_than=timedelta(0))
    assert report.webhooks == 1
    deliver(runtime)
    (post,) = receiver.at("/cmdb")
    assert post.json["ticket"]["number"] == number
