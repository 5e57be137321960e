"""Static word-piece embeddings distilled from the sentence encoder's wheel (one layer here:
the table is built the same way for any depth, and one layer builds in seconds)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest

from classifier import encoder, static_encoder
from classifier.catalog import CatalogInfo
from classifier.dataset import read_csv_data
from classifier.features import Features, FeatureSpec
from classifier.training import TrainConfig, fit_model

LAYERS = 1


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoders")


@pytest.fixture(scope="module")
def table(cache: Path) -> static_encoder.StaticEncoder:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKNO_ENCODER_CACHE", str(cache))
        return static_encoder.StaticEncoder(encoder._model_dir(), dims=64, layers=LAYERS)


def test_a_piece_row_is_the_encoder_reading_that_piece_alone(table) -> None:
    """The raw vector of a piece is what the float32 contextual graph gives for it as a text."""
    config = json.loads((encoder._model_dir() / "config.json").read_text())
    ids = [table.tokenizer.token_to_id(w) for w in ("card", "bank", "##ing")]
    raw = static_encoder.piece_vectors(encoder._model_dir(), config, LAYERS, ids)
    fp32 = encoder.SentenceEncoder(encoder._model_dir(), layers=LAYERS, quantized=False)
    want = fp32.encode(["card", "bank"])
    got = raw[:2] / np.linalg.norm(raw[:2], axis=1, keepdims=True)
    assert (got * want).sum(axis=1).min() > 0.99999
    again = static_encoder.piece_vectors(encoder._model_dir(), config, LAYERS, ids[::-1])
    assert np.array_equal(again[::-1], raw)  # alone or among others: the same numbers


def test_the_table_is_built_once_cached_and_reused(table, cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("OKNO_ENCODER_CACHE", str(cache))
    files = list(cache.glob(f"minilm-static-l{LAYERS}-*.npy"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))
    stamp = files[0].stat().st_mtime_ns
    full = np.load(files[0])
    assert full.dtype == np.float16 and full.shape == (30522, 384)
    assert table.table.shape == (30522, 64) and np.array_equal(table.table, full[:, :64])
    # Another width reads the same file: the principal axes come in order.
    wider = static_encoder.StaticEncoder(encoder._model_dir(), dims=128, layers=LAYERS)
    assert files[0].stat().st_mtime_ns == stamp
    assert np.array_equal(wider.table[:, :64], table.table)
    assert wider.identity["dims"] == 128 and table.identity["kind"] == "static"


def test_an_embedding_is_the_normalised_weighted_mean_of_its_pieces(table) -> None:
    text = "My card hasn't arrived " + "and the refund is late " * 40  # past 128 pieces
    ids = table.tokenizer.encode(text, add_special_tokens=False).ids
    assert len(ids) > 200  # the whole text, no cut
    rows = table.table[ids].astype(np.float64)
    plain = rows.mean(axis=0)
    assert np.allclose(table.encode([text])[0], plain / np.linalg.norm(plain), atol=1e-5)
    weights = table.piece_weights(["my card", "the card", "a bank"])
    assert (
        weights[table.tokenizer.token_to_id("card")] < weights[table.tokenizer.token_to_id("bank")]
    )  # seen in more texts: less weight
    w = weights[ids].astype(np.float64)
    mean = (w @ rows) / w.sum()
    got = table.encode([text, ""], weights=weights)
    assert np.allclose(got[0], mean / np.linalg.norm(mean), atol=1e-5)
    assert not got[1].any()  # no pieces: zeros, not NaN


@pytest.fixture(scope="module")
def static_model(seed_csv: Path, catalog: CatalogInfo, cache: Path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OKNO_ENCODER_CACHE", str(cache))
        static_encoder._shared.cache_clear()
        spec = FeatureSpec(encoder="static", static_layers=LAYERS, static_dims=64)
        model, info, _ = fit_model(
            read_csv_data([seed_csv]), catalog.service_team, TrainConfig(features=spec)
        )
        yield model, info
        static_encoder._shared.cache_clear()


def test_a_model_with_static_embeddings_saves_loads_and_predicts(
    static_model, tmp_path: Path
) -> None:
    model, info = static_model
    assert info["encoder"]["kind"] == "static" and info["feature_sizes"]["embedding"] == 64
    assert model.features.piece_weights is not None
    texts = ["забыл пароль от почты", "VPN will not connect at home", "book a meeting room"]
    path = tmp_path / "model.joblib"
    joblib.dump(model, path, compress=3)
    loaded = joblib.load(path)
    loaded.warm()
    assert np.array_equal(loaded.proba(texts), model.proba(texts))
    assert loaded.predict(texts[1]).candidates[0]["service"] == "it_network"
    # One text (the lean path) and a batch (sklearn's path) give the same columns.
    one = loaded.features.transform([texts[1]], None, [texts[1]]).toarray()
    many = loaded.features.transform(texts * 7, None, texts * 7).toarray()
    assert np.allclose(one[0], many[1], atol=1e-6)
    loaded.features.encoder_identity["table"] = "another"
    with pytest.raises(encoder.EncoderUnavailable, match="other static embeddings"):
        loaded.features.encoder()


def test_models_from_before_the_static_kind_still_load(seed_csv, catalog: CatalogInfo) -> None:
    model, _, _ = fit_model(
        read_csv_data([seed_csv]), catalog.service_team,
        TrainConfig(features=FeatureSpec(encoder="off")),
    )  # fmt: skip
    state = model.features.__dict__
    state.pop("piece_weights")  # as pickled before this field existed
    spec_state = model.features.spec.__dict__
    for field in ("static_dims", "static_layers", "static_weight"):
        spec_state.pop(field)
    old = pickle.loads(pickle.dumps(model))
    assert old.features.piece_weights is None and old.features.spec.static_dims == 256
    assert old.predict("забыл пароль").candidates[0]["service"] == "access_password"
    # A contextual encoder's identity has no "kind": it is read as the contextual encoder.
    features = Features(FeatureSpec())
    features.encoder_identity = {"name": encoder.NAME, "layers": 1, "quantized": True,
                                 "max_tokens": 24, "weights_sha256_1mib": "x"}  # fmt: skip
    with pytest.raises(encoder.EncoderUnavailable, match="another sentence encoder"):
        features.encoder()


def test_the_encoder_mode_is_checked() -> None:
    texts = ["забыл пароль", "vpn"]
    with pytest.raises(ValueError, match="auto, on, off or static"):
        Features(FeatureSpec(encoder="maybe")).fit_transform(texts, [{}, {}], texts)
