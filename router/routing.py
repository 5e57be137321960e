"""Routing: which service and team get a request, and how sure we are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Employee, Service
from models.types import IncomingMessage
from router.catalog import TRIAGE_TEAM


@dataclass
class Decision:
    """Where a request goes: `routing` is service | team | triage | requester | hint."""

    service_code: str | None
    team_code: str
    routing: str
    confidence: float | None = None
    candidates: list[Any] = field(default_factory=list)
    reasons: list[Any] = field(default_factory=list)
    classifier_version: str | None = None
    predicted_service_code: str | None = None
    notes: list[str] = field(default_factory=list)


def decide(
    message: IncomingMessage,
    *,
    session: Session,
    model: Any = None,
    employee: Employee | None = None,
) -> Decision:
    """Requester's catalogue choice first, then the classifier, then a routing hint, else triage."""
    chosen = _service(message.service_hint, session=session)
    if chosen is not None:
        return Decision(chosen.code, chosen.team_code, "requester", confidence=1.0)
    has_text = bool((message.text or "").strip() or (message.subject or "").strip())
    decision = _classify(message, model, employee) if model is not None and has_text else None
    hint = message.meta.get("routing_hint") or {}
    if hint:
        return _with_hint(decision, hint, session=session)
    if decision is not None:
        return decision
    why = "no classifier model is active" if has_text else "no text to route by"
    return Decision(None, TRIAGE_TEAM, "triage", notes=[why])


def _service(code: str | None, *, session: Session) -> Service | None:
    if not code:
        return None
    return session.scalar(select(Service).where(Service.code == code, Service.active.is_(True)))


def _classify(message: IncomingMessage, model: Any, employee: Employee | None) -> Decision:
    extras = {"channel": message.channel.value}
    if employee is not None:
        extras.update(department=employee.department or "", branch=employee.branch or "")
    text = "\n".join(part for part in (message.subject, message.text) if part)
    pred = model.predict(text, extras=extras)
    team = pred.team if pred.decision in ("service", "team") and pred.team else TRIAGE_TEAM
    return Decision(
        service_code=pred.service if pred.decision == "service" else None,
        team_code=team,
        routing=pred.decision,
        confidence=pred.confidence,
        candidates=list(pred.candidates),
        reasons=list(pred.reasons),
        classifier_version=pred.model_version,
        predicted_service_code=pred.candidates[0]["service"] if pred.candidates else None,
    )


def _with_hint(decision: Decision | None, hint: dict[str, Any], *, session: Session) -> Decision:
    """A channel's hint (an IVR menu key) is strong, but a confident classifier may overrule it."""
    hinted = _service(hint.get("service"), session=session)
    hint_team = hinted.team_code if hinted else hint.get("team")
    if decision is not None and decision.routing == "service":
        if hint_team is None or decision.team_code == hint_team:
            return decision
        decision.notes.append(f"routing hint {hint} overruled by a confident classifier")
        return decision
    base = decision or Decision(None, TRIAGE_TEAM, "triage")
    if hinted is not None:
        base.service_code, base.team_code, base.routing = hinted.code, hinted.team_code, "hint"
    elif hint_team:
        base.service_code, base.team_code, base.routing = None, str(hint_team), "hint"
    return base
