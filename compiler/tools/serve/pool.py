"""A small pool of worker processes, each request with a time and a memory budget.

Every worker is a fresh interpreter (``python -m netc.tools.serve.worker``: nothing shared with the
server, no re-import of the server's main module) that imports netc once, limits its own address
space (RLIMIT_AS) and leads its own session, so killing its process group also ends any ``dot`` it
started. Requests and answers are JSON lines on its stdin and stdout. A request that runs past its
time is answered with :class:`Budget` at once; its worker is killed and replaced in the background,
so the next request is answered. A worker that runs out of memory says so and is replaced the same
way; one that dies without an answer (killed from outside, a native crash) is reported as a crash
(:class:`Crashed`), never as "too much memory", since nothing says memory was the cause.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

READY_TIMEOUT = 60.0
MAX_ANSWER = 48 << 20         # bytes of one answer: a worker refuses to send more (netc.tools.serve.worker)
LINE_LIMIT = MAX_ANSWER + (1 << 20)     # the parent never buffers a longer line
EXIT_WAIT = 2.0               # seconds to wait for a worker that closed its stdout to exit


class Budget(Exception):
    """The request ran past its time or memory budget; the work was cancelled."""

    MESSAGES = {"memory": "this spec takes too much memory to check; the check was stopped",
                "size": "the answer for this spec is too large to send; the check was stopped"}

    def __init__(self, what: str, seconds: float | None = None):
        self.what = what          # "time", "memory" or "size"
        self.seconds = seconds
        super().__init__(f"this spec takes too long to check (over {seconds:g} s); the check was stopped"
                         if what == "time" else self.MESSAGES[what])


class Crashed(Exception):
    """The worker ended without answering (killed from outside, a crash): not a verdict on the spec."""

    def __init__(self, returncode: int | None):
        self.returncode = returncode
        how = ""
        if returncode is not None and returncode < 0:
            try:
                how = f" (killed by {signal.Signals(-returncode).name})"
            except ValueError:
                how = f" (killed by signal {-returncode})"
        elif returncode:
            how = f" (exit status {returncode})"
        super().__init__(f"the checker stopped unexpectedly{how}; a new one is starting, try again")


class Failed(Exception):
    """The worker raised an unexpected error (a bug in netc); the message says which."""


class Overloaded(Exception):
    """Too many requests are waiting already."""


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.served = 0

    @classmethod
    async def start(cls, memory: int | None) -> "_Worker":
        args = [sys.executable, "-m", "netc.tools.serve.worker"] + ([str(memory)] if memory else [])
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=None,
                                                    start_new_session=True, limit=LINE_LIMIT, env=env)
        return cls(proc)

    async def ask(self, request: dict) -> tuple[str, object]:
        self.proc.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise EOFError("the worker ended")
        if not line.endswith(b"\n"):
            raise EOFError("the worker ended mid-answer")
        kind, value = json.loads(line)
        return kind, value

    async def exit_status(self) -> int | None:
        """The worker's exit status once it has ended (None if it is still running after a moment)."""
        try:
            return await asyncio.wait_for(self.proc.wait(), EXIT_WAIT)
        except asyncio.TimeoutError:
            return None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        try:
            self.proc.kill()
        except (ProcessLookupError, OSError):
            pass

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None


