"""`kb-embedder` as a real process on a unix socket, and SharedEmbedder, the edge's client.

One model for the API and the MCP server: their requests arrive on separate connections, meet in
one scheduler, and each caller gets exactly its own texts' vectors back.
"""

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from knowledge_core.embeddings.base import EmbedderOverloaded
from knowledge_core.embeddings.local import LocalEmbedder
from knowledge_core.embeddings.shared import SharedEmbedder
from knowledge_core.embeddings.wire import HEADER, answers
from knowledge_core.errors import Unavailable
from knowledge_core.settings import EmbedderSettings
from local_stack.processes import wait_until

REPO = Path(__file__).resolve().parents[2]


def _start(url: str, cache: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "knowledge_core.embeddings.service", "--listen", url],
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "MODEL_CACHE_DIR": str(cache),
            "LOCAL_EMBEDDING_PRECISION": "float32",
            **env,
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: answers(url), timeout=120, what="kb-embedder", log=log)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, models: Path) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("embedder")
    url = f"unix://{folder / 'embedder.sock'}"
    process = _start(url, models, folder / "embedder.log")
    yield url
    _stop(process)


def _in_process(models: Path, texts: list[str]) -> np.ndarray:
    settings = EmbedderSettings(local_embedding_precision="float32", model_cache_dir=models)
    embedder = LocalEmbedder(settings)

    async def run() -> np.ndarray:
        try:
            return await embedder.embed_array(texts)
        finally:
            await embedder.aclose()

    return asyncio.run(run())


def test_two_clients_get_their_own_vectors_from_one_model(service: str, models: Path) -> None:
    texts = [f"question {i} about rotating keys" for i in range(12)]
    expected = _in_process(models, texts)

    async def scenario() -> list[list[list[float]]]:
        api, mcp = SharedEmbedder(service, timeout=30), SharedEmbedder(service, timeout=30)
        try:
            return await asyncio.gather(
                *(
                    (api if i % 2 else mcp).embed([text], kind="query")
                    for i, text in enumerate(texts)
                ),
                api.embed(texts[:5]),  # an ingest batch among the queries
            )
        finally:
            await api.aclose()
            await mcp.aclose()

    *singles, batch = asyncio.run(scenario())
    got = np.array([vectors[0] for vectors in singles])
    assert np.allclose(got, expected, atol=1e-5)
    assert np.allclose(np.array(batch), expected[:5], atol=1e-5)


def test_past_its_bound_the_embedder_says_overloaded(tmp_path: Path, models: Path) -> None:
    url = f"unix://{tmp_path / 'small.sock'}"
    process = _start(url, models, tmp_path / "small.log", EMBEDDER_MAX_PENDING="8")
    passage = "a passage of some length to keep the model busy for a while. " * 12

    async def scenario() -> list[object]:
        client = SharedEmbedder(url, timeout=60)
        try:
            return await asyncio.gather(
                *(client.embed([passage] * 8) for _ in range(6)), return_exceptions=True
            )
        finally:
            await client.aclose()

    try:
        outcomes = asyncio.run(scenario())
    finally:
        _stop(process)
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    assert served, "the first request fits the bound and is served"
    assert refused, "six requests of eight texts cannot all wait behind a bound of eight"
    assert all(isinstance(o, EmbedderOverloaded) and o.retry_after == 1 for o in refused)


def test_a_stopped_embedder_is_unavailable_and_a_restarted_one_serves_again(
    tmp_path: Path, models: Path
) -> None:
    url = f"unix://{tmp_path / 'restart.sock'}"
    log = tmp_path / "restart.log"

    async def ask(client: SharedEmbedder) -> list[list[float]]:
        return await client.embed(["still there?"], kind="query")

    async def scenario() -> None:
        client = SharedEmbedder(url, timeout=30)
        with pytest.raises(Unavailable) as down:
            await ask(client)  # nothing listens yet
        assert down.value.service == "embedder" and down.value.status == 503
        process = _start(url, models, log)
        try:
            assert len((await ask(client))[0]) == 384
        finally:
            _stop(process)
        with pytest.raises(Unavailable):
            await ask(client)  # the connection it held is gone
        process = _start(url, models, log)
        try:
            assert len((await ask(client))[0]) == 384  # reconnects by itself
        finally:
            _stop(process)
            await client.aclose()

    asyncio.run(scenario())


def test_garbage_on_one_connection_does_not_disturb_the_others(service: str) -> None:
    path = service.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX) as rogue:
        rogue.settimeout(5)
        rogue.connect(path)
        rogue.sendall(HEADER.pack(2**31, 1, 0))  # a frame far over the limit
        assert rogue.recv(1) == b""  # the embedder hung up on it

    with socket.socket(socket.AF_UNIX) as rogue:
        rogue.settimeout(5)
        rogue.connect(path)
        rogue.sendall(HEADER.pack(5, 7, 0) + b"nope!")  # not a JSON list of texts
        length, request_id, status = HEADER.unpack(rogue.recv(HEADER.size))
        assert (request_id, status) == (7, 2)
        assert rogue.recv(length) == b"a request is a JSON list of strings"

    async def scenario() -> list[list[float]]:
        client = SharedEmbedder(service, timeout=30)
        try:
            return await client.embed(["fine"], kind="query")
        finally:
            await client.aclose()

    assert len(asyncio.run(scenario())[0]) == 384
