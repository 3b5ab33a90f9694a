"""A pool of long-lived action workers (Deno processes).

Each worker runs one flow at a time; a flow that outlives its deadline, a worker that
runs out of memory or dies any other way is killed and replaced, and only that flow
fails. Workers start warm, so an execution never waits for a process to spawn unless
the previous one on that slot died.

Threads call :meth:`WorkerPool.run`; the event loop awaits :meth:`WorkerPool.arun`, which
talks to the worker's pipes from the loop itself (no thread per execution).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import select
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionsd import jsontext
from actionsd.runtime.network import deny_list

log = logging.getLogger("actionsd.runtime")
WORKER_SCRIPT = Path(__file__).with_name("worker.cjs")
RUNTIME_DIR = Path(__file__).parent
BOOT_GRACE = 15.0  # seconds: realm start-up (worker.cjs allows 10) and the reply
# What a pipe holds at most by default. os.read allocates the size it is asked for, so a
# larger size costs every reply more and never reads more at once (docs/benchmarks.md).
READ_SIZE = 1 << 16


class WorkerFailure(Exception):
    """The worker could not give an answer: deadline, crash or memory limit."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def deno_executable() -> str:
    configured = os.environ.get("ACTIONSD_DENO")
    if configured:
        return configured
    try:
        from deno._find_deno import find_deno_bin

        return str(find_deno_bin())
    except (ImportError, FileNotFoundError):
        return "deno"


@dataclass(frozen=True)
class Sandbox:
    readable: tuple[Path, ...]  # the folder under which each version's dependencies live
    network: str  # internet | public | off (runtime/network.py)
    memory_mb: int  # V8 heap of each realm
    rss_mb: int  # the whole worker process, ArrayBuffers included
    max_realms: int  # action versions kept warm per worker process
    deno_dir: Path
    server_ports: tuple[int, ...] = ()

    def argv(self) -> list[str]:
        reads = [str(RUNTIME_DIR), *(str(p) for p in self.readable)]
        argv = [
            deno_executable(),
            "run",
            "--no-prompt",
            "--no-config",
            "--no-lock",
            "--unstable-worker-options",
            f"--allow-read={','.join(reads)}",
            f"--v8-flags=--max-old-space-size={self.memory_mb}",
        ]
        if self.network != "off":
            argv.append("--allow-net")
            argv.append(f"--deny-net={','.join(deny_list(self.network, list(self.server_ports)))}")
        config = {
            "network": self.network != "off",
            "rss_mb": self.rss_mb,
            "max_realms": self.max_realms,
        }
        return [*argv, str(WORKER_SCRIPT), json.dumps(config)]

    def env(self) -> dict[str, str]:
        # Nothing of the server's environment reaches action code.
        return {"DENO_DIR": str(self.deno_dir), "DENO_NO_UPDATE_CHECK": "1", "NO_COLOR": "1"}


def worker_cores() -> list[int]:
    """The cores a server process's workers are pinned to: the upper half of those it may
    use (at least one), leaving the rest to the server's own threads; none with one core."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return []
    return allowed[len(allowed) // 2 :] if len(allowed) > 1 else []


def _pin(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` onto ``cpu``; threads it starts later inherit it."""
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setaffinity(int(task), {cpu})


