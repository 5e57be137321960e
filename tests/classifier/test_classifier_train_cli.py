"""Issue 19: the registered model learns from every row, the first one becomes active, only
live services are promoted, foreign labels train for evaluation, and the output is scriptable."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from scripts.model_cli import model
from tests.classifier.conftest import CATALOG, synthetic_rows, write_csv


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(model, [str(a) for a in args], catch_exceptions=False)


def _meta(registry: Path, version: str) -> dict:
    return json.loads((registry / "versions" / version / "metadata.json").read_text())


def test_the_registered_model_learns_from_every_row(seed_csv: Path, tmp_path: Path) -> None:
    registry = tmp_path / "new" / "models"  # does not exist yet: train creates it
    result = run("train", "--data", seed_csv, "--registry", registry, "--catalog", CATALOG,
                 "--encoder", "off", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["rows"], out["rows_eval_train"], out["rows_test"]) == (48, 40, 8)
    assert out["evaluation"]["n"] == 8 and out["out_of_fold"]["n"] == 48
    meta = _meta(registry, out["version"])
    assert meta["training_data"]["rows_train"] == 48  # the held-back rows were folded back in
    assert meta["metrics"]["n"] == 8 and meta["out_of_fold"]["n"] == 48
    # The first model of a new registry becomes active: evaluate needs no --version.
    assert out["promoted"] and (registry / "ACTIVE").read_text().strip() == out["version"]
    assert run("evaluate", "--data", seed_csv, "--registry", registry).exit_code == 0

    result = run("train", "--data", seed_csv, "--registry", registry, "--catalog", CATALOG,
                 "--encoder", "off")  # fmt: skip
    text = result.stdout
    assert "evaluation: fitted on 40 rows, tested on 8 held back" in text
    assert "registered: refitted on all 48 rows" in text and "(promoted)" not in text


def test_test_size_zero_skips_the_evaluation(seed_csv: Path, tmp_path: Path) -> None:
    registry = tmp_path / "models"
    result = run("train", "--data", seed_csv, "--registry", registry, "--catalog", CATALOG,
                 "--encoder", "off", "--test-size", "0", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["evaluation"] is None and out["rows_test"] == 0 and out["rows"] == 48
    assert "evaluating" not in result.stderr
    assert not (registry / "versions" / out["version"] / "holdout.jsonl.gz").exists()
    listed = json.loads(run("list", "--registry", registry, "--json").stdout)
    assert listed["active"] == out["version"]
    assert listed["versions"][0]["accuracy"] is None and listed["versions"][0]["rows"] == 48
    assert "n/a" in run("list", "--registry", registry).stdout
    result = run("train", "--data", seed_csv, "--registry", registry, "--test-size", "0.01")
    assert result.exit_code == 2 and "0.05" in result.output


def _foreign_rows() -> list[dict[str, str]]:
    names = {"access_password": "card_arrival", "it_network": "top_up_failed",
             "hr_vacation": "exchange_rate", "fac_meeting_room": "a_very_long_foreign_label_" * 3}  # fmt: skip
    return [{**r, "service": names[r["service"]]} for r in synthetic_rows()]


def test_foreign_labels_train_for_evaluation_and_never_become_active(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "foreign.csv", _foreign_rows())
    registry = tmp_path / "models"
    result = run("train", "--data", data, "--registry", registry, "--catalog", CATALOG)
    assert result.exit_code == 1 and "is not a service in the catalogue" in result.output
    result = run("train", "--data", data, "--registry", registry, "--catalog", "none",
                 "--promote")  # fmt: skip
    assert result.exit_code == 2 and "--catalog none" in result.output
    result = run("train", "--data", data, "--registry", registry, "--catalog", "none",
                 "--encoder", "off", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert not out["promoted"] and "--catalog none" in out["not_activated"]
    assert not (registry / "ACTIVE").exists()
    assert _meta(registry, out["version"])["training_data"]["catalog"] is None

    report = run("evaluate", "--data", data, "--registry", registry, "--version", out["version"])
    rows = [line for line in report.stdout.splitlines() if line.startswith("  ") and "." in line]
    table = [line for line in rows if line.split()[0] in {r["service"] for r in _foreign_rows()}]
    header = next(line for line in report.stdout.splitlines() if "recall" in line)
    assert len(table) == 4
    assert {len(line) for line in table} == {len(header)}  # columns aligned for long codes

    # promote refuses it, naming the labels; --force does not override that
    for extra in ((), ("--force",)):
        result = run("promote", out["version"], "--registry", registry, *extra)
        assert result.exit_code == 1
        assert "not active services of the live catalogue" in result.output
        assert "card_arrival" in result.output and "top_up_failed" in result.output
    assert not (registry / "ACTIVE").exists()


def test_train_promote_refuses_labels_the_live_catalogue_lacks(
    seed_csv: Path, tmp_path: Path, monkeypatch
) -> None:
    live = tmp_path / "live.yaml"  # the running app has dropped fac_meeting_room
    text = CATALOG.read_text(encoding="utf-8")
    live.write_text(text, encoding="utf-8")
    import yaml

    catalog = yaml.safe_load(text)
    catalog["services"] = [s for s in catalog["services"] if s["code"] != "fac_meeting_room"]
    live.write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("OKNO_CATALOG_FILE", str(live))
    registry = tmp_path / "models"
    result = run("train", "--data", seed_csv, "--registry", registry, "--catalog", CATALOG,
                 "--encoder", "off", "--promote")  # fmt: skip
    assert result.exit_code == 1 and "fac_meeting_room" in result.output
    assert "refusing to promote" in result.output and not (registry / "versions").exists()
    result = run("train", "--data", seed_csv, "--registry", registry, "--catalog", CATALOG,
                 "--encoder", "off", "--json")  # fmt: skip
    out = json.loads(result.stdout)
    assert not out["promoted"] and "fac_meeting_room" in out["not_activated"]


def test_feature_step_shows_a_progress_bar(seed_csv: Path, tmp_path: Path) -> None:
    result = run("train", "--data", seed_csv, "--registry", tmp_path / "m", "--catalog", CATALOG,
                 "--encoder", "on", "--test-size", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sentence embeddings" in result.stderr and "48/48" in result.stderr


def test_train_says_its_class_adjustment_and_can_switch_it_off(
    seed_csv: Path, tmp_path: Path
) -> None:
    registry = tmp_path / "models"
    base = ("train", "--data", seed_csv, "--registry", registry, "--catalog", CATALOG,
            "--encoder", "off", "--test-size", "0")  # fmt: skip
    out = json.loads(run(*base, "--json").stdout)
    assert out["class_adjustment"]["chosen"] is None  # the synthetic services need none
    assert _meta(registry, out["version"])["class_adjustment"] == out["class_adjustment"]
    assert "class adjustment: none" in run(*base).stdout
    off = json.loads(run(*base, "--class-adjustment", "off", "--json").stdout)
    assert off["class_adjustment"] is None
    assert _meta(registry, off["version"])["params"]["class_adjustment"] is False
    bad = run(*base, "--class-adjustment", "maybe")
    assert bad.exit_code == 2 and "--class-adjustment" in bad.output


def test_foreign_labels_take_their_teams_from_a_column(tmp_path: Path) -> None:
    rows = [{**r, "team": r["service"].split("_")[0]} for r in _foreign_rows()]
    columns = ("text", "service", "team")
    data = write_csv(tmp_path / "foreign.csv", rows, columns)
    base = ("train", "--data", data, "--registry", tmp_path / "models", "--encoder", "off",
            "--test-size", "0")  # fmt: skip
    out = json.loads(run(*base, "--catalog", "none", "--team-col", "team", "--json").stdout)
    teams = _meta(tmp_path / "models", out["version"])["service_team"]
    assert teams["card_arrival"] == "card" and teams["top_up_failed"] == "top"
    # without a catalogue only; the column must exist; one team a label
    no_catalog = run(*base, "--team-col", "team")
    assert no_catalog.exit_code == 2 and "--catalog none" in no_catalog.output
    missing = run(*base, "--catalog", "none", "--team-col", "desk")
    assert missing.exit_code == 1 and "no column 'desk'" in missing.output
    rows[0]["team"] = "other"
    write_csv(tmp_path / "foreign.csv", rows, columns)
    two = run(*base, "--catalog", "none", "--team-col", "team")
    assert two.exit_code == 1 and "has two teams" in two.output and "'other'" in two.output
    rows = [{**r, "team": "" if r["service"] == "exchange_rate" else r["team"]} for r in rows[1:]]
    write_csv(tmp_path / "foreign.csv", rows, columns)
    none = run(*base, "--catalog", "none", "--team-col", "team")
    assert none.exit_code == 1 and "no team given for the label(s) exchange_rate" in none.output
