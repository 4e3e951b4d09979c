"""One model, many callers: batching across requests, queries before passages, a bounded queue.

A CPU model is fastest when one thread feeds it batches and its own threads do the arithmetic;
twenty callers each running the model at once only fight over two cores. So every request joins
a queue and a single runner feeds the model:

- Queries first. Every query waiting when the model frees up goes into the next call together
  (natural batching: a lone query starts at once, never waits for company; under load, batches
  form by themselves while the model is busy).
- Passages in pieces of `passage_run` texts, taken round-robin from the waiting ingests (many
  one-passage ingests share a call), so a 300-page manual never stands between a search and
  the model for more than one piece. While both wait, query
  batches and passage pieces take turns: strict priority let a steady stream of searches starve
  every ingest (a 4 s p95 in the 50-client load test), one piece between batches costs a search
  at most one piece (four 1,000-character passages, about 0.1 s of CPU).
- A bound on waiting texts: past it the caller gets Unavailable (503 + Retry-After) at once
  rather than an unbounded wait.
"""

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from knowledge_core.embeddings.base import EmbedderOverloaded, Kind
from knowledge_core.errors import Unavailable

Encode = Callable[[list[str]], np.ndarray]
T = TypeVar("T")


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    done: int = 0  # passages: texts already embedded
    parts: list[np.ndarray] = field(default_factory=list)


class EmbeddingScheduler:
    def __init__(
        self,
        encode: Encode,
        *,
        max_pending: int = 512,
        query_run: int = 64,
        passage_run: int = 4,
    ) -> None:
        self._encode = encode
        self.max_pending = max_pending
        self.query_run = query_run
        self.passage_run = passage_run
        self._queries: deque[_Request] = deque()
        self._passages: deque[_Request] = deque()
        self._waiting_texts = 0
        self._wakeup = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="embedder")
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.calls = 0  # model calls so far, for the benchmark and tests
        self._passages_turn = False

    @property
    def waiting_texts(self) -> int:
        return self._waiting_texts

    async def run_in_model_thread(self, function: Callable[[], T]) -> T:
        """Work that must share the model's thread (loading it, for one)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, function)

    async def embed(self, texts: list[str], kind: Kind) -> np.ndarray:
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        if self._waiting_texts and self._waiting_texts + len(texts) > self.max_pending:
            raise EmbedderOverloaded(
                f"the embedder is overloaded ({self._waiting_texts} texts waiting)"
            )
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A new event loop (a script calling asyncio.run twice): the old loop's queue and
            # runner died with it; nothing of theirs can still be waited for.
            self._loop, self._wakeup, self._runner = loop, asyncio.Event(), None
            self._queries.clear()
            self._passages.clear()
            self._waiting_texts = 0
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name="embedding-scheduler")
        request = _Request(list(texts), loop.create_future())
        (self._queries if kind == "query" else self._passages).append(request)
        self._waiting_texts += len(texts)
        self._wakeup.set()
        return await request.future

    async def _run(self) -> None:
        while True:
            if not self._queries and not self._passages:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self._queries and not (self._passages and self._passages_turn):
                await self._run_queries()
                self._passages_turn = True
            else:
                await self._run_passage_piece()
                self._passages_turn = False

    async def _call_model(self, texts: list[str]) -> np.ndarray | BaseException:
        self.calls += 1
        try:
            return await self.run_in_model_thread(lambda: self._encode(texts))
        except Exception as error:  # the model failing is the callers' 503, not the runner's end
            return error

    async def _run_queries(self) -> None:
        batch: list[_Request] = []
        size = 0
        while self._queries and (not batch or size + len(self._queries[0].texts) <= self.query_run):
            request = self._queries.popleft()
            if request.future.done():  # the caller gave up (timeout, disconnect)
                self._waiting_texts -= len(request.texts)
                continue
            batch.append(request)
            size += len(request.texts)
        if not batch:
            return
        result = await self._call_model([text for request in batch for text in request.texts])
        offset = 0
        for request in batch:
            count = len(request.texts)
            self._waiting_texts -= count
            if not request.future.done():
                if isinstance(result, BaseException):
                    request.future.set_exception(_unavailable(result))
                else:
                    request.future.set_result(result[offset : offset + count])
            offset += count

    async def _run_passage_piece(self) -> None:
        """Up to `passage_run` texts, from as many waiting ingests as it takes, in turn."""
        shares: list[tuple[_Request, int]] = []
        texts: list[str] = []
        while self._passages and len(texts) < self.passage_run:
            request = self._passages.popleft()
            if request.future.done():  # gave up, or an earlier piece failed
                self._waiting_texts -= len(request.texts) - request.done
                continue
            take = request.texts[request.done : request.done + self.passage_run - len(texts)]
            shares.append((request, len(take)))
            texts.extend(take)
        if not texts:
            return
        result = await self._call_model(texts)
        start = 0
        for request, count in shares:
            rows, start = slice(start, start + count), start + count
            self._waiting_texts -= count
            request.done += count
            if request.future.done() or isinstance(result, BaseException):
                self._waiting_texts -= len(request.texts) - request.done  # its rest leaves
                if isinstance(result, BaseException) and not request.future.done():
                    request.future.set_exception(_unavailable(result))
                continue
            request.parts.append(result[rows])
            if request.done < len(request.texts):
                self._passages.append(request)  # round-robin: back of the line for the rest
            else:
                request.future.set_result(np.concatenate(request.parts))

    async def aclose(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for request in (*self._queries, *self._passages):
            if not request.future.done():
                request.future.set_exception(Unavailable("shutting down", service="embedder"))
        self._queries.clear()
        self._passages.clear()
        self._waiting_texts = 0
        self._thread.shutdown(wait=False, cancel_futures=True)


def _unavailable(error: BaseException) -> Unavailable:
    if isinstance(error, Unavailable):
        return error
    return Unavailable(f"the local model failed: {error}", service="embedder")
