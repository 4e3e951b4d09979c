"""Clocks and load generators: serial timed calls, and a closed-loop async load at a concurrency.

Closed loop (each worker sends its next request when the previous one is answered) measures what
a fixed number of busy clients see; it cannot overload the server, so latency and throughput are
both meaningful at every concurrency. Every loop is bounded by a request count and a time cap.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def now() -> float:
    return time.perf_counter()


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


@dataclass
class SerialRun(Generic[R]):
    """Latencies (ms) of calls made one after another, their results, and the wall time."""

    latencies_ms: list[float] = field(default_factory=list)
    results: list[R] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s > 0 else float("nan")


def time_serial(call: Callable[[T], R], inputs: Sequence[T]) -> SerialRun[R]:
    """Call once per input, in order, timing each call."""
    run: SerialRun[R] = SerialRun()
    started = now()
    for item in inputs:
        t0 = now()
        result = call(item)
        run.latencies_ms.append(elapsed_ms(t0))
        run.results.append(result)
    run.wall_s = time.perf_counter() - started
    return run


@dataclass
class LoadRun:
    """What a closed-loop load saw: latency of every successful request, errors, wall time."""

    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    wall_s: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s > 0 else float("nan")


async def closed_loop(
    make_call: Callable[[], Awaitable[None]],
    *,
    concurrency: int,
    requests: int,
    max_seconds: float,
    warmup: int = 0,
) -> LoadRun:
    """`concurrency` workers share `requests` calls; stop early after `max_seconds`.

    `warmup` calls are made first at the same concurrency and not recorded (connections opened,
    caches filled). A call that raises counts as an error, and its time is not recorded.
    """
    if warmup:
        await closed_loop(
            make_call, concurrency=concurrency, requests=warmup, max_seconds=max_seconds
        )
    run = LoadRun(concurrency=concurrency)
    remaining = requests
    started = now()
    deadline = started + max_seconds

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and now() < deadline:
            remaining -= 1
            t0 = now()
            try:
                await make_call()
            except Exception as error:  # counted and reported below, not hidden
                run.errors += 1
                if run.first_error is None:
                    run.first_error = f"{type(error).__name__}: {error}"[:300]
                continue
            run.latencies_ms.append(elapsed_ms(t0))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    run.wall_s = time.perf_counter() - started
    return run
