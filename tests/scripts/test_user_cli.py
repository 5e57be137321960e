"""`okno user add | revoke | token`: the token on the last line works, and stops working."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from models.db import User
from router.runtime import Runtime
from router.users import hash_token
from scripts.cli import main


def run(runtime: Runtime, *args: str, database_url: str | None = None) -> tuple[int, str]:
    env = {
        "OKNO_DATABASE_URL": database_url or runtime.settings.effective_database_url,
        "OKNO_DATA_DIR": str(runtime.settings.data_dir),
    }
    result = CliRunner().invoke(main, ["user", *args], env=env)
    return result.exit_code, result.output


def test_add_prints_a_working_token_last_and_revoke_stops_it(runtime: Runtime) -> None:
    code, out = run(
        runtime, "add", "--name", "Ирина Смирнова", "--email", "I.Smirnova@corp.example.com",
        "--team", "hr", "--team", "payroll", "--role", "specialist",
    )  # fmt: skip
    assert code == 0, out
    token = out.strip().splitlines()[-1]
    assert token.startswith("okno_") and " " not in token
    with runtime.sessions() as session:
        user = session.scalars(select(User)).one()
        assert user.token_hash == hash_token(token) and token not in user.token_hash
        assert sorted(user.team_codes) == ["hr", "payroll"]
    client = TestClient(create_app(runtime))
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["email"] == "i.smirnova@corp.example.com" and me["role"] == "specialist"

    code, out = run(runtime, "revoke", "--email", "i.smirnova@corp.example.com")
    assert code == 0 and "Revoked" in out
    assert client.get("/api/v1/me", headers=headers).status_code == 401

    code, out = run(runtime, "token", "--email", "i.smirnova@corp.example.com")
    fresh = out.strip().splitlines()[-1]
    assert code == 0 and fresh != token
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_bad_input_is_a_clear_error(runtime: Runtime, tmp_path: Path) -> None:
    base = ["add", "--name", "N", "--email", "n@corp.example.com"]
    code, out = run(runtime, *base, "--role", "boss")
    assert code == 2 and "boss" in out
    code, out = run(runtime, *base, "--role", "specialist")
    assert code == 1 and "needs at least one team" in out
    code, out = run(runtime, *base, "--role", "lead", "--team", "nope")
    assert code == 1 and "unknown team(s): nope" in out
    code, out = run(runtime, "add", "--name", "N", "--email", "not-mail", "--role", "admin")
    assert code == 1 and "not an e-mail" in out
    assert run(runtime, *base, "--role", "analyst")[0] == 0
    code, out = run(runtime, *base, "--role", "analyst")
    assert code == 1 and "exists" in out
    code, out = run(runtime, "revoke", "--email", "ghost@corp.example.com")
    assert code == 1 and "no user" in out
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    code, out = run(runtime, *base, "--role", "admin", database_url=empty)
    assert code == 1 and "okno db upgrade" in out
