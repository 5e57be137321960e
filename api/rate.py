"""One-tap ratings: `/rate/{token}/{1..5}` stores the rating at once and thanks the person.

GET is enough (mail clients and SMS apps open links); a repeat or a link prefetcher changes
nothing, and the last tap within the reopen window wins. The thank-you page offers an
optional comment, POSTed to the same address.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Form, Path
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from api.deps import RuntimeDep, SessionDep
from models.db import Feedback, Ticket
from models.types import utcnow
from router import ratings, texts
from router.lifecycle import actions
from router.sends import enqueue_send

router = APIRouter(include_in_schema=False)

Token = Annotated[str, Path(max_length=40)]
Rating = Annotated[int, Path(ge=1, le=5)]

PAGE = {
    "thanks": {
        "ru": "Спасибо! Ваша оценка {rating} из 5 по обращению {number} записана.",
        "en": "Thank you! Your rating {rating} out of 5 for request {number} is recorded.",
    },
    "comment_label": {"ru": "Хотите что-то добавить?", "en": "Anything to add?"},
    "send": {"ru": "Отправить", "en": "Send"},
    "comment_thanks": {
        "ru": "Спасибо, ваш отзыв по обращению {number} записан.",
        "en": "Thank you, your feedback on request {number} is recorded.",
    },
    "choose": {"ru": "Оцените решение обращения {number}:", "en": "Rate how we solved {number}:"},
    "gone": {
        "ru": "Эта ссылка для оценки недействительна или срок оценки истёк.",
        "en": "This rating link is not valid or the time to rate has passed.",
    },
}


def _t(key: str, lang: str, **values: object) -> str:
    return html.escape(PAGE[key][texts.lang(lang)].format(**values))


def _page(body: str, lang: str, status: int = 200) -> HTMLResponse:
    doc = (
        f'<!DOCTYPE html><html lang="{texts.lang(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex"><title>Okno</title></head>'
        f'<body style="font-family: Arial, sans-serif; max-width: 32em; margin: 2em auto">{body}'
        "</body></html>"
    )
    return HTMLResponse(doc, status_code=status)


def _ticket(token: str, *, runtime: RuntimeDep, session: SessionDep) -> Ticket | None:
    """The ticket the token names, while it may still be rated."""
    ticket_id = ratings.ticket_id_of(runtime.secret_key, token)
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    grace = runtime.settings.reopen_grace_days
    if ticket is None or not ratings.open_for_rating(ticket, grace_days=grace, now=utcnow()):
        return None
    return ticket


def _store(
    ticket: Ticket, rating: int, comment: str | None, *, runtime: RuntimeDep, session: SessionDep
) -> None:
    """Record the rating unless it is already the one on file (a repeat or a prefetch)."""
    row = session.scalar(select(Feedback).where(Feedback.ticket_id == ticket.id))
    if row is not None and row.rating == rating and (comment is None or comment == row.comment):
        return
    kept = comment if comment is not None else (row.comment if row else None)
    outcome = actions.record_feedback(
        session=session,
        ticket_number=ticket.number or "",
        rating=rating,
        comment=kept,
        channel=ticket.origin_channel,
        recorded_by="rating link",
    )
    session.commit()
    enqueue_send(runtime, outcome.notification_ids)


def _gone(lang: str = "ru") -> HTMLResponse:
    return _page(f"<p>{_t('gone', lang)}</p>", lang, status=404)


@router.get("/rate/{token}", response_class=HTMLResponse)
def choose(token: Token, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    """The five links on one page: where five links do not fit (an SMS), one does."""
    ticket = _ticket(token, runtime=runtime, session=session)
    if ticket is None:
        return _gone()
    lang = ticket.language
    links = " ".join(
        f'<a href="/rate/{html.escape(token)}/{n}" style="font-size: 2em; padding: .3em">{n}</a>'
        for n in ratings.RATINGS
    )
    return _page(f"<p>{_t('choose', lang, number=ticket.number)}</p><p>{links}</p>", lang)


@router.get("/rate/{token}/{rating}", response_class=HTMLResponse)
def tap(token: Token, rating: Rating, runtime: RuntimeDep, session: SessionDep) -> HTMLResponse:
    ticket = _ticket(token, runtime=runtime, session=session)
    if ticket is None:
        return _gone()
    _store(ticket, rating, None, runtime=runtime, session=session)
    lang = ticket.language
    form = (
        f'<form method="post" action="/rate/{html.escape(token)}/{rating}">'
        f'<p><label for="comment">{_t("comment_label", lang)}</label></p>'
        '<p><textarea id="comment" name="comment" rows="4" maxlength="2000" '
        'style="width: 100%"></textarea></p>'
        f'<p><button type="submit">{_t("send", lang)}</button></p></form>'
    )
    thanks = _t("thanks", lang, rating=rating, number=ticket.number)
    return _page(f"<p>{thanks}</p>{form}", lang)


@router.post("/rate/{token}/{rating}", response_class=HTMLResponse)
def comment(
    token: Token,
    rating: Rating,
    runtime: RuntimeDep,
    session: SessionDep,
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    ticket = _ticket(token, runtime=runtime, session=session)
    if ticket is None:
        return _gone()
    _store(ticket, rating, comment.strip() or None, runtime=runtime, session=session)
    lang = ticket.language
    return _page(f"<p>{_t('comment_thanks', lang, number=ticket.number)}</p>", lang)
