"""Registry: versions, activation, rollback, hot reload, atomic registration."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from classifier.errors import RegistryError
from classifier.model import OknoModel
from classifier.registry import ModelRegistry


def _registry(tmp_path: Path) -> ModelRegistry:
    path = tmp_path / "models"
    path.mkdir()
    return ModelRegistry(path, check_interval=0.0)


def test_reading_creates_nothing(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path / "absent")
    assert reg.active() is None
    assert reg.versions() == []
    assert not (tmp_path / "absent").exists()
    with pytest.raises(RegistryError, match="does not exist"):
        reg.require()


def test_register_promote_rollback(tmp_path: Path, trained: OknoModel) -> None:
    reg = _registry(tmp_path)
    first = reg.register(trained, {"note": "one"})
    second = reg.register(trained, {"note": "two"})
    assert reg.versions() == sorted([first, second])
    assert reg.metadata(first)["version"] == first
    assert reg.metadata(first)["sizes"]["model_file_bytes"] > 0
    assert reg.active() is None
    reg.promote(first)
    reg.promote(second)
    active = reg.active()
    assert active is not None and active.version == second
    assert reg.rollback() == first
    assert reg.active_version() == first
    with pytest.raises(RegistryError, match="roll back"):
        reg.rollback()
    with pytest.raises(RegistryError, match="no model version"):
        reg.promote("nope")


def test_hot_reload_in_the_same_process(tmp_path: Path, trained: OknoModel) -> None:
    reg = _registry(tmp_path)
    first, second = reg.register(trained, {}), reg.register(trained, {})
    reg.promote(first)
    worker_view = ModelRegistry(reg.path, check_interval=0.0)
    model = worker_view.active()
    assert model is not None and model.version == first
    assert model.predict("забыл пароль").model_version == first
    assert worker_view.active() is model  # cached, not reloaded
    ModelRegistry(reg.path).promote(second)  # e.g. the CLI in another process
    reloaded = worker_view.active()
    assert reloaded is not None and reloaded.version == second
    assert reloaded.predict("забыл пароль").model_version == second


def test_pointer_is_checked_at_most_every_interval(tmp_path: Path, trained: OknoModel) -> None:
    reg = _registry(tmp_path)
    first, second = reg.register(trained, {}), reg.register(trained, {})
    reg.promote(first)
    slow = ModelRegistry(reg.path, check_interval=3600)
    assert slow.active().version == first  # type: ignore[union-attr]
    reg.promote(second)
    assert slow.active().version == first  # type: ignore[union-attr]


def test_failed_registration_leaves_nothing(
    tmp_path: Path, trained: OknoModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = _registry(tmp_path)

    def broken_dump(obj: object, path: Path, **kw: object) -> None:
        Path(path).write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(joblib, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        reg.register(trained, {})
    assert reg.versions() == []
    assert [p.name for p in reg.path.iterdir() if p.name != ".lock"] in ([], ["versions"])


def test_a_broken_new_version_does_not_stop_a_worker(tmp_path: Path, trained: OknoModel) -> None:
    reg = _registry(tmp_path)
    good, broken = reg.register(trained, {}), reg.register(trained, {})
    (reg.path / "versions" / broken / "model.joblib").write_bytes(b"not a model")
    reg.promote(good)
    assert reg.active().version == good  # type: ignore[union-attr]
    reg.promote(broken)
    assert reg.active().version == good  # type: ignore[union-attr]
    with pytest.raises(Exception):  # noqa: B017 - whatever unpickling raises
        ModelRegistry(reg.path).active()
