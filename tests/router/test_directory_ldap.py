"""`okno directory sync-ldap` against a real OpenLDAP slapd started for this module."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from models.db import Employee
from router.runtime import Runtime
from scripts.cli import main

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=corp,dc=example"
ADMIN = f"cn=admin,{SUFFIX}"
CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {tmp}/slapd.pid
moduleload back_mdb
database mdb
maxsize 10485760
suffix "{suffix}"
rootdn "{admin}"
rootpw secret
directory {tmp}/db
"""


def person(uid: str, cn: str, mail: str, **attrs: str) -> str:
    lines = [
        f"dn: uid={uid},ou=people,{SUFFIX}",
        "objectClass: inetOrgPerson",
        f"uid: {uid}",
        f"cn: {cn}",
        f"sn: {cn.split()[-1]}",
        f"mail: {mail}",
        *(f"{k}: {v}" for k, v in attrs.items()),
    ]
    return "\n".join(lines) + "\n"


# Enough people that a page size of 2 needs several pages.
PEOPLE = [
    person(
        "petrova",
        "Анна Петрова",
        "A.Petrova@corp.example.com",
        telephoneNumber="8 (912) 345-67-89",
        departmentNumber="Бухгалтерия",
        l="Казань",
        manager=f"uid=volkov,ou=people,{SUFFIX}",
    ),
    person(
        "volkov",
        "Сергей Волков",
        "s.volkov@corp.example.com",
        mobile="+7 495 987-65-43",
        departmentNumber="Финансы",
        l="Москва",
    ),
    person("smith", "John Smith", "j.smith@corp.example.com", departmentNumber="IT", l="London"),
    person("broken", "Bad Phone", "bad.phone@corp.example.com", telephoneNumber="12345"),
    person("ivanova", "Мария Иванова", "m.ivanova@corp.example.com", departmentNumber="HR"),
]
LDIF = (
    f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Corp\ndc: corp\n\n"
    f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n\n" + "\n".join(PEOPLE)
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not os.access(SLAPD, os.X_OK) or shutil.which("ldapadd") is None:
        pytest.skip(
            "slapd/ldap-utils are not installed (scripts/setup-system-deps.sh installs them)"
        )
    tmp = tmp_path_factory.mktemp("slapd")
    (tmp / "db").mkdir()
    (tmp / "slapd.conf").write_text(CONF.format(tmp=tmp, suffix=SUFFIX, admin=ADMIN))
    url = f"ldap://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([SLAPD, "-f", str(tmp / "slapd.conf"), "-h", f"{url}/", "-d", "0"])
    try:
        _load(url, tmp)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def _load(url: str, tmp: Path) -> None:
    (tmp / "people.ldif").write_text(LDIF, encoding="utf-8")
    command = [
        "ldapadd",
        "-x",
        "-H",
        url,
        "-D",
        ADMIN,
        "-w",
        "secret",
        "-f",
        str(tmp / "people.ldif"),
    ]
    deadline = time.monotonic() + 15
    while True:
        done = subprocess.run(command, capture_output=True, text=True, timeout=15)
        if done.returncode == 0:
            return
        assert time.monotonic() < deadline, done.stderr
        time.sleep(0.2)


@pytest.fixture
def cli(runtime: Runtime, slapd: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("OKNO_DATA_DIR", str(runtime.settings.data_dir))
    monkeypatch.setenv("OKNO_DATABASE_URL", runtime.settings.effective_database_url)
    monkeypatch.setenv("OKNO_LDAP_URL", slapd)
    monkeypatch.setenv("OKNO_LDAP_BIND_DN", ADMIN)
    monkeypatch.setenv("OKNO_LDAP_BIND_PASSWORD", "secret")
    monkeypatch.setenv("OKNO_LDAP_BASE_DN", f"ou=people,{SUFFIX}")
    monkeypatch.setenv("OKNO_LDAP_FILTER", "(&(objectClass=inetOrgPerson)(mail=*))")
    monkeypatch.setenv("OKNO_LDAP_PAGE_SIZE", "2")
    # OpenLDAP's inetOrgPerson names differ from Active Directory's defaults.
    monkeypatch.setenv(
        "OKNO_LDAP_ATTRIBUTES", json.dumps({"name": "cn", "department": "departmentNumber"})
    )
    return CliRunner()


def test_sync_reads_every_page_and_maps_the_attributes(cli: CliRunner, runtime: Runtime) -> None:
    result = cli.invoke(main, ["directory", "sync-ldap"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert (summary["created"], summary["updated"], summary["deactivated"]) == (4, 0, 0)
    (bad,) = summary["rejected"]
    assert bad == {
        "dn": f"uid=broken,ou=people,{SUFFIX}",
        "reason": "not a phone number: '12345'",
    }
    with runtime.sessions() as session:
        found = {e.email: e for e in session.scalars(select(Employee))}
    anna = found["a.petrova@corp.example.com"]
    assert (anna.name, anna.phone, anna.department, anna.branch, anna.source) == (
        "Анна Петрова",
        "+79123456789",
        "Бухгалтерия",
        "Казань",
        "ldap",
    )
    assert anna.manager_email == "s.volkov@corp.example.com"  # the manager's DN, resolved
    assert found["s.volkov@corp.example.com"].phone == "+74959876543"  # mobile as fallback

    again = cli.invoke(main, ["directory", "sync-ldap"])
    assert json.loads(again.output.strip().splitlines()[-1])["created"] == 0


def test_an_unreachable_directory_is_one_error(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKNO_LDAP_URL", f"ldap://127.0.0.1:{free_port()}")
    monkeypatch.setenv("OKNO_LDAP_TIMEOUT_SECONDS", "2")
    result = cli.invoke(main, ["directory", "sync-ldap"])
    assert result.exit_code == 1 and "LDAP ldap://127.0.0.1" in result.output
