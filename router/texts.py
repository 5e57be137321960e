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
    # Process milestones (router/lifecycle/processes.py): one message per stage, not per sub-task.
    "process_started": {
        "ru": "Запущен процесс по обращению {number}.{children}",
        "en": "A process has started under request {number}.{children}",
    },
    "stage_started": {
        "ru": "По обращению {number} начался следующий этап: {items}.",
        "en": "Request {number}: the next stage has started: {items}.",
    },
    "cancel_hint": {
        "ru": "\nЕсли процесс больше не нужен, ответьте на это сообщение одним словом «отменить».",
        "en": "\nIf the process is no longer needed, reply to this message with the word “cancel”.",
    },
    "planned": {"ru": "{item} - после предыдущего этапа", "en": "{item} - after the stage before"},
    "process_summary": {
        "ru": "Все этапы выполнены:\n{items}",
        "en": "All steps are done:\n{items}",
    },
    "not_needed": {"ru": "закрыто как ненужное", "en": "closed as not needed"},
    "cancelled": {
        "ru": "Отменено вместе с {number}: {reason}",
        "en": "Cancelled with {number}: {reason}",
    },
    # The requester withdrew the request (router/lifecycle/process_cancel.py).
    "requester_cancelled": {
        "ru": "Отменено заявителем: {reason}",
        "en": "Cancelled by the requester: {reason}",
    },
    "cancelled_process": {
        "ru": "Обращение {number} отменено по вашей просьбе. Остановлены подзадачи: {items}.",
        "en": "Request {number} is cancelled as you asked. Sub-tasks stopped: {items}.",
    },
    "cancel_refused": {
        "ru": "Обращение {number} уже не отменить: оно {status}. Если что-то не так, ответьте на него.",
        "en": "Request {number} cannot be cancelled: it is {status}. If something is wrong, reply to it.",
    },
    "cancel_not_found": {
        "ru": "Среди ваших обращений нет {number}.",
        "en": "{number} is not among your requests.",
    },
    "cancel_step": {
        "ru": "{number} - часть обращения {parent}; отменить можно только его целиком: /cancel {parent}",
        "en": "{number} is one step of request {parent}; cancel the whole of it: /cancel {parent}",
    },
    "cancelled_request": {
        "ru": "Обращение {number} отменено по вашей просьбе.",
        "en": "Request {number} is cancelled as you asked.",
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
    # One-tap rating links (router/ratings.py) on channels without buttons.
    "rating_links": {
        "ru": "Оцените одним нажатием (5 — отлично):\n{links}\nИли ответьте на это письмо цифрой.",
        "en": "Rate us with one tap (5 is excellent):\n{links}\nOr reply to this mail with a digit.",
    },
    "rating_page": {"ru": "Оценить: {url}", "en": "Rate us: {url}"},
    "low_rating": {
        "ru": "Низкая оценка {rating} из 5 по обращению {number}. Комментарий: {comment}",
        "en": "Low rating {rating} out of 5 on request {number}. Comment: {comment}",
    },
    "reassigned": {
        "ru": "Обращение {number} передано команде «{team}».",
        "en": "Request {number} has been passed to the team {team}.",
    },
    # Requester actions (router/actions.py, router/actions_linking.py): Telegram buttons, linking.
    "clarify": {
        "ru": "Чтобы сразу передать обращение {number} нужной команде, уточните: о чём оно?",
        "en": "To pass request {number} straight to the right team: which of these is it about?",
    },
    "clarify_other": {"ru": "Другое", "en": "Something else"},
    "clarified": {"ru": "Спасибо, так и передам.", "en": "Thank you, that is where it goes."},
    "clarified_other": {
        "ru": "Понял. Обращение {number} разберёт диспетчер и передаст нужной команде.",
        "en": "Got it. A dispatcher will look at request {number} and pass it to the right team.",
    },
    "clarify_late": {
        "ru": "Обращение {number} уже передано: {service}.",
        "en": "Request {number} has already been passed on: {service}.",
    },
    "feedback_thanks": {
        "ru": "Спасибо за оценку {rating} из 5! Если хотите что-то добавить, ответьте на это сообщение.",
        "en": "Thank you for rating us {rating} out of 5! To add a comment, reply to this message.",
    },
    "feedback_comment_thanks": {
        "ru": "Спасибо, ваш отзыв по обращению {number} записан.",
        "en": "Thank you, your feedback on request {number} is recorded.",
    },
    "linked": {
        "ru": "Готово, {name}! Теперь я знаю, кто вы. Напишите, что нужно, — передам нужной команде.",
        "en": "Done, {name}! Now I know who you are. Tell me what you need and I will pass it on.",
    },
    "link_phone_unknown": {
        "ru": "Этого номера нет в справочнике сотрудников. Пришлите рабочий e-mail — отправлю на него код.",
        "en": "This number is not in the staff directory. Send me your work e-mail and I will send a code there.",
    },
    "link_email_unknown": {
        "ru": "Адреса {email} нет в справочнике сотрудников. Проверьте его или поделитесь номером телефона.",
        "en": "{email} is not in the staff directory. Check it, or share your phone number instead.",
    },
    "link_too_many": {
        "ru": "Слишком много кодов за час. Попробуйте позже.",
        "en": "Too many codes within an hour. Please try again later.",
    },
    "link_code_sent": {
        "ru": "Отправил код на {email}. Пришлите его сюда — он действует {minutes} минут.",
        "en": "I sent a code to {email}. Send it here; it is valid for {minutes} minutes.",
    },
    "link_code_wrong": {
        "ru": "Код не подошёл. Осталось попыток: {left}.",
        "en": "That code does not match. Attempts left: {left}.",
    },
    "link_code_expired": {
        "ru": "Код устарел или попытки закончились. Пришлите e-mail ещё раз — отправлю новый.",
        "en": "The code has expired or no attempts are left. Send your e-mail again for a new one.",
    },
    "link_code_subject": {
        "ru": "Код подтверждения для Telegram-бота «Окно»",
        "en": "Your Okno Telegram bot confirmation code",
    },
    "link_code_email": {
        "ru": (
            "Здравствуйте, {name}!\n\nВаш код для подключения Telegram-бота службы поддержки: {code}\n"
            "Он действует {minutes} минут. Если вы не запрашивали код, просто удалите это письмо."
        ),
        "en": (
            "Hello {name},\n\nYour code for linking the service desk Telegram bot: {code}\n"
            "It is valid for {minutes} minutes. If you did not ask for it, just delete this e-mail."
        ),
    },
    "subject": {"ru": "[{number}] {subject}", "en": "[{number}] {subject}"},
    "ask": {
        "ru": "По обращению {number} нужен ваш ответ:\n{text}\n\nПросто ответьте на это сообщение.",
        "en": "We need your answer on request {number}:\n{text}\n\nJust reply to this message.",
    },
    "merged": {
        "ru": "Обращение {number} объединено с {other}: продолжим работу там.",
        "en": "Request {number} was merged into {other}; we carry on there.",
    },
}

STATUS_NAMES = {
    "new": {"ru": "новое", "en": "new"},
    "assigned": {"ru": "назначено специалисту", "en": "assigned to a specialist"},
    "in_progress": {"ru": "в работе", "en": "in progress"},
    "waiting_for_requester": {"ru": "ждём вашего ответа", "en": "waiting for your reply"},
    "resolved": {"ru": "решено", "en": "resolved"},
    "closed": {"ru": "закрыто", "en": "closed"},
    "planned": {"ru": "запланировано", "en": "planned"},
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
