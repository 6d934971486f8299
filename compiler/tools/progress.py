"""A progress line on a terminal for long work (compile, export, import, check).

``with progress("compiling resnet152") as p: p.stage("building modules")`` shows
``compiling resnet152: building modules (12s)`` on stderr, rewritten in place while the work runs
(a thread ticks the seconds) and erased at the end, so that what the command prints afterwards
starts on a clean line. Only when stderr is a terminal: piped or redirected output gets no progress
line, and so do tests and scripts. ``NETC_PROGRESS=0`` turns it off, ``NETC_PROGRESS=1`` forces it
on (for a terminal that does not say it is one).
"""
from __future__ import annotations

import os
import sys
import threading
import time

#: seconds before the first line shows: quick work prints nothing
DELAY = 0.5
TICK = 0.25


def enabled(stream=None) -> bool:
    flag = os.environ.get("NETC_PROGRESS", "")
    if flag in ("0", "1"):
        return flag == "1"
    stream = stream if stream is not None else sys.stderr
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class Progress:
    """The progress line of one piece of work; ``stage(text)`` names the step it is in."""

    def __init__(self, what: str, stream=None, delay: float | None = None):
        self.what, self.text = what, ""
        self.stream = stream if stream is not None else sys.stderr
        self.on = enabled(self.stream)
        self.delay = _delay() if delay is None else delay
        self.start = time.monotonic()
        self.shown = False
        self.active = True             # False after clear(), until the next stage
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Progress":
        if self.on:
            self._thread = threading.Thread(target=self._tick, name="netc-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def stage(self, text: str) -> None:
        self.text, self.active = text, True
        if self.on and time.monotonic() - self.start >= self.delay:
            self._draw()

    def clear(self) -> None:
        """Erase the line before printing something else (the next ``stage`` shows it again)."""
        with self._lock:
            self.active = False
            if self.shown:
                self._write("\r\033[K")
                self.shown = False

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        with self._lock:
            self.active = False
            if self.shown:
                self._write("\r\033[K")
                self.shown = False

    def _tick(self) -> None:
        if self._stop.wait(self.delay):
            return
        while True:
            self._draw()
            if self._stop.wait(TICK):
                return

    def _draw(self) -> None:
        secs = int(time.monotonic() - self.start)
        line = f"{self.what}: {self.text}" if self.text else self.what
        line += f" ({secs}s)" if secs else ""
        with self._lock:
            if self.active and self.on:
                self._write("\r\033[K" + line[: _width() - 1])
                self.shown = True

    def _write(self, s: str) -> None:
        try:
            self.stream.write(s)
            self.stream.flush()
        except (OSError, ValueError):
            self.on = False


def _delay() -> float:
    try:
        return max(0.0, float(os.environ.get("NETC_PROGRESS_DELAY", DELAY)))
    except ValueError:
        return DELAY


def _width() -> int:
    import shutil
    return max(20, shutil.get_terminal_size((80, 24)).columns)


def progress(what: str, stream=None) -> Progress:
    return Progress(what, stream)
