"""What the bot itself says (greetings, lists, hints), ru/en; ticket texts come from the router."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TEXTS: dict[str, dict[str, str]] = {
    "greet_new": {
        "ru": (
            "Здравствуйте{name}! Я бот «Окна» — единой службы поддержки: кадры, зарплата, ИТ, "
            "офис, юристы, закупки, безопасность.\n\n"
            "Просто напишите, что нужно, своими словами — я зарегистрирую обращение и передам "
            "его нужной команде. Можно приложить фото или документ.\n\n"
            "Чтобы я знал, кто вы, поделитесь номером телефона (кнопка ниже) или пришлите "
            "рабочий e-mail — я отправлю на него код."
        ),
        "en": (
            "Hello{name}! I am the Okno bot, the single service desk for HR, payroll, IT, "
            "facilities, legal, procurement and security.\n\n"
            "Just tell me what you need in your own words: I will register the request and pass "
            "it to the right team. Photos and documents are welcome.\n\n"
            "So that I know who you are, share your phone number (button below) or send me your "
            "work e-mail and I will send a code there."
        ),
    },
    "greet_known": {
        "ru": (
            "С возвращением, {name}! Напишите, что нужно, — я передам это нужной команде.\n"
            "/my — ваши открытые обращения."
        ),
        "en": (
            "Welcome back, {name}! Tell me what you need and I will pass it to the right team.\n"
            "/my lists your open requests."
        ),
    },
    "help": {
        "ru": (
            "Напишите вопрос своими словами — я создам обращение и скажу, кто и когда ответит.\n"
            "/my — открытые обращения\n/status OKNO-000123 — одно обращение\n"
            "/cancel OKNO-000123 [причина] — отменить своё обращение\n"
            "Ответьте (reply) на моё сообщение об обращении, чтобы дополнить его.\n"
            "/start — подключить рабочий профиль (телефон или e-mail)."
        ),
        "en": (
            "Write your question in your own words: I will open a request and tell you who "
            "answers and by when.\n/my lists your open requests\n"
            "/status OKNO-000123 shows one request\n"
            "/cancel OKNO-000123 [reason] cancels your request\n"
            "Reply to my message about a request to add to it.\n"
            "/start links your work profile (phone or e-mail)."
        ),
    },
    "share_phone": {"ru": "📱 Поделиться номером", "en": "📱 Share my phone number"},
    "not_own_contact": {
        "ru": "Пожалуйста, поделитесь своим номером — кнопкой «Поделиться номером».",
        "en": "Please share your own number with the “Share my phone number” button.",
    },
    "group_hint": {
        "ru": "Я принимаю обращения только в личных сообщениях — напишите мне лично.",
        "en": "I take requests in private messages only: please write to me directly.",
    },
    "my_none": {"ru": "Открытых обращений нет.", "en": "You have no open requests."},
    "my_header": {"ru": "Ваши открытые обращения:", "en": "Your open requests:"},
    "my_item": {
        "ru": "{number} — {subject}\n{status} · решим до {due}",
        "en": "{number} — {subject}\n{status} · due {due}",
    },
    "status_card": {
        "ru": (
            "{number} — {subject}\nУслуга: {service}\nКоманда: {team}\n"
            "Статус: {status}\nРешим до: {due}"
        ),
        "en": "{number} — {subject}\nService: {service}\nTeam: {team}\nStatus: {status}\nDue: {due}",
    },
    "status_usage": {
        "ru": "Напишите номер обращения, например: /status OKNO-000123",
        "en": "Give the request number, for example: /status OKNO-000123",
    },
    "cancel_usage": {
        "ru": "Напишите номер обращения, например: /cancel OKNO-000123 передумал",
        "en": "Give the request number, for example: /cancel OKNO-000123 no longer needed",
    },
    "status_not_found": {
        "ru": "Среди ваших обращений нет {number}.",
        "en": "{number} is not among your requests.",
    },
    "not_routed": {"ru": "уточняется", "en": "being decided"},
    "file_too_big": {
        "ru": (
            "Файл «{name}» слишком большой ({size} МБ, можно до {limit} МБ), я его не приложил. "
            "Текст обращения передан."
        ),
        "en": (
            "The file “{name}” is too large ({size} MB, the limit is {limit} MB), so I did not "
            "attach it. The text of your request went through."
        ),
    },
    "file_unavailable": {
        "ru": "Не смог получить файл «{name}» от Telegram, я его не приложил. Текст обращения передан.",
        "en": "I could not fetch the file “{name}” from Telegram, so it is not attached. The text went through.",
    },
    "unsupported": {
        "ru": "Я понимаю текст, фото, документы и голосовые сообщения. Опишите, пожалуйста, вопрос.",
        "en": "I understand text, photos, documents and voice messages. Please describe your request.",
    },
    "choice_ack": {"ru": "Спасибо, принято!", "en": "Thanks, got it!"},
    "rating_ack": {"ru": "Спасибо за оценку!", "en": "Thank you for the rating!"},
    "stale_button": {"ru": "Эта кнопка больше не действует.", "en": "This button no longer works."},
    "comment_placeholder": {"ru": "Ваш комментарий", "en": "Your comment"},
}

STATUS_NAMES = {
    "new": {"ru": "новое", "en": "new"},
    "assigned": {"ru": "назначено специалисту", "en": "assigned to a specialist"},
    "in_progress": {"ru": "в работе", "en": "in progress"},
    "waiting_for_requester": {"ru": "ждём вашего ответа", "en": "waiting for your reply"},
    "resolved": {"ru": "решено", "en": "resolved"},
    "closed": {"ru": "закрыто", "en": "closed"},
}

RUSSIAN_SPEAKING = ("ru", "uk", "be", "kk")


def language(code: str | None) -> str:
    """Our language for a Telegram language_code: ru for ru/uk/be/kk, en for the rest."""
    if not code:
        return "ru"
    return "ru" if code.lower().split("-")[0] in RUSSIAN_SPEAKING else "en"


def get(key: str, lang: str | None, **values: object) -> str:
    return TEXTS[key]["en" if lang == "en" else "ru"].format(**values)


def status_name(status: str, lang: str) -> str:
    return STATUS_NAMES.get(status, {}).get(lang, status)


def local_time(moment: datetime | None, tz: str) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(tz)).strftime("%d.%m.%Y %H:%M")
