"""The workspace's buttons, applied through the very handlers of the REST API (api/workflow.py).

Every action goes through the same access checks, state machine, audit events, commit and
notification enqueueing as `POST /api/v1/tickets/{number}/<action>`; the workspace only turns
form fields into the API's request bodies. This is the one module of api/agent/ that imports
from the lifecycle's modules in router/ (the others take `Role` and `user_by_token` from
api.auth), so moving them means changing the imports here only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from api import workflow as api_workflow
from api.auth import ACTS
from api.errors import ApiError
from api.workflow_schemas import (
    AskIn,
    AssignIn,
    CommentIn,
    LinkIn,
    MergeIn,
    ReassignIn,
    ResolveIn,
)
from models.db import User
from router.lifecycle.states import allowed_actions
from router.runtime import Runtime

Handler = Callable[..., Any]

# action → (the API's body model or None, the API handler, how form fields become the body)
ACTIONS: dict[str, tuple[type[BaseModel] | None, Handler]] = {
    "claim": (None, api_workflow.claim),
    "start": (None, api_workflow.start),
    "assign": (AssignIn, api_workflow.assign),
    "comment": (CommentIn, api_workflow.comment),
    "ask": (AskIn, api_workflow.ask),
    "resolve": (ResolveIn, api_workflow.resolve),
    "reassign": (ReassignIn, api_workflow.reassign),
    "merge": (MergeIn, api_workflow.merge),
    "link": (LinkIn, api_workflow.link),
}
BODY_FIELDS: dict[str, tuple[str, ...]] = {
    "assign": ("user_id",),
    "comment": ("text", "public"),
    "ask": ("text",),
    "resolve": ("resolution",),
    "reassign": ("service", "team", "reason"),
    "merge": ("into",),
    "link": ("other", "kind"),
}


class ActionRefused(Exception):
    """Why the action did not happen, in words for the page (and an HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def offered(status: str) -> list[str]:
    """Buttons the state machine allows from `status` (comment and link: always)."""
    allowed = set(allowed_actions(status))
    return [a for a in ACTIONS if a in allowed or a in ("comment", "link")]


def _body(action: str, form: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in BODY_FIELDS.get(action, ()):
        value = form.get(name)
        if name == "public":
            values[name] = value in ("true", "on", "1")
        elif name == "user_id":
            values[name] = int(value) if value and value.isdigit() else value
        elif value is not None and value.strip():
            values[name] = value.strip().upper() if name in ("into", "other") else value
    return values


def perform(
    action: str,
    number: str,
    form: Mapping[str, str],
    *,
    session: Session,
    runtime: Runtime,
    user: User,
) -> None:
    """Apply one action as `user`; ActionRefused says why not."""
    if action not in ACTIONS:
        raise ActionRefused(404, f"unknown action {action}")
    if user.role not in ACTS:
        raise ActionRefused(403, f"role {user.role} reads tickets but does not change them")
    model, handler = ACTIONS[action]
    ctx = api_workflow.Act(session, runtime, user, Response(), None)
    try:
        if model is None:
            handler(number, ctx)
        else:
            handler(number, model(**_body(action, form)), ctx)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][-1]) + ": " + e["msg"] for e in exc.errors())
        raise ActionRefused(422, fields) from exc
    except ApiError as exc:
        detail = exc.detail
        if isinstance(detail, dict):
            detail = detail.get("message", exc.code)
        elif isinstance(detail, list):
            detail = "; ".join(str(d.get("message", d)) for d in detail)
        raise ActionRefused(exc.status, str(detail or exc.code)) from exc
