"""Model registry: a directory of versioned models, one of them active.

Layout::

    <root>/ACTIVE                          the active version id (one line)
    <root>/history.json                    promotion stack, for rollback
    <root>/versions/<id>/model.joblib      the OknoModel
    <root>/versions/<id>/metadata.json     version, data, sizes, libraries, thresholds, metrics
    <root>/versions/<id>/holdout.jsonl.gz  the held-back rows (champion/challenger default)

A version appears only by an atomic rename of a finished staging directory, and the ACTIVE
pointer is replaced atomically, so readers never see half of anything.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from classifier.dataset import Dataset
from classifier.errors import RegistryError
from classifier.model import ExtrasIn, OknoModel, Prediction

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
HOLDOUT_FILE = "holdout.jsonl.gz"


class LoadedModel:
    """A registered model with its metadata; what workers call predict on."""

    def __init__(self, model: OknoModel, metadata: dict[str, Any]) -> None:
        self.model = model
        self.metadata = metadata

    @property
    def version(self) -> str:
        return self.model.version

    def predict(self, text: str, extras: ExtrasIn = None) -> Prediction:
        return self.model.predict(text, extras)

    def predict_many(
        self, texts: Sequence[str], extras_list: Sequence[ExtrasIn] | None = None
    ) -> list[Prediction]:
        return self.model.predict_many(texts, extras_list)


def new_version_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ModelRegistry:
    """Versioned models under one directory; reading creates nothing."""

    def __init__(self, path: Path | str, *, check_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._cached: LoadedModel | None = None
        self._checked_at = 0.0

    # --- reading -------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.is_dir()

    def require(self) -> None:
        if not self.exists():
            raise RegistryError(f"model registry {self.path} does not exist")

    def versions(self) -> list[str]:
        root = self.path / "versions"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / METADATA_FILE).is_file())

    def version_dir(self, version: str) -> Path:
        path = self.path / "versions" / version
        if "/" in version or version.startswith(".") or not (path / METADATA_FILE).is_file():
            raise RegistryError(f"no model version {version!r} in {self.path}")
        return path

    def metadata(self, version: str) -> dict[str, Any]:
        return json.loads((self.version_dir(version) / METADATA_FILE).read_text(encoding="utf-8"))

    def active_version(self) -> str | None:
        try:
            return (self.path / "ACTIVE").read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def load(self, version: str) -> LoadedModel:
        path = self.version_dir(version)
        model = joblib.load(path / MODEL_FILE)
        if not isinstance(model, OknoModel):
            raise RegistryError(f"{path / MODEL_FILE} is not an Okno model")
        model.warm()
        return LoadedModel(model, self.metadata(version))

    def active(self) -> LoadedModel | None:
        """The active model, cached; re-reads the ACTIVE pointer at most every check_interval."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._checked_at < self.check_interval:
                return self._cached
            self._checked_at = now
            version = self.active_version()
            if version is None:
                self._cached = None
            elif self._cached is None or self._cached.version != version:
                self._cached = self._reload(version)
            return self._cached

    def _reload(self, version: str) -> LoadedModel:
        """Load a newly promoted version; if it is broken, keep serving the one we have."""
        try:
            return self.load(version)
        except Exception:
            if self._cached is None:
                raise
            log.exception("cannot load model %s; still serving %s", version, self._cached.version)
            return self._cached

    def holdout(self, version: str) -> Dataset | None:
        path = self.version_dir(version) / HOLDOUT_FILE
        if not path.is_file():
            return None
        data = Dataset(sources=[f"held-back rows of {version}"])
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                data.texts.append(row["text"])
                data.labels.append(row["label"])
                data.extras.append(row.get("extras") or {})
        return data

    # --- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        self.require()
        with open(self.path / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def register(
        self, model: OknoModel, metadata: dict[str, Any], holdout: Dataset | None = None
    ) -> str:
        """Write a new version through a staging directory renamed into place in one step."""
        self.require()
        version = new_version_id()
        model.version = version
        staging = self.path / f".staging-{version}"
        try:
            staging.mkdir(parents=True)
            joblib.dump(model, staging / MODEL_FILE, compress=3)
            meta = {"version": version, **metadata}
            meta.setdefault("sizes", {})["model_file_bytes"] = (staging / MODEL_FILE).stat().st_size
            if holdout is not None:
                _write_holdout(staging / HOLDOUT_FILE, holdout)
            (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False))
            (self.path / "versions").mkdir(exist_ok=True)
            os.rename(staging, self.path / "versions" / version)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return version

    def _stack(self) -> list[str]:
        try:
            return list(json.loads((self.path / "history.json").read_text())["stack"])
        except FileNotFoundError:
            return []

    def _set_active(self, stack: list[str], event: dict[str, Any]) -> None:
        history_path = self.path / "history.json"
        try:
            log = json.loads(history_path.read_text()).get("log", [])
        except FileNotFoundError:
            log = []
        log.append({**event, "at": datetime.now(UTC).isoformat(timespec="seconds")})
        _write_atomic(history_path, json.dumps({"stack": stack, "log": log}, indent=2))
        _write_atomic(self.path / "ACTIVE", stack[-1] + "\n")

    def promote(self, version: str) -> None:
        """Make version the active one; rollback returns to the one active before."""
        self.version_dir(version)
        with self._write_lock():
            stack = self._stack()
            current = self.active_version()
            if stack[-1:] != [current] and current:
                stack.append(current)  # ACTIVE was set by hand: remember it too
            if current == version:
                return
            self._set_active([*stack, version], {"promote": version, "previous": current})

    def rollback(self) -> str:
        """Re-activate the previously active version; returns it."""
        with self._write_lock():
            stack = self._stack()
            if len(stack) < 2:
                raise RegistryError("no earlier active version to roll back to")
            current = stack.pop()
            self._set_active(stack, {"rollback": current, "to": stack[-1]})
            return stack[-1]


def _write_holdout(path: Path, data: Dataset) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for text, label, extras in zip(data.texts, data.labels, data.extras, strict=True):
            row = {"text": text, "label": label, "extras": extras}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
