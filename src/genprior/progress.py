"""Progress reports: one switch for every loop of genprior that shows how far it is.

:func:`progress_bar` gives a tqdm bar when standard error is a terminal, a plain line such as ``csgm: 40/100 (12 s)``
at most every :data:`PERIOD` seconds when it is not (a log file, a pipe, a job scheduler), and nothing at all when
the loop's own ``progress`` option is off, when genprior is quiet (:func:`set_quiet`, the command line's
``--quiet``) or when the environment variable ``TQDM_DISABLE`` is set to a true value (``1``, ``true``, ``yes``).
:func:`write` prints a line between bars (epoch summaries) and :func:`say` an informational line of the command
line; both are silent when quiet. :func:`stop_when` makes every such loop of one thread stoppable from outside (the
web app's cancel button): its next step raises :class:`Cancelled`. A leaf module: it imports nothing of genprior.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

PERIOD = 10.0
"""Seconds between two plain progress lines (the environment variable ``GENPRIOR_PROGRESS_PERIOD`` overrides it)."""

_quiet = False
_now = time.monotonic  # the clock of the plain lines (a test may replace it)
_thread = threading.local()  # .stop: this thread's stop check (stop_when)


class Cancelled(Exception):
    """Raised at the next step of a progress loop once its thread's :func:`stop_when` check is true."""


@contextmanager
def stop_when(check: Callable[[], bool]) -> Iterator[None]:
    """Within the block, on this thread, every loop that reports through :func:`progress_bar` (the solvers' steps,
    restarts and image chunks) calls ``check()`` at each step and raises :class:`Cancelled` once it is true, so that a
    long solve stops within one step. The previous check (if any) is restored at the end."""
    previous = getattr(_thread, "stop", None)
    _thread.stop = check
    try:
        yield
    finally:
        _thread.stop = previous


def _check_stop() -> None:
    stop = getattr(_thread, "stop", None)
    if stop is not None and stop():
        raise Cancelled("cancelled")


def set_quiet(quiet: bool = True) -> None:
    """Silence (``quiet=True``) or restore every progress bar, plain progress line, :func:`write` and :func:`say`
    of this process. Results files and error messages are never silenced."""
    global _quiet
    _quiet = bool(quiet)


def is_quiet() -> bool:
    """Whether :func:`set_quiet` silenced progress reports."""
    return _quiet


def _env_disabled() -> bool:
    """``TQDM_DISABLE`` set to a true value (tqdm's own switch, honoured for the plain lines too)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no", "off")


def _period() -> float:
    text = os.environ.get("GENPRIOR_PROGRESS_PERIOD")
    if text:
        try:
            value = float(text)
        except ValueError:
            return PERIOD
        if value >= 0:
            return value
    return PERIOD


def _terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _format_count(n: float) -> str:
    return f"{n:g}" if isinstance(n, float) else str(n)


class PlainProgress:
    """What :func:`progress_bar` returns when there is no terminal: the part of tqdm's API genprior uses (iteration,
    ``update``, ``set_postfix``, ``set_description``, ``close``, ``write``, a context manager, ``n`` and ``total``),
    printing ``desc: n/total (t s)`` to standard error at most every ``period`` seconds (and once more at the end
    when a line was printed), or nothing when ``silent``."""

    def __init__(self, iterable: Iterable | None = None, *, total: float | None = None, desc: str = "",
                 leave: bool = True, silent: bool = False, period: float | None = None) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.leave = leave
        self.silent = silent
        self.period = _period() if period is None else float(period)
        self.n = 0
        self.postfix = ""
        self.start = self._last = _now()
        self._printed_n: float | None = None
        self.closed = False

    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise TypeError("this progress report has no iterable to go through")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self) -> str:
        """The plain line for the current state, such as ``csgm: 40/100 (12 s)``."""
        count = _format_count(self.n) + (f"/{_format_count(self.total)}" if self.total is not None else "")
        head = f"{self.desc}: " if self.desc else ""
        tail = f" {self.postfix}" if self.postfix else ""
        return f"{head}{count} ({_now() - self.start:.0f} s){tail}"

    def _emit(self) -> None:
        if self.silent or _quiet:
            return
        print(self.line(), file=sys.stderr, flush=True)
        self._printed_n = self.n
        self._last = _now()

    def update(self, n: float = 1) -> None:
        """Count ``n`` more steps; print a line when ``period`` seconds passed since the last one (or the start)."""
        _check_stop()
        self.n += n
        if not self.silent and _now() - self._last >= self.period:
            self._emit()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        """Show ``key=value`` pairs after the count on the next line (tqdm's ``set_postfix``)."""
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        """End the report: a last line when one was printed before and the count moved since (``leave`` only)."""
        if self.closed:
            return
        self.closed = True
        if self.leave and self._printed_n is not None and self._printed_n != self.n:
            self._emit()

    @staticmethod
    def write(text: str, file: TextIO | None = None, end: str = "\n") -> None:
        write(text, file=file, end=end)


def bars_shown(*, enabled: bool = True) -> bool:
    """Whether :func:`progress_bar` would give a tqdm bar: ``enabled``, not quiet, ``TQDM_DISABLE`` unset and standard
    error a terminal."""
    return enabled and not _quiet and not _env_disabled() and _terminal(sys.stderr)


def progress_bar(iterable: Iterable | None = None, *, total: float | None = None, desc: str = "", leave: bool = True,
             enabled: bool = True, period: float | None = None):
    """A progress report over ``iterable`` (or, without one, counted with ``update``) of ``total`` steps.

    A ``tqdm.auto.tqdm`` bar when :func:`bars_shown`; otherwise a :class:`PlainProgress` that prints a plain line
    at most every ``period`` seconds (default :data:`PERIOD`), silent when ``enabled`` is false, when quiet
    (:func:`set_quiet`) or when ``TQDM_DISABLE`` is set. Either way use it as tqdm: iterate over it, or call
    ``update``/``set_postfix``/``close`` (or use it in a ``with`` block).
    """
    if bars_shown(enabled=enabled) and getattr(_thread, "stop", None) is None:  # stoppable loops: plain reports
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, leave=leave)
    silent = not enabled or _quiet or _env_disabled()
    return PlainProgress(iterable, total=total, desc=desc, leave=leave, silent=silent, period=period)


def write(text: str, *, file: TextIO | None = None, end: str = "\n") -> None:
    """Print ``text`` (standard output by default, as ``tqdm.write``) without breaking an open bar; nothing when
    quiet."""
    if _quiet:
        return
    if _terminal(sys.stderr) and "tqdm" in sys.modules:
        from tqdm.auto import tqdm

        tqdm.write(text, file=file, end=end)
        return
    print(text, file=sys.stdout if file is None else file, end=end, flush=True)


def say(*values: Any, sep: str = " ", end: str = "\n", file: TextIO | None = None) -> None:
    """``print`` for an informational line of the command line (where results were written, a run's summary);
    nothing when quiet. Results (tables, JSON) and errors are printed with ``print``."""
    if not _quiet:
        print(*values, sep=sep, end=end, file=sys.stdout if file is None else file, flush=True)
