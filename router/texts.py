"""What we tell requesters, in their language (ru/en)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TEXTS: dict[str, dict[str, str]] = {
    "created": {
        "ru": (
            "Ваше обращение зарегистрировано: {number}.\n"
            "Услуга: {service}\nКоманда: {team}\n"
            "Ответим до {response_due}, решим до {resolution_due} ({tz}).{children}"
        ),
        "en": (
            "Your request is registered: {number}.\n"
            "Service: {service}\nTeam: {team}\n"
            "We will respond by {response_due} and resolve by {resolution_due} ({tz}).{children}"
        ),
    },
    "created_triage": {
        "ru": (
            "Ваше обращение зарегистрировано: {number}.\n"
            "Мы уточняем, какая команда им займётся. Ответим до {response_due} ({tz})."
        ),
        "en": (
            "Your request is registered: {number}.\n"
            "We are finding the right team for it. We will respond by {response_due} ({tz})."
        ),
    },
    "children": {
        "ru": "\nПо заявке созданы подзадачи: {items}.",
        "en": "\nSub-tasks created: {items}.",
    },
    "status": {
        "ru": "Статус обращения {number} изменён: {status}.",
        "en": "Request {number} status changed: {status}.",
    },
    "comment": {
        "ru": "Новый комментарий по обращению {number}:\n{text}",
        "en": "New comment on request {number}:\n{text}",
    },
    "resolved": {
        "ru": "Обращение {number} решено:\n{text}\n\nОцените, пожалуйста, нашу работу от 1 до 5.",
        "en": "Request {number} is resolved:\n{text}\n\nPlease rate our work from 1 to 5.",
    },
    "subject": {"ru": "[{number}] {subject}", "en": "[{number}] {subject}"},
}

STATUS_NAMES = {
    "new": {"ru": "новое", "en": "new"},
    "assigned": {"ru": "назначено специалисту", "en": "assigned to a specialist"},
    "in_progress": {"ru": "в работе", "en": "in progress"},
    "waiting_for_requester": {"ru": "ждём вашего ответа", "en": "waiting for your reply"},
    "resolved": {"ru": "решено", "en": "resolved"},
    "closed": {"ru": "закрыто", "en": "closed"},
}


def lang(language: str | None) -> str:
    return "en" if language == "en" else "ru"


def render(key: str, language: str | None, **values: object) -> str:
    return TEXTS[key][lang(language)].format(**values)


def status_name(status: str, language: str | None) -> str:
    return STATUS_NAMES.get(status, {}).get(lang(language), status)


def local_time(moment: datetime | None, tz: str) -> str:
    """A due time as the requester reads it: their time zone, no seconds."""
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(tz)).strftime("%d.%m.%Y %H:%M")
