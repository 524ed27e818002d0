"""Worker processes of hetsim's own: ending them with the process that started them, and running a call
in a forked child (POSIX) while the caller does something else (a figure's PDF while its PNG is drawn).
No process outlives the hetsim process that started it."""
from __future__ import annotations

import os
import sys
from typing import Callable


def die_with_parent() -> None:
    """Make this worker process end when the hetsim process that forked it dies (Linux ``prctl``
    PR_SET_PDEATHSIG): a SIGKILLed ``hetsim run`` must not leave workers behind that keep its output pipe
    open or keep drawing into a folder nobody will commit. Elsewhere a no-op."""
    import ctypes
    import signal

    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


class Forked:
    """``fn()`` running in a forked child process, which sees this process's memory as it was at the
    fork (nothing is pickled) and returns nothing but success; :meth:`wait` raises when it failed. The
    child dies with this process (:func:`die_with_parent`) and leaves through ``os._exit`` (no atexit
    handlers, no flushing of buffers it shares with this process). Only where ``os.fork`` exists
    (:func:`can_fork`)."""

    def __init__(self, fn: Callable[[], object], what: str):
        self.what = what
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover (the child; its work is checked by the parent's wait)
            code = 1
            try:
                die_with_parent()
                fn()
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def wait(self) -> None:
        """Wait for the child; raise RuntimeError naming :attr:`what` if it did not succeed."""
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"{self.what} failed in a forked process (exit status {code})")


def can_fork() -> bool:
    """Whether :class:`Forked` works here (POSIX ``os.fork``)."""
    return hasattr(os, "fork") and sys.platform != "win32"