class Pool:
    """``await pool.run(request)`` -> the worker's answer, within ``timeout`` seconds and ``memory`` bytes."""

    def __init__(self, size: int = 2, timeout: float = 3.0, memory: int | None = 2 << 30, max_waiting: int = 2000,
                 recycle_after: int = 1000):
        self.size, self.timeout, self.memory = max(1, size), timeout, memory
        self.max_waiting, self.recycle_after = max_waiting, recycle_after
        self._idle: asyncio.Queue | None = None
        self._all: set[_Worker] = set()
        self._waiting = 0
        self._closed = False
        self._tasks: set[asyncio.Task] = set()
        self._spawning = 0
        self.busy = 0                 # workers answering a request now
        self.stats = {"served": 0, "timeouts": 0, "memory": 0, "crashes": 0, "restarts": 0}

    async def start(self) -> None:
        if self._idle is None:
            self._idle = asyncio.Queue()
            self._spawning += self.size
            await asyncio.gather(*(self._spawn() for _ in range(self.size)))

    async def _spawn(self) -> None:
        """Start one worker (the caller has counted it in ``_spawning``)."""
        try:
            await self._spawn_one()
        finally:
            self._spawning -= 1

    async def _spawn_one(self) -> None:
        for _ in range(3):
            if self._closed:
                return
            w = await _Worker.start(self.memory)
            self._all.add(w)
            try:
                kind, _ = await asyncio.wait_for(w.ask({"op": "ping"}), READY_TIMEOUT)
            except (asyncio.TimeoutError, EOFError, ValueError, OSError):
                kind = None
            if kind == "ok" and not self._closed:
                self._idle.put_nowait(w)
                return
            self._discard(w)
        print("netc serve: a worker process would not start", file=sys.stderr)

    def _discard(self, w: _Worker) -> None:
        self._all.discard(w)
        w.kill()
        t = asyncio.get_running_loop().create_task(w.proc.wait())     # reap it
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _replace(self, w: _Worker) -> None:
        self._discard(w)
        self.stats["restarts"] += 1
        if not self._closed:
            self._spawning += 1
            t = asyncio.get_running_loop().create_task(self._spawn())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def run(self, request: dict, timeout: float | None = None):
        await self.start()
        if self._waiting >= self.max_waiting:
            raise Overloaded(f"{self._waiting} requests are waiting; try again")
        timeout = self.timeout if timeout is None else timeout
        if self._idle.empty() and not self._all and not self._spawning:
            raise Failed("no worker process could be started (see the server's log)")
        self._waiting += 1
        try:
            w = await asyncio.wait_for(self._idle.get(), READY_TIMEOUT + timeout)
        except asyncio.TimeoutError:
            raise Overloaded("no worker became free in time; try again") from None
        finally:
            self._waiting -= 1
        self.busy += 1
        try:
            return await self._ask(w, request, timeout)
        finally:
            self.busy -= 1

    async def _ask(self, w: _Worker, request: dict, timeout: float):
        try:
            kind, value = await asyncio.wait_for(w.ask(request), timeout)
        except asyncio.TimeoutError:
            self.stats["timeouts"] += 1
            self._replace(w)
            raise Budget("time", timeout) from None
        except ValueError:
            # a line over LINE_LIMIT (the worker refuses to send one; defence in depth) or not JSON
            self.stats["memory"] += 1
            self._replace(w)
            raise Budget("size") from None
        except (EOFError, OSError):
            # the worker ended without an answer: killed from outside or a native crash. A worker
            # out of memory answers "memory" itself (MemoryError under its RLIMIT_AS), so nothing
            # here says the spec was too big: say what happened.
            self.stats["crashes"] += 1
            try:
                status = await w.exit_status()
            finally:
                self._replace(w)
            raise Crashed(status) from None
        except BaseException:               # cancelled mid-request: the worker's state is unknown
            self._replace(w)
            raise
        w.served += 1
        self.stats["served"] += 1
        if kind in ("memory", "size"):
            self.stats["memory"] += 1
            self._replace(w)                 # its heap may be fragmented; start clean
            raise Budget(kind)
        if w.served >= self.recycle_after:
            self._replace(w)                 # bounded memory over a long session
        else:
            self._idle.put_nowait(w)
        if kind == "ok":
            return value
        if kind == "user":
            from netc.tools.serve.work import UserError
            raise UserError(value)
        raise Failed(value)

    async def close(self) -> None:
        self._closed = True
        for w in list(self._all):
            self._discard(w)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._all if w.alive]
