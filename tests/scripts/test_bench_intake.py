"""`okno bench intake`'s arithmetic: each ratio is the median of its rounds' paired ratios."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.catalog import load_catalog
from classifier.dataset import read_csv_data
from classifier.registry import ModelRegistry
from classifier.training import TrainConfig, fit_model
from models.settings import load_settings
from scripts.bench_intake import _report, bench_intake, encoded_share, read_texts, result
from tests.classifier.conftest import CATALOG, synthetic_rows, write_csv


def rates(**pairs: list[float]) -> dict[str, list[float]]:
    base = {
        "e2e_per_s": [200.0, 150.0, 210.0],
        "noop_drain_per_s": [300.0, 350.0, 400.0],
        "accept_per_s": [400.0, 380.0, 390.0],
        "bare_accept_per_s": [400.0, 400.0, 400.0],
        "smtp_per_s": [800.0, 700.0, 900.0],
        "bare_smtp_per_s": [1600.0, 1000.0, 1200.0],
        "smtp_cpu_ms": [1.0, 1.2, 1.1],
    }
    return {**base, **pairs}


def test_each_ratio_is_the_median_of_the_rounds_own_ratios() -> None:
    out = result(rates(), ((1.0, 1.0, 1.0), (2.0, 2.0, 2.0)))
    # rounds: e2e 200/300, 150/350, 210/400 -> 0.667, 0.429, 0.525: the median round, not the
    # ratio of the medians (200/350 = 0.571) and not a mix of two rounds' rates
    assert out["e2e_ratios"] == [0.667, 0.429, 0.525] and out["e2e_ratio"] == 0.525
    assert out["smtp_ratios"] == [0.5, 0.7, 0.75] and out["smtp_ratio"] == 0.7
    assert out["accept_ratio"] == 0.975
    # the rates and CPU figures shown beside them: each the median of its own rounds
    assert out["e2e_per_s"] == 200.0 and out["bare_smtp_per_s"] == 1200.0
    assert out["smtp_cpu_ms"] == 1.1
    assert out["rounds"] == 3 and out["load_end"] == [2.0, 2.0, 2.0]


def test_one_round_is_the_plain_ratio() -> None:
    one = {k: v[:1] for k, v in rates().items()}
    out = result(one, ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)))
    assert out["smtp_ratio"] == 0.5 and out["smtp_ratios"] == [0.5] and out["rounds"] == 1


@pytest.mark.parametrize("rounds", ["0", "-1"])
def test_rounds_below_one_are_refused(rounds: str) -> None:
    done = CliRunner().invoke(bench_intake, ["--rounds", rounds])
    assert done.exit_code == 2 and "--rounds" in done.output


def test_a_registry_without_an_active_model_is_refused(tmp_path: Path) -> None:
    """Not a bench that says it classified while every message went to triage."""
    missing = CliRunner().invoke(bench_intake, ["--registry", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "--registry" in missing.output
    empty = CliRunner().invoke(bench_intake, ["--registry", str(tmp_path)])
    assert empty.exit_code == 2 and "no active model" in empty.output


@pytest.mark.parametrize("registry", [None, "/srv/models"])
def test_the_report_says_whether_the_workers_classified(
    tmp_path: Path, registry: str | None
) -> None:
    cpu = {k: [1.0] for k in ("accept_cpu_ms", "bare_accept_cpu_ms", "bare_smtp_cpu_ms")}
    found = result({k: v[:1] for k, v in {**rates(), **cpu}.items()}, ((0, 0, 0), (0, 0, 0)))
    found.update(intake_batch_max=16, intake_batch_commit=1, classifier=registry)
    report = _report(10, 2, load_settings(data_dir=tmp_path), found)
    expected = "classifier registry /srv/models" if registry else "classifier off (triage)"
    assert expected in report


def test_the_end_to_end_takes_request_texts_from_a_file(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("не работает vpn\n\n  printer jams  \n", encoding="utf-8")
    assert read_texts(texts) == [("не работает vpn", None), ("printer jams", None)]
    (tmp_path / "blank.txt").write_text("\n \n", encoding="utf-8")
    blank = CliRunner().invoke(bench_intake, ["--texts", str(tmp_path / "blank.txt")])
    assert blank.exit_code == 2 and "--texts" in blank.output and "no request text" in blank.output
    missing = CliRunner().invoke(bench_intake, ["--texts", str(tmp_path / "none.txt")])
    assert missing.exit_code == 2 and "--texts" in missing.output


def test_the_report_says_how_often_the_model_encoded_the_texts(tmp_path: Path) -> None:
    """The end to end with a model depends on how many of its texts reach the encoder (the
    encoder gate): the report says so, measured with the registry's own model."""
    data = read_csv_data([write_csv(tmp_path / "seed.csv", synthetic_rows())])
    registry = ModelRegistry(tmp_path / "models")
    registry.path.mkdir()
    model, _info, _ = fit_model(data, load_catalog(CATALOG).service_team, TrainConfig())
    texts: list[tuple[str, str | None]] = [("забыл пароль от почты", None), ("hello", None)]
    model.gate = 0.0  # the n-grams answer everything: no text reaches the encoder
    registry.promote(registry.register(model, {}))
    assert encoded_share(registry.path, texts) == 0.0
    model.gate = 1.01  # never sure enough: every text is encoded
    registry.promote(registry.register(model, {}))
    assert encoded_share(registry.path, texts) == 1.0
    cpu = {k: [1.0] for k in ("accept_cpu_ms", "bare_accept_cpu_ms", "bare_smtp_cpu_ms")}
    found = result({k: v[:1] for k, v in {**rates(), **cpu}.items()}, ((0, 0, 0), (0, 0, 0)))
    found.update(intake_batch_max=16, intake_batch_commit=1, classifier=str(registry.path),
                 texts="held-back.txt", n_texts=360, encoded_share=0.38)  # fmt: skip
    report = _report(10, 2, load_settings(data_dir=tmp_path), found)
    assert "360 from held-back.txt" in report and "encoder runs for 38% of them" in report
