"""The portal's "describe your problem": the active model's best services for a text, read-only.

The same model the intake worker routes with (the registry's active version, loaded once per
process and reloaded only when another version is promoted), asked for its probabilities over
every service it knows; services no longer active in the catalogue are skipped, so the three
offered are three the form accepts. Nothing is written: no message, no ticket, no event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import Service, Team
from router.routing import informative

TOP = 3
MIN_LETTERS = 3  # fewer letters than this say nothing a model could read


@dataclass
class Candidates:
    candidates: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why the list is empty, when it is
    model_version: str | None = None


def letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def suggest(
    text: str, *, language: str, model: Any, session: Session, limit: int = TOP
) -> Candidates:
    """Up to `limit` active services for `text`, best first, with the model's probability."""
    if model is None:
        return Candidates(reason="no_model")
    if letters(text) < MIN_LETTERS or not informative(text):
        # As the worker would: greetings and "it does not work" alone name no service.
        return Candidates(reason="too_short", model_version=model.version)
    inner = getattr(model, "model", model)  # a registry's LoadedModel wraps the OknoModel
    proba = np.asarray(inner.proba([text], [{"channel": "webform"}]))[0]
    rows = session.execute(
        select(Service, Team)
        .join(Team, Team.code == Service.team_code)
        .where(Service.active.is_(True), Service.code.in_(inner.classes))
    ).all()
    active = {service.code: (service, team) for service, team in rows}
    out: list[dict[str, Any]] = []
    for index in np.argsort(-proba):
        code = inner.classes[int(index)]
        if code not in active:
            continue
        service, team = active[code]
        out.append(
            {
                "service": code,
                "name": service.name_en if language == "en" else service.name_ru,
                "description": service.description_en
                if language == "en"
                else service.description_ru,
                "team": team.code,
                "team_name": team.name_en if language == "en" else team.name_ru,
                "score": round(float(proba[index]), 4),
            }
        )
        if len(out) == limit:
            break
    return Candidates(
        candidates=out,
        reason=None if out else "no_active_service",
        model_version=model.version,
    )
