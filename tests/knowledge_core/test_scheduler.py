"""The embedding scheduler's rules, with a stand-in model (this unit has no I/O of its own).

The stand-in records each call's texts and can be held busy, which is how "while the model is
working, these requests arrive" is arranged without timing anything.
"""

import asyncio
import threading

import numpy as np
import pytest

from knowledge_core.embeddings.base import EmbedderOverloaded
from knowledge_core.embeddings.scheduler import EmbeddingScheduler
from knowledge_core.errors import Unavailable


class StandInModel:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = False
        self.steps: threading.Semaphore | None = None  # set: each call waits for one release

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.gate.wait(timeout=10)
        if self.steps is not None:
            self.steps.acquire(timeout=10)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model crashed")
        # Each text's "vector" carries its length, so answers can be traced to their texts.
        return np.array([[float(len(text))] * 4 for text in texts], dtype=np.float32)


async def _until(condition: object, what: str) -> None:
    for _ in range(1000):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def test_a_lone_query_is_embedded_alone_and_at_once() -> None:
    model = StandInModel()
    scheduler = EmbeddingScheduler(model.encode)

    async def scenario() -> None:
        vectors = await scheduler.embed(["hello"], "query")
        assert vectors.tolist() == [[5.0] * 4]
        assert model.calls == [["hello"]]
        await scheduler.aclose()

    asyncio.run(scenario())


def test_queries_that_wait_together_share_one_model_call() -> None:
    model = StandInModel()
    scheduler = EmbeddingScheduler(model.encode)

    async def scenario() -> None:
        model.gate.clear()
        first = asyncio.create_task(scheduler.embed(["busy"], "query"))
        await _until(lambda: len(model.calls) == 1, "the first call started")
        waiting = [asyncio.create_task(scheduler.embed(["q" * n], "query")) for n in range(1, 6)]
        await _until(lambda: scheduler.waiting_texts == 6, "five more queries queued")
        model.gate.set()
        await first
        answers = await asyncio.gather(*waiting)
        assert model.calls[1] == ["q", "qq", "qqq", "qqqq", "qqqqq"]  # one call, in order
        assert [a[0][0] for a in answers] == [1.0, 2.0, 3.0, 4.0, 5.0]  # each got its own row
        assert scheduler.waiting_texts == 0
        await scheduler.aclose()

    asyncio.run(scenario())


def test_queries_go_before_waiting_passages_which_run_in_pieces_round_robin() -> None:
    model = StandInModel()
    scheduler = EmbeddingScheduler(model.encode, passage_run=2)

    async def scenario() -> None:
        model.gate.clear()
        busy = asyncio.create_task(scheduler.embed(["busy"], "passage"))
        await _until(lambda: len(model.calls) == 1, "the model is busy")
        ingest_a = asyncio.create_task(scheduler.embed(["a1", "a2", "a3", "a4", "a5"], "passage"))
        ingest_b = asyncio.create_task(scheduler.embed(["b1", "b2"], "passage"))
        await _until(lambda: scheduler.waiting_texts == 8, "two ingests queued")
        search = asyncio.create_task(scheduler.embed(["search"], "query"))
        await _until(lambda: scheduler.waiting_texts == 9, "a search queued after them")
        model.gate.set()
        await asyncio.gather(busy, search)
        a, b = await asyncio.gather(ingest_a, ingest_b)
        assert model.calls[1:] == [
            ["search"],  # arrived last, served first
            ["a1", "a2"],
            ["b1", "b2"],  # the second ingest does not wait for all of the first
            ["a3", "a4"],
            ["a5"],
        ]
        assert a.shape == (5, 4) and b.shape == (2, 4)
        await scheduler.aclose()

    asyncio.run(scenario())


def test_past_the_bound_a_caller_is_refused_at_once_with_a_short_retry() -> None:
    model = StandInModel()
    scheduler = EmbeddingScheduler(model.encode, max_pending=3)

    async def scenario() -> None:
        model.gate.clear()
        held = asyncio.create_task(scheduler.embed(["one", "two", "three"], "passage"))
        await _until(lambda: len(model.calls) == 1, "the model is busy")
        with pytest.raises(EmbedderOverloaded) as refused:
            await scheduler.embed(["four"], "query")
        assert refused.value.status == 503 and refused.value.retry_after == 1
        model.gate.set()
        await held
        # Room again once the queue drained.
        assert (await scheduler.embed(["four"], "query")).shape == (1, 4)
        await scheduler.aclose()

    asyncio.run(scenario())


