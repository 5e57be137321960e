"""Team smoothing and logit adjustment of the final scores (classifier/adjust.py, issue 19)."""

from __future__ import annotations

import copy

import joblib
import numpy as np
import pytest
import scipy.sparse as sp

from classifier.adjust import Adjustment, choose_adjustment
from classifier.dataset import read_csv_data
from classifier.linear import ModelSpec
from classifier.model import OknoModel
from classifier.text import normalise
from classifier.training import TrainConfig, fit_model

SPEC = ModelSpec(svc_c=(1.0,), folds=3)
NO_NEGATIVES = np.zeros((0, 3))


def _rows(groups: list[tuple[int, int, list[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """(count, true class, out-of-fold probabilities) groups -> (y, probabilities)."""
    y = np.concatenate([np.full(n, label) for n, label, _p in groups])
    proba = np.vstack([np.tile(p, (n, 1)) for n, _label, p in groups])
    return y, proba


def _plain_x(n: int, columns: int = 3) -> sp.csr_matrix:
    return sp.csr_matrix(np.random.default_rng(0).random((n, columns)))


def test_rare_services_outvoted_on_near_ties_get_their_rows_back() -> None:
    # The rare services' rows score just below the frequent one: the plain argmax never names
    # them. A shift by the log of each service's share gives them back at no cost in accuracy.
    y, proba = _rows([(800, 0, [0.9, 0.05, 0.05]), (50, 1, [0.5, 0.45, 0.05]),
                      (50, 2, [0.5, 0.05, 0.45])])  # fmt: skip
    chosen = choose_adjustment(proba, NO_NEGATIVES, y, _plain_x(len(y)), _plain_x(0),
                               np.zeros(3, dtype=int), SPEC)  # fmt: skip
    assert chosen.adjustment is not None
    assert chosen.adjustment.team_weight == 0.0 and chosen.adjustment.team_scorer is None
    assert chosen.adjustment.prior_weight == 0.1  # the smallest shift of the grid that does it
    assert (chosen.oof_proba.argmax(axis=1) == y).all()
    assert chosen.summary["out_of_fold_before"]["macro_f1"] < 0.4
    assert chosen.summary["out_of_fold_after"] == {"accuracy": 1.0, "macro_f1": 1.0}


def test_no_shift_where_it_would_cost_accuracy() -> None:
    # Flipping the near ties to the rare service would name its 20 rows, and misroute 100 rows
    # of the frequent one: macro-F1 rises, accuracy falls, so nothing is shifted.
    y, proba = _rows([(700, 0, [0.9, 0.05, 0.05]), (100, 0, [0.5, 0.45, 0.05]),
                      (20, 1, [0.5, 0.45, 0.05]), (80, 2, [0.05, 0.05, 0.9])])  # fmt: skip
    chosen = choose_adjustment(proba, NO_NEGATIVES, y, _plain_x(len(y)), _plain_x(0),
                               np.zeros(3, dtype=int), SPEC)  # fmt: skip
    assert chosen.adjustment is None and chosen.summary["chosen"] is None
    assert chosen.oof_proba is proba


def test_the_team_a_request_clearly_belongs_to_decides_between_services() -> None:
    # Services 0, 1 are team A's, 2, 3 team B's. The service scores confuse 0 with 2 and 3
    # with 1 (across teams); the text names the team plainly, so a team scorer is sure of it.
    y, proba = _rows([(100, 0, [0.40, 0.10, 0.45, 0.05]), (100, 1, [0.05, 0.8, 0.1, 0.05]),
                      (100, 2, [0.05, 0.1, 0.8, 0.05]), (100, 3, [0.05, 0.45, 0.1, 0.40])])  # fmt: skip
    class_team = np.array([0, 0, 1, 1])
    rng = np.random.default_rng(1)
    X = sp.csr_matrix(np.c_[np.eye(2)[class_team[y]] * 3, rng.random((len(y), 2))])
    chosen = choose_adjustment(proba, np.zeros((0, 4)), y, X, sp.csr_matrix((0, 4)),
                               class_team, SPEC)  # fmt: skip
    assert chosen.adjustment is not None and chosen.adjustment.team_weight > 0
    assert chosen.adjustment.team_scorer is not None
    assert (chosen.oof_proba.argmax(axis=1) == y).mean() == 1.0
    # what the model applies to new rows is what was chosen out of fold
    applied = chosen.adjustment.apply(proba[::100], X[::100])
    assert applied.argmax(axis=1).tolist() == [0, 1, 2, 3]
    assert np.allclose(applied.sum(axis=1), 1.0)


def test_one_service_a_team_fits_no_team_scorer() -> None:
    y, proba = _rows([(800, 0, [0.9, 0.05, 0.05]), (50, 1, [0.5, 0.45, 0.05]),
                      (50, 2, [0.5, 0.05, 0.45])])  # fmt: skip
    steps: list[str] = []
    chosen = choose_adjustment(proba, NO_NEGATIVES, y, _plain_x(len(y)), _plain_x(0),
                               np.arange(3), SPEC, steps.append)  # fmt: skip
    assert chosen.adjustment is not None and chosen.adjustment.team_scorer is None
    assert not any("team scorer" in s for s in steps)


@pytest.fixture(scope="module")
def fitted(seed_csv, catalog) -> tuple[OknoModel, dict]:  # type: ignore[no-untyped-def]
    data = read_csv_data([seed_csv], extra_cols=["channel"])
    model, info, _validation = fit_model(data, catalog.service_team, TrainConfig())
    return model, info


def test_training_says_what_it_chose_and_can_be_told_not_to(fitted, seed_csv, catalog) -> None:  # type: ignore[no-untyped-def]
    _model, info = fitted
    # the synthetic services are told apart out of fold: nothing to gain, nothing chosen
    assert info["class_adjustment"]["chosen"] is None
    assert info["class_adjustment"]["out_of_fold_before"]["accuracy"] > 0.9
    data = read_csv_data([seed_csv], extra_cols=["channel"])
    config = TrainConfig(class_adjustment=False)
    assert config.as_dict()["class_adjustment"] is False
    _m, info, _v = fit_model(data, catalog.service_team, config)
    assert info["class_adjustment"] is None


def test_the_model_applies_its_adjustment_and_keeps_it_when_saved(fitted, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain, _info = fitted
    texts = ["забыл пароль", "book a meeting room", "нет интернета дома", "отпуск"]
    raw = plain.proba(texts)
    shifted = copy.deepcopy(plain)
    k = len(plain.classes)
    # a strong pull towards the last service: the shift, not the text, now decides
    log_share = np.zeros(k)
    log_share[-1] = -50.0
    shifted.adjustment = Adjustment(0.0, 1.0, log_share, np.zeros(k, dtype=int))
    X = plain.features.transform([normalise(t) for t in texts], None, texts)
    expected = shifted.adjustment.apply(raw, X)
    assert np.allclose(shifted.proba(texts), expected)
    assert {p.candidates[0]["service"] for p in shifted.predict_many(texts)} == {plain.classes[-1]}
    joblib.dump(shifted, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    assert again.adjustment.prior_weight == 1.0
    assert np.allclose(again.proba(texts), expected)
    # a model saved before the adjustment existed has no such attribute: no shift
    assert "adjustment" not in plain.__dict__ or plain.adjustment is None
    assert np.allclose(plain.proba(texts), raw)
