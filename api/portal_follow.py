"""Following a request in the portal: the status page, "My requests", replies and sign-in.

Two doors to the same view (router/conversation.py):
- the status link `/?m={id}&key={key}` (mails and SMS carry it): the key of router/status_link
  opens `/api/v1/messages/{id}/conversation` and `/api/v1/messages/{id}/replies`;
- "My requests" at `/my`: a one-time link mailed to the person (router/portal_sign_in.py)
  sets a signed session cookie that opens `/api/v1/portal/tickets…`.
A ticket that is not the person's answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import hmac
import html
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import (
    APIRouter,
    Header,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field, StringConstraints, field_validator

from api.deps import RuntimeDep, SessionDep
from api.errors import ApiError, ErrorBody
from api.intake import check_rate, check_text_size, form_attachments
from api.processes import CancelIn, CancelOut, cancel_ticket
from api.schemas import EMAIL_PATTERN
from models.db import InboundMessage, Ticket
from models.types import TICKET_NUMBER, without_nul
from router import conversation, portal_sign_in, ratelimit, status_link
from router.intake import Intake
from router.runtime import Runtime
from router.sends import enqueue_send

PAGE = FilePath(__file__).parent / "static" / "follow" / "follow.html"

router = APIRouter(tags=["portal"])

SIGN_IN_WINDOW = 900  # seconds
SIGN_IN_PER_CLIENT = 20
SIGN_IN_PER_ADDRESS = 3
CSRF_HEADER = "X-CSRF-Token"

MessageId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Key = Annotated[str | None, Query(max_length=64, description="The key of the status link.")]
Number = Annotated[str, Path(pattern=f"^{TICKET_NUMBER}$", max_length=32)]


class Named(BaseModel):
    code: str
    ru: str
    en: str


class Entry(BaseModel):
    kind: str = Field(description="message | status | notice | team (reassigned)")
    at: str | None
    who: str = Field(description="requester | staff | okno")
    text: str
    author: str | None = None
    channel: str | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    status_name: dict[str, str] | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    team: Named | None = None

    model_config = {"populate_by_name": True}


class Step(BaseModel):
    """One step of a process (a sub-ticket) as its requester follows it."""

    number: str
    subject: str
    service: Named | None
    team: Named | None
    status: str
    status_name: dict[str, str]
    stage: int | None


class TicketSummary(BaseModel):
    number: str | None
    subject: str
    status: str
    status_name: dict[str, str]
    service: Named | None
    team: Named | None
    due_at: str | None
    channel: str
    language: str
    created_at: str | None
    updated_at: str | None
    final: bool


class Conversation(TicketSummary):
    message_status: str | None = Field(
        default=None, description="The status link's message: queued until it has a ticket."
    )
    entries: list[Entry] = Field(default_factory=list)
    resolution: str | None = None
    rating_urls: dict[str, str] | None = None
    rating: int | None = None
    can_reply: bool = True
    can_cancel: bool = Field(
        default=False,
        description="The requester may cancel it now: open, not a step of a process "
        "(the cancel endpoints' own rule).",
    )
    steps: list[Step] = Field(
        default_factory=list, description="A process's steps, in stage order (else empty)."
    )
    version: str = ""


class Pending(BaseModel):
    """The status link's message before (or without) a ticket."""

    message_status: str
    ticket: None = None
    error: str | None = None
    final: bool
    version: str


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, description="The reply in the requester's words.")
    submission_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="The page's idempotency key."
    )
    attachments: list[Annotated[str, StringConstraints(min_length=1, max_length=2000)]] = Field(
        default_factory=list,
        max_length=20,
        description="Ids answered by POST /api/v1/intake/uploads (the files of this reply).",
    )

    @field_validator("text")
    @classmethod
    def _says_something(cls, value: str) -> str:
        if not without_nul(value).strip():
            raise ValueError("the reply is empty")
        return value


