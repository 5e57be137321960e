"""Routing: which service and team get a request, and how sure we are."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from models.db import Employee, Service
from models.types import TRIAGE_TEAM, IncomingMessage
from router.lifecycle.processes import service_row

log = logging.getLogger(__name__)


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
    # Errors for the operator (each becomes an "error" event on the ticket), e.g. a model whose
    # services are not in the catalogue.
    errors: list[str] = field(default_factory=list)


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
    if decision is not None and decision.predicted_service_code is not None:
        decision = _known_service(decision, session=session)
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
    found = service_row(code, session)  # memoised per session: the ticket reads it again
    return found if found is not None and found.active else None


# Words that carry no hint of what is needed: greetings, politeness, "a question", "it does
# not work". A request made only of these is routed by a person, however sure the model is.
_UNINFORMATIVE_WORDS = """
    добрый доброе день утро вечер здравствуйте здравствуй привет приветствую спасибо благодарю
    пожалуйста подскажите помогите помочь вопрос вопросы проблема проблемы срочно очень меня мне
    нас нам это есть можно нужно надо хочу прошу работает работают работать сломалось всё все
    hello hi hey dear good morning afternoon evening thanks thank please help question questions
    problem problems issue issues urgent have has need want can you the and with not does doesn
    work works working broken something
    не ни и в во на с со у по за к о об а но да нет же ли бы он она они мой моя мои наш
    is it its my me we our to of in on at an or be am are was do did no yes
"""
UNINFORMATIVE = frozenset(_UNINFORMATIVE_WORDS.split())
_WORD = re.compile(r"[a-zа-яё0-9]+", re.IGNORECASE)


def informative(text: str) -> bool:
    """True when the text names at least one thing beyond greetings and 'it does not work'."""
    words = {w.lower().replace("ё", "е") for w in _WORD.findall(text)}
    return any(len(w) >= 2 and w not in UNINFORMATIVE for w in words)


def _classify(message: IncomingMessage, model: Any, employee: Employee | None) -> Decision:
    extras = {"channel": message.channel.value}
    if employee is not None:
        extras.update(department=employee.department or "", branch=employee.branch or "")
    text = "\n".join(part for part in (message.subject, message.text) if part)
    pred = model.predict(text, extras=extras)
    routing, notes = pred.decision, []
    if not informative(text):
        routing, notes = "triage", ["too little text to route automatically"]
    team = pred.team if routing in ("service", "team") and pred.team else TRIAGE_TEAM
    return Decision(
        service_code=pred.service if routing == "service" else None,
        team_code=team,
        routing=routing,
        notes=notes,
        confidence=pred.confidence,
        candidates=list(pred.candidates),
        reasons=list(pred.reasons),
        classifier_version=pred.model_version,
        predicted_service_code=pred.candidates[0]["service"] if pred.candidates else None,
    )


def _known_service(decision: Decision, *, session: Session) -> Decision:
    """A model that predicts services the catalogue does not have (promoted by mistake, or a
    service since retired) must not fail the message: triage, and an error for the operator."""
    code = decision.predicted_service_code
    if _service(code, session=session) is not None:
        return decision
    error = (
        f"classifier model {decision.classifier_version} predicts {code!r}, which is not an"
        " active service of the catalogue; routed to triage"
    )
    log.error(error)
    decision.service_code, decision.team_code, decision.routing = None, TRIAGE_TEAM, "triage"
    decision.notes.append(f"error: {error}")
    decision.errors.append(error)
    return decision


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
