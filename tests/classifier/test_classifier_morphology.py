"""Issue 19: Russian words are read as Russian (stems or lemmas beside the raw n-grams)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from classifier.features import Features, FeatureSpec
from classifier.morphology import Morphology, language, parse
from classifier.text import normalise


def test_language_of_a_request_follows_its_letters() -> None:
    assert language("не работает vpn") == "ru"
    assert language("vpn does not work, сломался") == "en"


def test_snowball_reduces_the_words_of_the_request_language_only() -> None:
    morph = Morphology({"ru": "snowball"})
    assert morph("забыл пароль") == morph("забыла пароля")
    assert morph("не работает vpn") == "не работа"  # the Latin word is in the raw n-grams
    assert morph("passwords expired") == ""  # English is not named: nothing to add
    both = Morphology({"ru": "snowball", "en": "snowball"})
    assert both("passwords expired") == "password expir"
    assert both("пароли истекли, expired") == "парол истекл"  # in a Russian request English stays


def test_pymorphy_gives_dictionary_lemmas() -> None:
    morph = Morphology({"ru": "pymorphy"})
    assert morph("болит плечо, боли в плече") == "болеть плечо боль в плечо"


def test_bad_specs_are_refused_and_the_reducer_pickles_without_its_backend() -> None:
    with pytest.raises(ValueError, match="morphology"):
        parse("ru=porter")
    assert parse("off") is None
    morph = parse("ru=snowball")
    assert morph is not None and morph("пароля") == "парол"
    again = pickle.loads(pickle.dumps(morph))
    assert again == morph and again("пароля") == "парол"


def test_the_stem_block_joins_the_features_and_both_paths_agree() -> None:
    texts = ["забыл пароль от почты", "сбросьте пароли", "не работает vpn дома", "нет vpn"] * 3
    plain = Features(FeatureSpec(encoder="off", morphology="off"))
    plain.fit_transform([normalise(t) for t in texts], [{}] * len(texts))
    features = Features(FeatureSpec(encoder="off", morphology="ru=snowball"))
    X = features.fit_transform([normalise(t) for t in texts], [{}] * len(texts))
    assert features.sizes["stem"] > 0 and plain.sizes["stem"] == 0
    english = Features(FeatureSpec(encoder="off", morphology="ru=snowball"))
    english.fit_transform(["vpn is down", "password reset", "vpn again", "new password"], [{}] * 4)
    assert english.stem is None and english.sizes["stem"] == 0  # nothing Russian: no block
    assert english.transform(["пароль vpn"], None).shape[1] == sum(english.sizes.values())
    assert X.shape[1] == features.count_columns == sum(features.sizes.values())
    assert "парол" in set(features.names)
    new = ["Пароля не помню", "VPN отключился"]
    batch = features.transform([normalise(t) for t in new * 10], None).toarray()[:2]
    one = features.transform([normalise(t) for t in new], None).toarray()
    assert np.allclose(batch, one, atol=1e-6)
    # "пароля" is a new word form; its stem is known, so the stem block sees it
    stem_cols = slice(features.sizes["word"] + features.sizes["char"], features.count_columns)
    assert one[0, stem_cols].any()


def test_few_examples_a_class_keep_terms_seen_once() -> None:
    from classifier.dataset import Dataset
    from classifier.training import TrainConfig, fit_model

    texts = [f"заявка {i} номер {w}" for i, w in enumerate(["альфа", "бета"] * 2600)]
    labels = ["a", "b"] * 2600  # 5,200 rows: above small_data, but 2,600 a class
    data = Dataset(texts=texts, labels=labels, extras=[{}] * len(texts))
    spec = FeatureSpec(encoder="off", few_per_class=3000)
    model, _info, _v = fit_model(data, {"a": "t", "b": "t"}, TrainConfig(features=spec))
    assert model.features.word is not None and model.features.word.min_df == 1
    spec = FeatureSpec(encoder="off", few_per_class=100)
    model, _info, _v = fit_model(data, {"a": "t", "b": "t"}, TrainConfig(features=spec))
    assert model.features.word is not None and model.features.word.min_df == 2


def test_auto_leaves_the_english_encoder_out_of_all_russian_data() -> None:
    russian = ["забыл пароль от почты", "не работает впн дома", "нужен отпуск"] * 4
    features = Features(FeatureSpec(encoder="auto"))
    features.fit_transform([normalise(t) for t in russian], [{}] * len(russian), russian)
    assert not features.uses_encoder
    mixed = [*russian[:9], "vpn is down", "password reset", "book a room"]
    features = Features(FeatureSpec(encoder="auto"))
    features.fit_transform([normalise(t) for t in mixed], [{}] * len(mixed), mixed)
    assert features.uses_encoder  # bilingual data (the seed set) keeps it