class ReplyAccepted(BaseModel):
    message_id: int
    duplicate: bool = False
    ticket: str | None = None


class SignInIn(BaseModel):
    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)


class SignInAccepted(BaseModel):
    detail: str = "If the address is known, a sign-in link is on its way."


class Me(BaseModel):
    email: str
    language: str
    csrf: str


class TicketList(BaseModel):
    tickets: list[TicketSummary]


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
REPLY_ERRORS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    400: {"model": ErrorBody, "description": "The body is not JSON."},
    403: {"model": ErrorBody, "description": "Missing or wrong CSRF token."},
    413: {"model": ErrorBody},
    429: {"model": ErrorBody, "description": "Too many requests; see Retry-After."},
}
SIGNED_IN: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    401: {"model": ErrorBody, "description": "Not signed in."},
}


def page() -> HTMLResponse:
    return HTMLResponse(
        PAGE.read_text(encoding="utf-8"),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _view(
    ticket: Ticket, runtime: Runtime, session: SessionDep, *, may_cancel: bool = True
) -> dict[str, Any]:
    return conversation.view(
        ticket,
        session=session,
        public_url=runtime.settings.public_url,
        secret=runtime.secret_key,
        grace_days=runtime.settings.reopen_grace_days,
        may_cancel=may_cancel,
    )


def _keyed_ticket(
    message_id: int, key: str | None, runtime: Runtime, session: SessionDep
) -> tuple[InboundMessage, Ticket | None]:
    """The status link's message and its ticket; a wrong key is as good as no message."""
    row = session.get(InboundMessage, message_id)
    if row is None or not status_link.key_matches(runtime.secret_key, message_id, key):
        raise ApiError(404, "not_found", f"no message {message_id}")
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id else None
    while ticket is not None and ticket.merged_into_id is not None:
        ticket = session.get(Ticket, ticket.merged_into_id)
    return row, ticket


@router.get(
    "/api/v1/messages/{message_id}/conversation",
    response_model=Conversation | Pending,
    responses=NOT_FOUND,
    summary="The request behind a status link, with its whole public conversation",
)
def keyed_conversation(
    message_id: MessageId, runtime: RuntimeDep, session: SessionDep, key: Key = None
) -> Any:
    row, ticket = _keyed_ticket(message_id, key, runtime, session)
    if ticket is None:
        final = row.status in ("failed", "rejected")
        return Pending(
            message_status=row.status, error=row.error, final=final, version=f"m-{row.status}"
        )
    # The status link cancels its own message's ticket, not the one it was merged into.
    data = _view(ticket, runtime, session, may_cancel=ticket.id == row.ticket_id)
    data["message_status"] = row.status
    return data


def _reply(
    ticket: Ticket,
    body: ReplyIn,
    request: Request,
    runtime: Runtime,
    sender: str | None,
) -> ReplyAccepted:
    check_rate(runtime, request.client.host if request.client else "", ticket.number or "")
    check_text_size(runtime, body.text)
    # Files are uploaded first, as for the new-request form (POST /api/v1/intake/uploads).
    attachments = form_attachments(runtime, body.attachments)
    message = conversation.reply_message(
        ticket,
        body.text,
        submission_id=body.submission_id,
        sender=sender,
        attachments=attachments,
    )
    result = Intake(runtime).accept(message)
    return ReplyAccepted(
        message_id=result.message_id, duplicate=result.duplicate, ticket=ticket.number
    )


@router.post(
    "/api/v1/messages/{message_id}/replies",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplyAccepted,
    responses=REPLY_ERRORS,
    summary="Reply on the request behind a status link (threaded like an e-mail reply)",
)
def keyed_reply(
    message_id: MessageId,
    body: ReplyIn,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    key: Key = None,
) -> ReplyAccepted:
    _row, ticket = _keyed_ticket(message_id, key, runtime, session)
    if ticket is None:
        raise ApiError(404, "not_found", "the request has no ticket yet")
    return _reply(ticket, body, request, runtime, None)


# --- My requests -------------------------------------------------------------------------


def _secure(runtime: Runtime) -> bool:
    return runtime.settings.public_url.startswith("https://")


def signed_in(request: Request, runtime: Runtime) -> portal_sign_in.PortalSession | None:
    value = request.cookies.get(portal_sign_in.COOKIE)
    return portal_sign_in.decode(runtime.secret_key, value) if value else None


def _who(request: Request, runtime: Runtime, session: SessionDep) -> portal_sign_in.PortalSession:
    """The signed-in person, while they may still sign in (a person who left is signed out)."""
    who = signed_in(request, runtime)
    if who is None or not portal_sign_in.known_person(who.email, session=session)[0]:
        raise ApiError(401, "unauthorized", "sign in to see your requests")
    return who


def _csrf(who: portal_sign_in.PortalSession, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(who.csrf.encode(), sent.encode("utf-8", "replace")):
        raise ApiError(403, "bad_csrf", f"the {CSRF_HEADER} header is missing or wrong")


@router.post(
    "/api/v1/portal/sign-in",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SignInAccepted,
    responses={
        400: {"model": ErrorBody, "description": "The body is not JSON."},
        413: {"model": ErrorBody},
        422: {"model": ErrorBody},
        429: {"model": ErrorBody, "description": "Too many requests; see Retry-After."},
    },
    summary="Mail a one-time sign-in link to My requests (same answer for any address)",
)
def sign_in(
    body: SignInIn, request: Request, runtime: RuntimeDep, session: SessionDep
) -> SignInAccepted:
    """Always 202: whether the address is known is told only to its mailbox."""
    client = request.client.host if request.client else ""
    window = SIGN_IN_WINDOW
    wait = ratelimit.wait_seconds(
        runtime.redis, "portal-sign-in", client, limit=SIGN_IN_PER_CLIENT, window=window
    )
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"too many sign-in requests; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    email = body.email.strip().lower()
    over = ratelimit.wait_seconds(
        runtime.redis, "portal-sign-in-address", email, limit=SIGN_IN_PER_ADDRESS, window=window
    )
    if over is None:  # an address asked for too often just gets no more mail, same answer
        row = portal_sign_in.request_link(
            email, session=session, public_url=runtime.settings.public_url
        )
        session.commit()
        if row is not None:
            enqueue_send(runtime, [row.id])
    return SignInAccepted()


SIGN_IN_PAGE = """<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">
<title>Okno</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32em; margin: 2em auto">
<form id="go" method="post" action="/my/sign-in/{token}">
<p>Вход в «Мои обращения» / Signing in to My requests…</p>
<button type="submit">Войти / Sign in</button></form>
<script>document.getElementById("go").submit();</script>
</body></html>"""

SignInToken = Annotated[str, Path(max_length=100)]


@router.get("/my/sign-in/{token}", include_in_schema=False)
def sign_in_page(token: SignInToken) -> HTMLResponse:
    """Opening the mailed link signs in, but through a POST the page makes at once.

    Mail scanners and link previews fetch links with GET and run no forms: they must not
    spend a single-use token before the person opens it (a GET changes nothing here).
    """
    return HTMLResponse(
        SIGN_IN_PAGE.replace("{token}", html.escape(quote(token, safe=""), quote=True)),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@router.post("/my/sign-in/{token}", include_in_schema=False)
def redeem(token: SignInToken, runtime: RuntimeDep, session: SessionDep) -> Response:
    """Spend the token, set the session cookie, go to /my (or say the link is spent)."""
    email = portal_sign_in.redeem(token, session=session)
    if email is None:
        return RedirectResponse("/my?link=expired", status_code=303)
    session.commit()
    response = RedirectResponse("/my", status_code=303)
    data = portal_sign_in.new_session(email)
    response.set_cookie(
        portal_sign_in.COOKIE,
        portal_sign_in.encode(runtime.secret_key, data),
        max_age=int(portal_sign_in.SESSION_HOURS * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(runtime),
        path="/",
    )
    return response


@router.post(
    "/api/v1/portal/sign-out",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the My requests session",
)
def sign_out(runtime: RuntimeDep) -> Response:
    response = Response(status_code=204)
    response.delete_cookie(
        portal_sign_in.COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(runtime)
    )
    return response


@router.get(
    "/api/v1/portal/me",
    response_model=Me,
    responses=SIGNED_IN,
    summary="Who is signed in to My requests",
)
def me(request: Request, runtime: RuntimeDep, session: SessionDep) -> Me:
    who = _who(request, runtime, session)
    lang = portal_sign_in.language_of(who.email, session=session)
    return Me(email=who.email, language=lang, csrf=who.csrf)


@router.get(
    "/api/v1/portal/tickets",
    response_model=TicketList,
    responses=SIGNED_IN,
    summary="The signed-in person's requests on every channel, newest first",
)
def my_tickets(request: Request, runtime: RuntimeDep, session: SessionDep) -> TicketList:
    who = _who(request, runtime, session)
    rows = session.scalars(
        portal_sign_in.own_tickets(who.email, session=session).order_by(Ticket.id.desc()).limit(200)
    )
    return TicketList(
        tickets=[TicketSummary(**conversation.summary(t, session=session)) for t in rows]
    )


def _own(request: Request, runtime: Runtime, session: SessionDep, number: str) -> Ticket:
    who = _who(request, runtime, session)
    ticket = portal_sign_in.own_ticket(who.email, number.upper(), session=session)
    if ticket is None:
        raise ApiError(404, "not_found", f"no ticket {number}")
    return ticket


@router.get(
    "/api/v1/portal/tickets/{number}",
    response_model=Conversation,
    responses=SIGNED_IN,
    summary="One of the signed-in person's requests with its whole public conversation",
)
def my_ticket(number: Number, request: Request, runtime: RuntimeDep, session: SessionDep) -> Any:
    return _view(_own(request, runtime, session, number), runtime, session)


@router.post(
    "/api/v1/portal/tickets/{number}/replies",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReplyAccepted,
    responses={**REPLY_ERRORS, **SIGNED_IN},
    summary="Reply on one of the signed-in person's requests",
)
def my_reply(
    number: Number,
    body: ReplyIn,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    x_csrf_token: Annotated[str | None, Header(max_length=100)] = None,
) -> ReplyAccepted:
    who = _who(request, runtime, session)
    _csrf(who, x_csrf_token)
    ticket = _own(request, runtime, session, number)
    return _reply(ticket, body, request, runtime, who.email)


@router.post(
    "/api/v1/portal/tickets/{number}/cancel",
    response_model=CancelOut,
    responses={
        **SIGNED_IN,
        400: {"model": ErrorBody, "description": "The body is not JSON."},
        403: {"model": ErrorBody, "description": "Missing or wrong CSRF token."},
        413: {"model": ErrorBody},
        409: {"model": ErrorBody, "description": "`not_cancellable`: already resolved or closed."},
    },
    summary="Cancel one of the signed-in person's requests (a process with its open steps)",
    description="The My requests twin of `POST /api/v1/messages/{id}/cancel`: the same rule "
    "and the same answer. A process is cancelled as a whole; its open and planned steps close "
    "with the reason.",
)
def my_cancel(
    number: Number,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    body: CancelIn | None = None,
    x_csrf_token: Annotated[str | None, Header(max_length=100)] = None,
) -> CancelOut:
    who = _who(request, runtime, session)
    _csrf(who, x_csrf_token)
    ticket = _own(request, runtime, session, number)
    return cancel_ticket(ticket, session=session, runtime=runtime, via="portal", body=body)


@router.get("/my", response_class=HTMLResponse, include_in_schema=False)
def my_page() -> HTMLResponse:
    return page()
