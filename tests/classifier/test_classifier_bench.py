"""`okno bench classifier` end to end on tiny stand-ins of the four public sets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from classifier.bench import _reference_scores, oracle_coverage
from classifier.bench_data import BenchSet
from classifier.bench_margin import paired_bootstrap, paired_scores
from classifier.dataset import Dataset
from classifier.metrics import class_metrics
from scripts.model_cli import bench_classifier
from tests.classifier.conftest import synthetic_rows


def _pairs(rows: list[dict[str, str]]) -> list[list[str]]:
    return [[r["text"], r["service"]] for r in rows]


def _fake_datasets(root: Path) -> None:
    rows = synthetic_rows(per_service=16)
    train, test = rows[::2], rows[1::2]
    for name, text_col, label_col in (
        ("banking77", "text", "category"),
        ("it_service_tickets", "Document", "Topic_group"),
        ("ru_med_top3", "text", "category"),
    ):
        (root / name).mkdir(parents=True)
        for split, part in (("train", train), ("test", test)):
            with (root / name / f"{split}.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow([text_col, label_col])
                writer.writerows([r["text"], r["service"]] for r in part)
    oos = [["what is the weather on mars", "oos"], ["sing me a song", "oos"]] * 3
    clinc = {"train": _pairs(train), "val": _pairs(test[:8]), "test": _pairs(test),
             "oos_train": oos, "oos_val": oos, "oos_test": oos}  # fmt: skip
    (root / "clinc150").mkdir()
    (root / "clinc150" / "data_full.json").write_text(json.dumps(clinc))
    domains = {
        "it": ["access_password", "it_network"],
        "office": ["hr_vacation", "fac_meeting_room"],
    }
    (root / "clinc150" / "domains.json").write_text(json.dumps(domains))


def test_bench_writes_the_report(tmp_path: Path) -> None:
    _fake_datasets(tmp_path / "datasets")
    out, raw = tmp_path / "docs" / "benchmarks.md", tmp_path / "bench" / "classifier.json"
    args = ["--datasets", tmp_path / "datasets", "--out", out, "--raw", raw]
    result = CliRunner().invoke(bench_classifier, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = out.read_text()
    for text in ("## Targets", "### banking77", "### clinc150", "### it_service_tickets",
                 "### ru_med_top3", "ru_med_top3: macro-F1 >= the reference + 0.01",
                 "Out-of-scope test requests", "reference", "Load average"):  # fmt: skip
        assert text in report
    assert "ru_med_top3: macro-F1 >= the min_df 1 reference + 0.01 (not a target" in report
    numbers = json.loads(raw.read_text())
    # the reference is issue 19's plain model: min_df 2; the library default is shown beside it
    assert numbers["sets"]["ru_med_top3"]["reference"]["min_df"] == 2
    assert 0.0 <= numbers["sets"]["ru_med_top3"]["reference_min_df1"]["macro_f1"] <= 1.0
    ours = numbers["sets"]["clinc150"]["ours"]
    assert 0.0 <= ours["oos_not_routed_to_service"] <= 1.0
    assert ours["latency_ms"]["p99"] > 0 and ours["model_file_mb"] > 0
    # how sure each margin is: a paired bootstrap of the test rows, and both out of fold
    assert "## How sure the margins are" in report
    margin = numbers["sets"]["ru_med_top3"]["margin"]
    assert margin["test_bootstrap"]["rounds"] > 0
    assert set(margin["test_bootstrap"]["macro_f1"]) >= {"difference", "sd", "share_at_margin"}
    assert set(margin["out_of_fold"]) == {"ours", "reference"}
    # the class adjustment chosen out of fold is reported (here: the tiny sets need none)
    assert numbers["sets"]["ru_med_top3"]["ours"]["class_adjustment"]["chosen"] is None
    assert "Class adjustment (team smoothing, logit adjustment): none" in report


def test_bench_refuses_a_missing_datasets_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench_classifier, ["--datasets", str(tmp_path / "none")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_oracle_coverage() -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    assert oracle_coverage(conf, np.array([True, True, False, True]), 0.95) == 0.5
    assert oracle_coverage(conf, np.array([False, True, True, True]), 0.95) == 0.0


def test_the_command_line_gives_the_numbers_of_the_bench(tmp_path: Path) -> None:
    from classifier.bench import bench_ours
    from classifier.bench_data import banking77
    from scripts.model_cli import model

    root = tmp_path / "datasets"
    _fake_datasets(root)
    bench = banking77(root)
    measured, predicted, folds = bench_ours(bench, progress=lambda _m: None)
    # the bench's pseudo-teams (they take part in team smoothing) given as a column
    train_csv = tmp_path / "train-with-teams.csv"
    with train_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "category", "team"])
        teams = [bench.service_team[lb] for lb in bench.train.labels]
        writer.writerows(zip(bench.train.texts, bench.train.labels, teams, strict=True))
    runner, registry = CliRunner(), str(tmp_path / "models")
    trained = runner.invoke(model, ["train", "--data", str(train_csv), "--label-col", "category",
                                    "--team-col", "team", "--catalog", "none",
                                    "--registry", registry, "--json"])  # fmt: skip
    assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout)["version"]
    meta = json.loads((tmp_path / "models" / "versions" / version / "metadata.json").read_text())
    assert meta["service_team"] == bench.service_team
    result = runner.invoke(model, ["evaluate", "--version", version, "--registry", registry,
                                   "--data", str(root / "banking77" / "test.csv"),
                                   "--label-col", "category", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    for key in ("accuracy", "macro_f1", "coverage", "precision_on_covered"):
        assert got[key] == measured[key], key
    # the folds the reference is cross-validated on hold every training row out exactly once
    held = np.sort(np.concatenate([rows for _fit, rows in folds]))
    assert held.tolist() == list(range(len(predicted.oof)))


class _Fixed:
    """A fitted-pipeline stand-in whose scores are given."""

    def __init__(self, classes: list[str], scores: np.ndarray) -> None:
        self.classes_ = np.array(classes)
        self.scores = scores

    def decision_function(self, texts: list[str]) -> np.ndarray:
        return self.scores


def test_reference_macro_f1_is_ours_over_the_test_classes() -> None:
    # Class "c" is known from training but absent from the test set; the reference predicts it
    # once. Ours (classifier.metrics) averages over the test set's classes; so must the reference.
    labels = ["a", "a", "b", "b"]
    predicted = ["a", "c", "b", "b"]
    classes = ["a", "b", "c"]
    scores = np.eye(3)[[classes.index(p) for p in predicted]]
    test = Dataset(texts=["w", "x", "y", "z"], labels=labels, extras=[{}] * 4)
    bench = BenchSet("tiny", train=test, test=test, service_team={})
    _, quality = _reference_scores(_Fixed(classes, scores), bench)  # type: ignore[arg-type]
    assert quality["macro_f1"] == class_metrics(labels, predicted)["macro_f1"]
    assert quality["macro_f1"] == round((2 / 3 + 1.0) / 2, 4)


def _labels(n: int, k: int, seed: int) -> list[str]:
    return [f"c{v}" for v in np.random.default_rng(seed).integers(0, k, n)]


def test_the_bootstrap_macro_f1_is_the_evaluate_macro_f1() -> None:
    truth = _labels(300, 12, 1)
    ours, reference = _labels(300, 13, 2), truth[:150] + _labels(150, 13, 3)  # c12: never true
    scores = paired_scores(truth, ours, reference)
    assert scores["ours"]["macro_f1"] == class_metrics(truth, ours)["macro_f1"]
    assert scores["reference"]["macro_f1"] == class_metrics(truth, reference)["macro_f1"]
    boot = paired_bootstrap(truth, ours, reference, rounds=50)
    expected = scores["ours"]["macro_f1"] - scores["reference"]["macro_f1"]
    assert abs(boot["macro_f1"]["difference"] - expected) < 1e-4


def test_the_bootstrap_of_equal_and_of_better_predictions() -> None:
    truth = _labels(500, 5, 4)
    same = paired_bootstrap(
        truth, truth[:400] + _labels(100, 5, 5), truth[:400] + _labels(100, 5, 5)
    )
    assert same["accuracy"] == {"difference": 0.0, "sd": 0.0, "low": 0.0, "high": 0.0,
                                "share_at_margin": 0.0}  # fmt: skip
    # ours right everywhere, the reference wrong on every fifth row: +0.2, in every resample
    wrong = [t if i % 5 else "other" for i, t in enumerate(truth)]
    better = paired_bootstrap(truth, truth, wrong, rounds=200)
    assert better["accuracy"]["difference"] == 0.2
    assert better["accuracy"]["share_at_margin"] == better["macro_f1"]["share_at_margin"] == 1.0
    assert 0 < better["accuracy"]["sd"] < 0.05 and better["accuracy"]["low"] > 0.1


def test_the_bootstrap_refuses_rows_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="one length"):
        paired_bootstrap(["a", "b"], ["a"], ["a", "b"])


def test_the_report_names_the_chosen_class_adjustment() -> None:
    from classifier.bench_report import _adjustment

    summary = {
        "chosen": {"team_weight": 0.5, "prior_weight": 0.6},
        "out_of_fold_before": {"accuracy": 0.4871, "macro_f1": 0.3544},
        "out_of_fold_after": {"accuracy": 0.4876, "macro_f1": 0.3724},
    }
    assert _adjustment(summary) == (
        "Class adjustment: team weight 0.5, prior weight 0.6; out-of-fold accuracy / macro-F1 "
        "0.4871 / 0.3544 -> 0.4876 / 0.3724."
    )
    assert _adjustment(None) == ""  # a report from before the adjustment existed