class Worker:
    def __init__(self, sandbox: Sandbox, cpu: int | None = None) -> None:
        self.sandbox = sandbox
        self.cpu = cpu
        # A file, not a pipe: a chatty worker can never block on a full stderr pipe.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as the worker
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            sandbox.argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=sandbox.env(),
            cwd=str(RUNTIME_DIR),
        )
        assert self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._out, False)  # the event loop reads it without blocking
        self._buffer = b""
        self._seq = 0
        self.loaded: set[str] = set()  # version ids whose code this worker has compiled
        hello = self._read(time.monotonic() + 30)
        if not hello.get("ready"):
            raise WorkerFailure("start", f"worker did not start: {hello}")
        self.engine = str(hello.get("engine"))
        if cpu is not None:
            # A worker's threads take turns (each hand-off to a realm waits for its
            # answer): on one core a hand-off is a switch, not a wake-up of another core.
            _pin(self.proc.pid, cpu)
        self.start_ms = (time.perf_counter() - started) * 1000

    def _take_chunk(self, chunks: list[bytes]) -> dict[str, Any] | None:
        """Read what the pipe holds into ``chunks``; the reply once its line is complete."""
        try:
            chunk = os.read(self._out, READ_SIZE)
        except BlockingIOError:
            return None
        if not chunk:
            raise self._death()
        chunks.append(chunk)
        # Only the new chunk is searched: a reply of many MB is read in linear time.
        if b"\n" not in chunk:
            return None
        data = b"".join(chunks)
        newline = data.index(b"\n", len(data) - len(chunk))
        line, self._buffer = data[:newline], data[newline + 1 :]
        chunks.clear()
        try:
            reply: dict[str, Any] = jsontext.loads(line)
        except ValueError:  # say, nested deeper than the parser goes: the flow fails
            failure = "The action worker's answer could not be read"
            raise WorkerFailure("protocol", failure) from None
        return reply

    def _read(self, deadline: float) -> dict[str, Any]:
        chunks = [self._buffer]
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerFailure("timeout", "Script execution time exceeded")
            ready, _, _ = select.select([self._out], [], [], remaining)
            if ready and (reply := self._take_chunk(chunks)) is not None:
                return reply

    async def _aread(self, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[dict[str, Any]] = loop.create_future()
        chunks = [self._buffer]

        def readable() -> None:
            if done.done():  # expired meanwhile
                return
            try:
                reply = self._take_chunk(chunks)
            except WorkerFailure as failure:
                done.set_exception(failure)
                return
            if reply is not None:
                done.set_result(reply)

        def expired() -> None:
            if not done.done():
                done.set_exception(WorkerFailure("timeout", "Script execution time exceeded"))

        # A timer of the loop's own: asyncio.wait_for costs a task and more per login.
        timer = loop.call_later(timeout, expired)
        loop.add_reader(self._out, readable)
        try:
            return await done
        finally:
            loop.remove_reader(self._out)
            timer.cancel()

    def _death(self) -> WorkerFailure:
        code = self.proc.wait(timeout=5)
        self.stderr.seek(0)
        tail = self.stderr.read()[-2000:].decode("utf-8", "replace")
        if ("heap" in tail.lower() and "memory" in tail.lower()) or code in (-6, -9, 134, 133, 137):
            return WorkerFailure("memory", "The action exceeded its memory limit")
        return WorkerFailure("crash", f"The action worker stopped unexpectedly (exit {code})")

    def _send(self, message: dict[str, Any]) -> None:
        # The protocol realm reads its input at once, so this never waits on a full pipe
        # for longer than the worker takes to read it.
        assert self.proc.stdin is not None
        self._seq += 1
        message = {**message, "id": self._seq}
        try:
            self.proc.stdin.write(jsontext.dumps(message) + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._death() from None

    def _check(self, reply: dict[str, Any]) -> dict[str, Any]:
        if reply.get("id") != self._seq:
            raise WorkerFailure("protocol", "the worker answered out of turn")
        return reply

    def call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._send(message)
        return self._check(self._read(time.monotonic() + timeout))

    async def acall(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._send(message)
        return self._check(await self._aread(timeout))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                # A request the dead worker never read is still in stdin's buffer: the
                # flush before the close fails, and the pipe is closed all the same.
                with contextlib.suppress(OSError):
                    stream.close()
        self.stderr.close()


class PoolBusy(Exception):
    """Every worker is busy and the queue of waiting executions is full."""


class _Waiter:
    """An execution waiting for a worker: a thread (an event) or a task (a future)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.worker: Worker | None = None
        self.loop = loop
        # One or the other: a task never waits on a thread's event, which costs a
        # lock and a condition to make.
        self.event = threading.Event() if loop is None else None
        self.future: asyncio.Future[Worker] | None = loop.create_future() if loop else None

    def deliver(self, worker: Worker) -> None:
        self.worker = worker
        if self.event is not None:
            self.event.set()
        else:
            assert self.loop is not None and self.future is not None
            if _running_loop() is self.loop:
                # An execute on the loop hands its worker on: the thread-safe call would
                # write to the loop's self-pipe and wake it, for every login that queued
                # for a worker (docs/benchmarks.md).
                self.future.set_result(worker)
            else:
                self.loop.call_soon_threadsafe(self.future.set_result, worker)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a thread without a loop
        return None


class WorkerPool:
    """``size`` workers; at most ``queue_limit`` executions wait for one, each at most
    ``wait_seconds``; beyond that :class:`PoolBusy`. A freed worker goes straight to the
    longest waiting execution, thread or task."""

    def __init__(
        self,
        sandbox: Sandbox,
        size: int,
        queue_limit: int = 64,
        wait_seconds: float = 20.0,
        cores: Sequence[int] = (),
    ) -> None:
        self.sandbox = sandbox
        self.size = size
        self.queue_limit = queue_limit
        self.wait_seconds = wait_seconds
        self._idle: list[Worker] = []  # the last one freed is the warmest
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._lock = threading.Lock()
        self._all: list[Worker] = []
        self._closed = False
        for slot in range(size):
            self._add(cores[slot % len(cores)] if cores else None)

    def _add(self, cpu: int | None) -> None:
        worker = Worker(self.sandbox, cpu)
        with self._lock:
            self._all.append(worker)
        self._give(worker)

    def _give(self, worker: Worker) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().deliver(worker)
            else:
                self._idle.append(worker)

    def _retire(self, worker: Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        if not self._closed:
            try:
                self._add(worker.cpu)  # the slot keeps its core
            except Exception:  # the slot is refilled by the next successful spawn
                log.exception("could not start a replacement worker")

    def _idle_or_wait(self, loop: asyncio.AbstractEventLoop | None) -> Worker | _Waiter:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if len(self._waiters) >= self.queue_limit:
                raise PoolBusy("every action worker is busy and the queue is full")
            waiter = _Waiter(loop)
            self._waiters.append(waiter)
            return waiter

    def _gave_up(self, waiter: _Waiter) -> bool:
        """True if ``waiter`` left the queue before a worker was handed to it."""
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return True
            return False

    def _take(self) -> Worker:
        got = self._idle_or_wait(None)
        if isinstance(got, Worker):
            return got
        event = got.event
        assert event is not None
        if not event.wait(self.wait_seconds) and self._gave_up(got):
            raise PoolBusy("no action worker became free in time")
        event.wait()
        assert got.worker is not None
        return got.worker

    async def _atake(self) -> Worker:
        loop = asyncio.get_running_loop()
        got = self._idle_or_wait(loop)
        if isinstance(got, Worker):
            return got
        future = got.future
        assert future is not None

        def expired() -> None:
            if self._gave_up(got):
                future.set_exception(PoolBusy("no action worker became free in time"))

        def pass_on(handed: asyncio.Future[Worker]) -> None:
            if handed.exception() is None:
                self._give(handed.result())

        # A timer of the loop's own, as in Worker._aread: asyncio.wait_for costs more.
        timer = loop.call_later(self.wait_seconds, expired)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not self._gave_up(got):  # handed over as we left: pass it on
                future.add_done_callback(pass_on)
            raise
        finally:
            timer.cancel()

    def run(self, message: dict[str, Any], timeout: float, code: dict[str, str]) -> dict[str, Any]:
        """Send ``message`` to an idle worker. ``code`` maps version ids to source; only
        the versions the chosen worker has not compiled yet travel with the message.
        The worker enforces ``timeout`` itself (realm start-up excluded, at most
        BOOT_GRACE); a worker silent for longer is killed."""
        worker = self._take()
        try:
            reply = worker.call(self._with_code(message, code, worker.loaded), timeout + BOOT_GRACE)
            if not reply.get("ok") and reply.get("reload"):
                reply = worker.call(self._with_code(message, code, set()), timeout + BOOT_GRACE)
            worker.loaded.update(code)
        except BaseException:
            self._retire(worker)
            raise
        self._release(worker, reply)
        return reply

    async def arun(
        self, message: dict[str, Any], timeout: float, code: dict[str, str]
    ) -> dict[str, Any]:
        """:meth:`run` on the event loop; replacing a worker runs in a thread."""
        worker = await self._atake()
        try:
            reply = await worker.acall(
                self._with_code(message, code, worker.loaded), timeout + BOOT_GRACE
            )
            if not reply.get("ok") and reply.get("reload"):
                reply = await worker.acall(
                    self._with_code(message, code, set()), timeout + BOOT_GRACE
                )
            worker.loaded.update(code)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self._retire, worker))
            raise
        if reply.get("recycle"):
            await asyncio.to_thread(self._retire, worker)
        else:
            self._give(worker)
        return reply

    def _release(self, worker: Worker, reply: dict[str, Any]) -> None:
        if reply.get("recycle"):
            self._retire(worker)  # its memory is above the limit: a fresh process
        else:
            self._give(worker)

    @staticmethod
    def _with_code(
        message: dict[str, Any], code: dict[str, str], loaded: set[str]
    ) -> dict[str, Any]:
        missing = [v for v in code if v not in loaded]
        if not missing or "actions" not in message:
            return message
        actions = [
            {**a, "code": code[a["version_id"]]} if a["version_id"] in missing else a
            for a in message["actions"]
        ]
        return {**message, "actions": actions}

    def alive_count(self) -> int:
        with self._lock:
            return sum(1 for w in self._all if w.alive())

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.kill()
