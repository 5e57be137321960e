"""The trained pipeline: predictions, routing decisions, reasons, and the feature fast path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from classifier.dataset import read_csv_data
from classifier.features import SMALL_BATCH, Features, FeatureSpec
from classifier.model import OknoModel
from classifier.text import normalise
from classifier.thresholds import Thresholds


def test_predicts_the_service_and_its_team(trained: OknoModel) -> None:
    pred = trained.predict("Забыл пароль, учётка заблокирована", extras={"channel": "email"})
    assert pred.candidates[0]["service"] == "access_password"
    assert pred.candidates[0]["team"] == "it_access"
    assert pred.model_version == "test-version"
    assert (
        trained.predict("VPN will not connect from home").candidates[0]["service"] == "it_network"
    )
    assert (
        trained.predict("бронь переговорной на пятницу").candidates[0]["service"]
        == "fac_meeting_room"
    )


def test_prediction_fields(trained: OknoModel) -> None:
    pred = trained.predict("хочу оформить отпуск в августе", extras={"department": "Sales"})
    assert pred.decision in ("service", "team", "triage")
    assert len(pred.candidates) == 3
    probs = [c["probability"] for c in pred.candidates]
    assert probs == sorted(probs, reverse=True)
    assert set(pred.candidates[0]) == {"service", "team", "probability"}
    assert 0.0 <= pred.confidence <= pred.team_confidence <= 1.0
    assert pred.reasons and "отпуск" in " ".join(pred.reasons)
    assert pred.as_dict()["reasons"] == pred.reasons


def test_decisions_follow_the_thresholds(trained: OknoModel) -> None:
    text = "не работает vpn дома"
    original = trained.thresholds
    try:
        trained.thresholds = Thresholds(service=0.0, team=0.0, target_precision=0.95)
        pred = trained.predict(text)
        assert (pred.decision, pred.service, pred.team) == ("service", "it_network", "it_desk")
        trained.thresholds = Thresholds(service=None, team=0.0, target_precision=0.95)
        pred = trained.predict(text)
        assert (pred.decision, pred.service, pred.team) == ("team", None, "it_desk")
        trained.thresholds = Thresholds(service=None, team=None, target_precision=0.95)
        pred = trained.predict(text)
        assert (pred.decision, pred.service, pred.team) == ("triage", None, None)
    finally:
        trained.thresholds = original


def test_predict_many_and_odd_input(trained: OknoModel) -> None:
    preds = trained.predict_many(["", "???", "reset password"], [None, {}, {"channel": "phone"}])
    assert len(preds) == 3
    assert all(len(p.candidates) == 3 for p in preds)
    assert trained.predict_many(["забыл пароль"])[0].candidates[0]["service"] == "access_password"


def test_probabilities_sum_to_one(trained: OknoModel) -> None:
    proba = trained.proba(["забыл пароль", "book a meeting room"])
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_fast_transform_matches_sklearn(trained: OknoModel) -> None:
    f = trained.features
    assert f.word is not None and f.char is not None and f.extra is not None
    assert f.stem is not None and f.morph is not None  # Russian stems (issue 19)
    assert f.uses_encoder  # the encoder is installed (make install) and the seed set is small
    originals = ["Забыл пароль от почты", "VPN дома, ошибка 809", ""]
    texts = [normalise(t) for t in originals]
    extras = [{"channel": "email"}, {"channel": "unknown"}, {}]
    expected = sp.hstack(
        [
            f.word.transform(texts),
            f.char.transform(texts),
            f.stem.transform([f.morph(t) for t in texts]),
            f.extra.transform(f._extra_dicts(extras)),
            f.encoder().encode(originals) * f.spec.encoder_weight,
        ]
    )
    got = f.transform(texts, extras, originals)
    assert got.shape == expected.shape
    assert abs(got - expected).max() < 1e-5


def test_training_matrix_matches_the_prediction_path(seed_csv: Path) -> None:
    data = read_csv_data([seed_csv], extra_cols=["channel"])
    texts = [normalise(t) for t in data.texts]
    features = Features(FeatureSpec(), ["channel"])
    fitted = features.fit_transform(texts, data.extras, data.texts)
    assert len(texts) > SMALL_BATCH
    assert abs(fitted - features.transform(texts, data.extras, data.texts)).max() < 1e-5
    n = SMALL_BATCH
    few = features.transform(texts[:n], data.extras[:n], data.texts[:n])
    assert abs(fitted[:n] - few).max() < 1e-5
    one = features.transform(texts[:1], data.extras[:1], data.texts[:1])
    assert abs(fitted[:1] - one).max() < 1e-5
