"""The encoder gate (issue #20): the sentence encoder runs only where the n-grams are unsure,
at a gate chosen out of fold, and a gated model answers exactly as its parts would."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from click.testing import CliRunner

from classifier.catalog import CatalogInfo
from classifier.dataset import read_csv_data
from classifier.features import FeatureSpec
from classifier.gate import GRID, cascade, choose_gate
from classifier.model import OknoModel
from classifier.text import normalise
from classifier.training import TrainConfig, fit_model
from scripts.model_cli import model as model_cli
from tests.classifier.conftest import CATALOG

TEXTS = [
    "забыл пароль от почты",
    "не работает vpn дома",
    "хочу оформить отпуск в августе",
    "book a meeting room for friday",
    "что-то странное творится",
    "password reset and also the vpn",
    "переговорка или отпуск?",
    "hello",
    "сбросьте пароль пожалуйста",
    "no internet at home",
]


def _two_classes(rows: list[tuple[int, float]]) -> np.ndarray:
    """Probabilities of two classes: (predicted class, its probability) per row."""
    out = np.empty((len(rows), 2))
    for i, (cls, p) in enumerate(rows):
        out[i, cls], out[i, 1 - cls] = p, 1 - p
    return out


def test_the_lowest_gate_that_costs_nothing_from_there_up_is_chosen() -> None:
    y = np.array([0, 1, 0, 1, 0, 1])
    full = _two_classes([(c, 0.9) for c in y])  # always right
    # Right at 0.99, 0.95, 0.9; wrong at 0.8; right again at 0.6: the wrong row stops the
    # search, the right rows below it do not tempt it lower.
    fast = _two_classes([(0, 0.99), (1, 0.95), (0, 0.9), (0, 0.8), (0, 0.6), (1, 0.6)])
    grid = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)
    choice = choose_gate(fast, full, y, grid)
    assert choice.gate == 0.85
    assert choice.skipped == 0.5
    assert choose_gate(fast, full, y).gate == GRID[0] == 0.9  # the default grid's floor
    assert choice.cascade == choice.full == (1.0, 1.0)
    np.testing.assert_array_equal(cascade(fast, full, 0.85)[:3], fast[:3])
    np.testing.assert_array_equal(cascade(fast, full, 0.85)[3:], full[3:])


def test_no_gate_when_the_ngrams_are_wrong_even_when_surest() -> None:
    y = np.array([0, 1, 0, 1])
    full = _two_classes([(c, 0.9) for c in y])
    fast = _two_classes([(1, 0.999), (1, 0.9), (0, 0.9), (1, 0.9)])
    choice = choose_gate(fast, full, y)
    assert choice.gate is None and choice.skipped == 0.0
    forced = choose_gate(fast, full, y, fixed=0.5)  # the analyst's own gate, at its cost
    assert forced.gate == 0.5 and forced.skipped == 1.0 and forced.cascade[0] == 0.75


@pytest.fixture(scope="module")
def models(seed_csv: Path, catalog: CatalogInfo) -> dict[str, OknoModel]:
    data = read_csv_data([seed_csv])
    fitted = {}
    for name, config in {
        "ungated": TrainConfig(encoder_gate=False),
        "gated": TrainConfig(encoder_gate=0.5),
        "auto": TrainConfig(),
        "off": TrainConfig(features=FeatureSpec(encoder="off")),
    }.items():
        fitted[name], _info, _ = fit_model(data, catalog.service_team, config)
    return fitted


def _fast_proba(model: OknoModel, texts: list[str]) -> np.ndarray:
    assert model.fast_scorer is not None
    X = model.features.transform([normalise(t) for t in texts], None, texts, embed=False)
    assert X.shape[1] == model.features.count_columns
    return model.fast_scorer.proba(X)


def test_a_gated_model_scores_each_request_with_the_part_its_gate_picks(models) -> None:
    gated, ungated = models["gated"], models["ungated"]
    assert gated.gated and not ungated.gated and ungated.fast_scorer is None
    fast = _fast_proba(gated, TEXTS)
    # A gate between the requests' n-gram confidences, so that both parts answer some.
    gated.gate = float(np.median(fast.max(axis=1)))
    _X, proba, encoded = gated.scored(TEXTS)
    assert 0 < encoded.sum() < len(TEXTS)
    np.testing.assert_array_equal(encoded, fast.max(axis=1) < gated.gate)
    full = ungated.proba(TEXTS)  # the same full scorer, every request encoded
    np.testing.assert_allclose(proba[encoded], full[encoded], atol=1e-6)
    np.testing.assert_allclose(proba[~encoded], fast[~encoded], atol=1e-6)
    assert ungated.scored(TEXTS)[2].all()

    # One request at a time (the lean feature path) answers as a batch (sklearn's path).
    many = gated.predict_many(TEXTS * 2)[: len(TEXTS)]
    for text, batch in zip(TEXTS, many, strict=True):
        one = gated.predict(text)
        assert (one.decision, one.service, one.team) == (batch.decision, batch.service, batch.team)
        assert one.candidates == batch.candidates and one.reasons == batch.reasons
    for prediction, was_encoded in zip(many, encoded, strict=True):
        assert not any(r.startswith("embedding[") for r in prediction.reasons)
        if not was_encoded:
            assert prediction.reasons, prediction  # the n-gram scorer explains its own answer


def test_at_gate_zero_the_ngram_part_is_the_model_without_encoder(models) -> None:
    gated, off = models["gated"], models["off"]
    gated.gate = 0.0
    _X, proba, encoded = gated.scored(TEXTS)
    assert not encoded.any()
    np.testing.assert_allclose(proba, off.proba(TEXTS), atol=1e-6)


def test_the_gate_is_chosen_out_of_fold_and_saved_with_the_model(models, tmp_path: Path) -> None:
    auto = models["auto"]
    assert auto.features.uses_encoder and auto.gate is not None  # the seed rows are easy
    path = tmp_path / "model.joblib"
    joblib.dump(auto, path)
    loaded = joblib.load(path)
    assert loaded.gate == auto.gate
    np.testing.assert_array_equal(loaded.proba(TEXTS), auto.proba(TEXTS))


def test_a_model_saved_before_the_gate_existed_encodes_every_request(models) -> None:
    ungated = models["ungated"]
    old = OknoModel.__new__(OknoModel)
    old.__dict__.update(
        {k: v for k, v in models["gated"].__dict__.items() if k not in ("fast_scorer", "gate")}
    )
    assert not old.gated
    assert old.scored(TEXTS)[2].all()
    np.testing.assert_allclose(old.proba(TEXTS), ungated.proba(TEXTS), atol=1e-6)


def test_train_cli_takes_and_reports_the_gate(seed_csv: Path, tmp_path: Path) -> None:
    def train(*extra: str):
        return CliRunner().invoke(
            model_cli,
            ["train", "--data", str(seed_csv), "--registry", str(tmp_path / "models"),
             "--catalog", str(CATALOG), "--test-size", "0", *extra],
            catch_exceptions=False,
        )  # fmt: skip

    bad = train("--encoder-gate", "1.5")
    assert bad.exit_code == 2 and "--encoder-gate" in bad.output and "0 to 1" in bad.output
    out = json.loads(train("--encoder-gate", "0.7", "--json").stdout)
    assert out["encoder_gate"]["gate"] == 0.7
    meta = json.loads(
        (tmp_path / "models" / "versions" / out["version"] / "metadata.json").read_text()
    )
    assert meta["encoder_gate"]["gate"] == 0.7 and meta["params"]["encoder_gate"] == 0.7
    shown = train("--encoder-gate", "off")
    assert shown.exit_code == 0 and "sentence encoder:" not in shown.stdout
    shown = train()
    assert "sentence encoder: skipped where the n-grams are" in shown.stdout
