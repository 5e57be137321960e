"""The workspace's two languages: chosen by the `okno_lang` cookie, else the browser's language."""

from __future__ import annotations

from fastapi import Request

LANGS = ("ru", "en")
LANG_COOKIE = "okno_lang"

TEXTS: dict[str, tuple[str, str]] = {
    # key: (ru, en)
    "title": ("Окно — рабочее место", "Okno — workspace"),
    "sign_in": ("Войти", "Sign in"),
    "sign_out": ("Выйти", "Sign out"),
    "token": ("API-токен", "API token"),
    "token_hint": (
        "Токен выдаёт администратор (okno user add); он начинается с okno_.",
        "Your administrator issues it (okno user add); it starts with okno_.",
    ),
    "bad_token": ("Токен неизвестен или отозван.", "The token is unknown or revoked."),
    "bad_csrf": (
        "Форма устарела, обновите страницу и повторите.",
        "The form has expired; reload the page and try again.",
    ),
    "queue": ("Очередь", "Queue"),
    "analytics": ("Аналитика", "Analytics"),
    "number": ("Номер", "Number"),
    "subject": ("Тема", "Subject"),
    "requester": ("Заявитель", "Requester"),
    "service": ("Услуга", "Service"),
    "team": ("Команда", "Team"),
    "status": ("Статус", "Status"),
    "due": ("Срок", "Due"),
    "any": ("все", "any"),
    "mine": ("мои", "mine"),
    "unassigned": ("без исполнителя", "unassigned"),
    "search": ("Поиск", "Search"),
    "apply": ("Применить", "Apply"),
    "empty": ("Открытых обращений нет.", "No open tickets."),
    "overdue": ("просрочено", "overdue"),
    "paused": ("пауза", "paused"),
    "keys": ("Клавиши: j/k — выбор, Enter — открыть.", "Keys: j/k to move, Enter to open."),
    "conversation": ("Переписка", "Conversation"),
    "internal": ("Внутренняя заметка", "Internal note"),
    "inbound": ("От заявителя", "From the requester"),
    "outbound": ("Заявителю", "To the requester"),
    "requester_card": ("Заявитель", "Requester"),
    "department": ("Подразделение", "Department"),
    "branch": ("Филиал", "Branch"),
    "other_open": ("Другие открытые", "Other open tickets"),
    "routing": ("Почему сюда", "Why it was routed here"),
    "candidates": ("Кандидаты", "Candidates"),
    "reasons": ("Решающие слова", "Deciding terms"),
    "sla": ("SLA", "SLA"),
    "response_due": ("Ответ до", "Response due"),
    "resolution_due": ("Решение до", "Resolution due"),
    "events": ("События", "Events"),
    "related": ("Связи", "Related"),
    "parent": ("Родитель", "Parent"),
    "children": ("Дочерние", "Children"),
    "links": ("Связанные", "Links"),
    "attachments": ("Вложения", "Attachments"),
    "actions": ("Действия", "Actions"),
    "claim": ("Взять", "Claim"),
    "start": ("Начать работу", "Start"),
    "assign": ("Назначить", "Assign"),
    "assignee": ("Исполнитель", "Assignee"),
    "comment": ("Ответить", "Reply"),
    "text": ("Текст", "Text"),
    "public": ("Отправить заявителю", "Send to the requester"),
    "ask": ("Задать вопрос", "Ask the requester"),
    "resolve": ("Решить", "Resolve"),
    "resolution": ("Решение", "Resolution"),
    "reassign": ("Переназначить", "Reassign"),
    "reason": ("Причина", "Reason"),
    "merge": ("Объединить с", "Merge into"),
    "link": ("Связать с", "Link to"),
    "other_ticket": ("Номер обращения", "Ticket number"),
    "done": ("Готово.", "Done."),
    "not_found": ("Обращение не найдено.", "No such ticket."),
    "forbidden": ("Недостаточно прав.", "Not allowed for your role."),
    "lang_switch": ("English", "Русский"),
    "back": ("← К очереди", "← Back to the queue"),
    "knowledge": ("База знаний", "Knowledge base"),
    "new_article": ("Новая статья", "New article"),
    "language": ("Язык", "Language"),
    "article_title": ("Заголовок", "Title"),
    "article_body": ("Текст (Markdown)", "Text (Markdown)"),
    "article_public": ("Видна заявителям на портале", "Shown to requesters in the portal"),
    "canned": ("Шаблон ответа", "Canned answer"),
    "articles": ("Статьи", "Articles"),
    "save": ("Сохранить", "Save"),
    "delete": ("Удалить", "Delete"),
    "canned_answers": ("Шаблоны ответов и статьи", "Canned answers and articles"),
    "tickets_total": ("Всего обращений", "Tickets"),
    "rating": ("Средняя оценка", "Average rating"),
    "by_channel": ("Каналы", "Channel mix"),
    "by_team": ("Обращения по командам", "Tickets by team"),
    "by_routing": ("Как маршрутизировано", "How tickets were routed"),
    "rates": ("Доли", "Rates"),
    "sla_compliance": ("В срок (SLA)", "SLA compliance"),
    "reassigned_share": ("Переназначено", "Reassigned"),
    "auto_routed_share": ("Классификатор сам", "Classifier coverage"),
    "over_time": ("По неделям", "Week by week"),
    "insert": ("Вставить в ответ", "Insert into the reply"),
    "suggestions": ("Предложения: базовые услуги", "Suggestions: baseline services"),
    "suggestions_hint": (
        "Из обращений за 90 дней: что предоставлять заранее, не дожидаясь заявки.",
        "From the last 90 days of requests: what to provide before anyone asks.",
    ),
    "no_suggestions": ("Предложений нет.", "No suggestions."),
    "no_suggestion": ("Предложение не найдено.", "No such suggestion."),
    "kind_baseline": ("Базовая услуга", "Baseline service"),
    "kind_recurring": ("Регулярная услуга", "Recurring service"),
    "kind_new_service": ("Новая услуга каталога", "New catalogue service"),
    "requests": ("Обращений", "Requests"),
    "share": ("Доля подразделения", "Share of the department"),
    "requesters": ("Заявители", "Requesters"),
    "hours": ("Часы специалистов", "Specialist hours"),
    "every_days": ("Раз в дней", "Every (days)"),
    "next_expected": ("Следующее около", "Next about"),
    "handled_by": ("Обработала команда", "Handled by"),
    "keywords": ("Слова", "Words"),
    "examples": ("Примеры", "Examples"),
    "dismiss": ("Отклонить", "Dismiss"),
    "mark_done": ("Сделано", "Mark done"),
    "reopen": ("Вернуть", "Reopen"),
    "state_dismissed": ("Отклонено", "Dismissed"),
    "state_done": ("Сделано", "Done"),
    "state_open": ("Открыто", "Open"),
}


def pick(request: Request) -> str:
    """The cookie's language, else the first of ours in Accept-Language, else Russian."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "ru"


def translator(lang: str):  # type: ignore[no-untyped-def]
    index = LANGS.index(lang)

    def t(key: str) -> str:
        pair = TEXTS.get(key)
        return pair[index] if pair else key

    return t
