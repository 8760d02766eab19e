"""SIGINT / SIGTERM in the ``decloud`` commands: stop at once and cleanly, never abort inside OTB.

OTB's Python bindings log (progress included) through a SWIG director, ``otbApplication.PythonPrintCallback``:
Python code called from C++. Python's own SIGINT handler raises ``KeyboardInterrupt`` in whatever Python code
the main thread runs next; when that is the director, SWIG cannot carry the exception through C++ and the
process aborts (``Swig::DirectorMethodException``, exit 134), leaving its temporary files behind.

:func:`handle_signals` installs handlers that never raise inside OTB: when the main thread is in an OTB call
(a frame of ``otbApplication.py`` on its stack) the signal is recorded and delivered again every 0.1 s until
the call has returned to plain Python code; anywhere else :class:`Interrupted` (a ``KeyboardInterrupt``) is
raised at once. Long OTB writes run in a worker thread (:func:`run_in_thread`) while the main thread waits in
Python, so a signal stops a command during a write too; ``atomic_output`` removes the temporary file on the
way out, folder locks are released, and the command exits with 128 + the signal number (130 for SIGINT, 143
for SIGTERM) without waiting for the abandoned write (see :func:`abandoned_writes`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_pending: dict[str, int] = {}  # "signum" -> a signal recorded inside OTB, not raised yet
_state_lock = threading.Lock()
_running: set[threading.Thread] = set()  # writes still running in worker threads
_abandoned: set[threading.Thread] = set()  # ... whose caller was interrupted


class Interrupted(KeyboardInterrupt):
    """The command was asked to stop by a signal (SIGINT or SIGTERM)."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"interrupted by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process stopped by that signal."""
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _in_otb(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.endswith("otbApplication.py"):
            return True
        frame = frame.f_back
    return False


def _redeliver() -> None:
    """Re-send the recorded signal to the main thread until its handler could raise it."""
    main = threading.main_thread()
    while main.is_alive():
        time.sleep(0.1)
        with _state_lock:
            signum = _pending.get("signum")
        if signum is None or main.ident is None:
            return
        signal.pthread_kill(main.ident, signum)


def _handler(signum, frame) -> None:
    if _in_otb(frame):
        with _state_lock:
            first = "signum" not in _pending
            _pending["signum"] = signum
        if first:
            threading.Thread(target=_redeliver, name="decloud-signal", daemon=True).start()
        return
    with _state_lock:
        _pending.pop("signum", None)
    raise Interrupted(signum)


@contextmanager
def handle_signals(signums: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block, the given signals raise :class:`Interrupted` outside OTB calls (see the module).

    Does nothing outside the main thread, and for a signal whose handler is already this module's; the previous
    handlers are restored at the end."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in signums:
            if signal.getsignal(signum) is not _handler:
                previous[signum] = signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def check() -> None:
    """Raise :class:`Interrupted` if a signal was recorded and not raised yet (call it between steps)."""
    with _state_lock:
        signum = _pending.pop("signum", None)
    if signum is not None:
        raise Interrupted(signum)


def run_in_thread(function: Callable[[], T], *, on_abandon: Callable[[], None] | None = None) -> T:
    """``function()`` in a worker thread while this (main) thread waits, so that a signal stops the caller at
    once; returns its result or raises its exception. If the caller is interrupted meanwhile, the worker is left
    to finish on its own (a process exiting on the signal does not wait for it) and then ``on_abandon`` runs
    (e.g. removes what the abandoned write produced). Outside the main thread it simply calls ``function``."""
    if threading.current_thread() is not threading.main_thread():
        return function()
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = function()
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, which raises it
            box["error"] = e
        finally:
            with _state_lock:
                _running.discard(worker)
                abandoned = worker in _abandoned
                _abandoned.discard(worker)
            if abandoned and on_abandon is not None:
                on_abandon()

    worker = threading.Thread(target=target, name="decloud-write", daemon=True)
    with _state_lock:
        _running.add(worker)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except BaseException:
        with _state_lock:
            if worker in _running:
                _abandoned.add(worker)
        raise
    check()
    if "error" in box:
        raise box["error"]
    return box["result"]


def abandoned_writes() -> bool:
    """Whether writes abandoned by an interrupted caller still run (then exit with ``os._exit``, since the
    interpreter's shutdown would wait for them or stop them in the middle of OTB code)."""
    with _state_lock:
        return bool(_abandoned & _running)