def test_a_caller_that_gave_up_costs_no_model_call() -> None:
    model = StandInModel()
    scheduler = EmbeddingScheduler(model.encode)

    async def scenario() -> None:
        model.gate.clear()
        busy = asyncio.create_task(scheduler.embed(["busy"], "query"))
        await _until(lambda: len(model.calls) == 1, "the model is busy")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(scheduler.embed(["abandoned"], "query"), 0.05)
        model.gate.set()
        await busy
        await scheduler.embed(["later"], "query")
        assert ["abandoned"] not in model.calls
        assert scheduler.waiting_texts == 0
        await scheduler.aclose()

    asyncio.run(scenario())


def test_a_model_failure_is_the_callers_503_and_the_scheduler_keeps_serving() -> None:
    model = StandInModel()
    scheduler = EmbeddingScheduler(model.encode)

    async def scenario() -> None:
        model.fail_next = True
        with pytest.raises(Unavailable) as failed:
            await scheduler.embed(["boom"], "passage")
        assert failed.value.service == "embedder" and "model crashed" in failed.value.message
        assert (await scheduler.embed(["fine"], "query")).shape == (1, 4)
        await scheduler.aclose()

    asyncio.run(scenario())


def test_a_stream_of_searches_cannot_starve_an_ingest() -> None:
    model = StandInModel()
    steps = model.steps = threading.Semaphore(0)
    scheduler = EmbeddingScheduler(model.encode, passage_run=2)

    async def step(expected_calls: int) -> None:
        steps.release()
        await _until(lambda: len(model.calls) == expected_calls, f"call {expected_calls}")

    async def scenario() -> None:
        first = asyncio.create_task(scheduler.embed(["q0"], "query"))
        await _until(lambda: len(model.calls) == 1, "the first search runs")
        ingest = asyncio.create_task(scheduler.embed(["a1", "a2", "a3", "a4"], "passage"))
        searches = [asyncio.create_task(scheduler.embed(["q1"], "query"))]
        await _until(lambda: scheduler.waiting_texts == 6, "an ingest and a search wait")
        await step(2)  # q0 done: a search batch ran last, so the ingest gets the next turn
        assert model.calls[1] == ["a1", "a2"]
        searches.append(asyncio.create_task(scheduler.embed(["q2"], "query")))
        await _until(lambda: scheduler.waiting_texts == 6, "another search arrives")
        await step(3)  # then every waiting search, in one call
        assert model.calls[2] == ["q1", "q2"]
        await step(4)  # and the ingest's next piece
        assert model.calls[3] == ["a3", "a4"]
        steps.release()
        await asyncio.gather(first, ingest, *searches)
        await scheduler.aclose()

    asyncio.run(scenario())


def test_one_passage_ingests_waiting_together_share_one_model_call() -> None:
    model = StandInModel()
    scheduler = EmbeddingScheduler(model.encode, passage_run=4)

    async def scenario() -> None:
        model.gate.clear()
        busy = asyncio.create_task(scheduler.embed(["busy"], "passage"))
        await _until(lambda: len(model.calls) == 1, "the model is busy")
        small = [asyncio.create_task(scheduler.embed([t], "passage")) for t in ("x", "yy", "zzz")]
        big = asyncio.create_task(scheduler.embed(["b1", "b2", "b3"], "passage"))
        await _until(lambda: scheduler.waiting_texts == 7, "four ingests wait")
        model.gate.set()
        await busy
        answers = await asyncio.gather(*small, big)
        assert model.calls[1:] == [["x", "yy", "zzz", "b1"], ["b2", "b3"]]
        assert [a[:, 0].tolist() for a in answers] == [[1.0], [2.0], [3.0], [2.0, 2.0, 2.0]]
        assert scheduler.waiting_texts == 0
        await scheduler.aclose()

    asyncio.run(scenario())
