"""Whom Okno mails on its own: known employees and the organisation's domains, nobody else.

An address typed into the web form or a forged `From:` must not turn the helpdesk into a
mailer for attacker text. Such tickets are kept (unverified); only the automatic mail stops.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db import Employee, NotificationRow
from models.settings import Settings
from router.notify import AUTOMATIC  # a specialist's comment or resolution is a person's choice

NOT_OURS = "automatic mail only to employees and OKNO_ORG_DOMAINS; this address is neither"


def org_domains(settings: Settings) -> list[str]:
    return [d.strip().lower().lstrip("@") for d in settings.org_domains.split(",") if d.strip()]


def may_mail(row: NotificationRow, settings: Settings, *, session: Session) -> bool:
    """False for an automatic e-mail to an address outside the organisation."""
    if row.channel != "email" or row.kind not in AUTOMATIC:
        return True
    domains = org_domains(settings)
    if "*" in domains:
        return True
    address = row.recipient.strip().lower()
    domain = address.rpartition("@")[2]
    if any(domain == d or domain.endswith("." + d) for d in domains):
        return True
    known = select(Employee.id).where(func.lower(Employee.email) == address).limit(1)
    return session.scalar(known) is not None
