"""One-tap ratings: signed links per ticket, the reopen window, a reply that is only a digit.

A rating link (`{public URL}/rate/{token}/{1..5}`) is for channels without buttons (e-mail,
SMS, the portal). The token names one ticket and is signed with the app's secret key like a
status link (router/status_link.py); it expires with the reopen window, which the endpoint
checks against the ticket's resolution time, so a reopened and resolved-again ticket is
rated again with the same links.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.db import NotificationRow, Ticket, User, UserTeam
from router import texts
from router.users import Role

# Channels that show no rating buttons: their resolution notice carries the links instead.
LINK_CHANNELS = frozenset({"email", "phone", "webform"})
RATINGS = (1, 2, 3, 4, 5)
# A rating this low tells the team lead (router/lifecycle/actions.record_feedback).
ALERT_AT_MOST = 2
# "5", "5 stars", "оценка 5", "5 звёзд", "5/5", "Rating: 5!" — and nothing else.
_WORDS = r"(?:оценка|оценку|ставлю|rating|rate|score|stars?|звезд[аы]?|звёзд[аы]?|балл(?:а|ов)?)"
_REPLY = re.compile(
    rf"^\s*(?:{_WORDS}\s*[:\-]?\s*)?([1-5])(?:\s*(?:/|из|of|out of)\s*5)?\s*(?:{_WORDS})?\s*[.!]*\s*$",
    re.IGNORECASE,
)


def token(secret: bytes, ticket_id: int) -> str:
    """`{ticket id}.{signature}`: names one ticket; another use of the key signs other words."""
    digest = hmac.new(secret, f"rate:{ticket_id}".encode(), hashlib.sha256)
    return f"{ticket_id}.{digest.hexdigest()[:16]}"


def ticket_id_of(secret: bytes, value: str) -> int | None:
    """The ticket a token names, or None when it is not one of ours."""
    head, _, _sig = value.partition(".")
    if not head.isdigit() or len(head) > 18:
        return None
    expected = token(secret, int(head)).encode()
    if not hmac.compare_digest(value.encode("utf-8", "surrogatepass"), expected):
        return None
    return int(head)


def urls(public_url: str, secret: bytes, ticket_id: int) -> dict[int, str]:
    base = f"{public_url.rstrip('/')}/rate/{token(secret, ticket_id)}"
    return {n: f"{base}/{n}" for n in RATINGS}


def page_url(public_url: str, secret: bytes, ticket_id: int) -> str:
    """The page with all five links: one short link where five do not fit (an SMS)."""
    return f"{public_url.rstrip('/')}/rate/{token(secret, ticket_id)}"


def open_for_rating(ticket: Ticket, *, grace_days: int, now: datetime) -> bool:
    """Resolved (or closed after it) and still within the reopen window.

    A ticket closed without a resolution (the requester cancelled it, a lead closed it as not
    needed) has no `resolved_at` and asks for no rating: there is no solution to rate.
    """
    if ticket.status not in ("resolved", "closed") or ticket.merged_into_id is not None:
        return False
    finished = ticket.resolved_at
    return finished is not None and now - finished <= timedelta(days=grace_days)


def links_text(language: str | None, links: dict[int, str]) -> str:
    lines = "\n".join(f"{n} — {url}" for n, url in sorted(links.items(), reverse=True))
    return texts.render("rating_links", language, links=lines)


def reply_rating(text: str | None) -> int | None:
    """The rating a reply's new text is, when that text is only a digit 1-5 (and a word)."""
    match = _REPLY.match(" ".join((text or "").split()))
    return int(match.group(1)) if match else None


def add_links(
    row: NotificationRow, text: str, *, public_url: str, secret: bytes, short: bool
) -> tuple[str, dict[int, str]]:
    """The resolution text with its rating links (a short channel gets the one page link)."""
    if not row.ticket_id or not (row.extra or {}).get("feedback_request"):
        return text, {}
    if row.channel not in LINK_CHANNELS:
        return text, {}
    links = urls(public_url, secret, row.ticket_id)
    if short:
        label = texts.render("rating_page", row.language, url="")
        return f"{text}\n{label}{page_url(public_url, secret, row.ticket_id)}", links
    return f"{text}\n\n{links_text(row.language, links)}", links


def team_leads(team_code: str | None, *, session: Session) -> list[str]:
    if not team_code:
        return []
    found = session.scalars(
        select(User.email)
        .join(UserTeam, UserTeam.user_id == User.id)
        .where(UserTeam.team_code == team_code, User.role == Role.lead.value, User.active)
        .order_by(User.id)
    )
    return list(found)
