"""`okno directory sync-ldap`: read people from LDAP / Active Directory with a paged search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ldap3 import SUBTREE, Connection, Server
from ldap3.core.exceptions import LDAPException
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from router.directory import BadRecord, DirectoryError, Record, record

# Enabled people with a mailbox: bit 2 of userAccountControl is "account disabled".
AD_FILTER = (
    "(&(objectCategory=person)(objectClass=user)(mail=*)"
    "(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
)
# Our field → the directory attribute; Active Directory's names by default.
AD_ATTRIBUTES = {
    "email": "mail",
    "name": "displayName",
    "phone": "telephoneNumber",
    "mobile": "mobile",
    "department": "department",
    "branch": "l",
    "manager": "manager",
}


class LdapSettings(BaseSettings):
    """OKNO_LDAP_*: where the directory is and how its attributes map to an employee."""

    model_config = SettingsConfigDict(env_prefix="OKNO_LDAP_", extra="ignore")

    url: str | None = Field(default=None, description="ldap://host:389 or ldaps://host:636")
    bind_dn: str | None = None
    bind_password: SecretStr | None = None
    base_dn: str = ""
    filter: str = AD_FILTER
    page_size: int = Field(default=500, ge=1, le=10_000)
    timeout_seconds: int = Field(default=10, ge=1)
    attributes: dict[str, str] = Field(
        default_factory=dict,
        description='Overrides of the AD map, JSON: {"name": "cn", "department": "departmentNumber"}',
    )

    @property
    def attribute_map(self) -> dict[str, str]:
        unknown = set(self.attributes) - set(AD_ATTRIBUTES)
        if unknown:
            raise DirectoryError(f"OKNO_LDAP_ATTRIBUTES: unknown fields {sorted(unknown)}")
        return {**AD_ATTRIBUTES, **self.attributes}


@dataclass
class Entry:
    dn: str
    values: dict[str, str | None]  # our field names → the first value (None when absent)


def fetch(settings: LdapSettings) -> list[Entry]:
    """Every entry matching the filter, page by page; raises DirectoryError when unreachable."""
    if not settings.url:
        raise DirectoryError("OKNO_LDAP_URL is not set")
    mapping = settings.attribute_map
    server = Server(settings.url, connect_timeout=settings.timeout_seconds)
    password = settings.bind_password.get_secret_value() if settings.bind_password else None
    try:
        with Connection(
            server,
            user=settings.bind_dn,
            password=password,
            auto_bind=True,
            read_only=True,
            receive_timeout=settings.timeout_seconds,
        ) as conn:
            pages = conn.extend.standard.paged_search(
                settings.base_dn,
                settings.filter,
                search_scope=SUBTREE,
                attributes=sorted(set(mapping.values())),
                paged_size=settings.page_size,
                generator=True,
            )
            return [_entry(e, mapping) for e in pages if e.get("type") == "searchResEntry"]
    except LDAPException as exc:
        raise DirectoryError(f"LDAP {settings.url}: {type(exc).__name__}: {exc}") from exc


def _entry(raw: dict[str, Any], mapping: dict[str, str]) -> Entry:
    attrs = raw.get("attributes", {})
    return Entry(dn=raw["dn"], values={f: _first(attrs.get(a)) for f, a in mapping.items()})


def _first(value: Any) -> str | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip() if value is not None else ""
    return text or None


def records(entries: list[Entry]) -> tuple[list[Record], list[dict[str, Any]]]:
    """Entries as directory records; a manager DN becomes the manager's e-mail."""
    mail_of = {e.dn.lower(): e.values.get("email") for e in entries}
    out: list[Record] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in entries:
        v = entry.values
        manager = v.get("manager")
        raw = {
            "email": v.get("email"),
            "name": v.get("name"),
            "phone": v.get("phone") or v.get("mobile"),
            "department": v.get("department"),
            "branch": v.get("branch"),
            "manager_email": mail_of.get(manager.lower()) if manager else None,
        }
        try:
            rec = record(raw, {"dn": entry.dn})
            if rec.email in seen:
                raise BadRecord(f"{rec.email} is the mail of another entry too")
        except BadRecord as exc:
            rejected.append({"dn": entry.dn, "reason": str(exc)})
            continue
        seen.add(rec.email)
        out.append(rec)
    return out, rejected
