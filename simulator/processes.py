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
    fork (nothing is pickled) and returns nothing but success; :meth:`wait` raises when it failed, with
    the child's error in one line (the child prints nothing: an interrupted ``hetsim run`` ends with its
    own one line, not a child's traceback). The child dies with this process (:func:`die_with_parent`)
    and leaves through ``os._exit`` (no atexit handlers, no flushing of buffers it shares with this
    process). Only where ``os.fork`` exists (:func:`can_fork`)."""

    def __init__(self, fn: Callable[[], object], what: str):
        self.what = what
        read, write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover (the child; its work is checked by the parent's wait)
            code = 1
            try:
                os.close(read)
                die_with_parent()
                fn()
                code = 0
            except KeyboardInterrupt:
                code = 130
            except BaseException as exc:  # noqa: BLE001 (reported to the parent, which raises it)
                line = (str(exc).strip().splitlines() or [""])[0]
                os.write(write, f"{type(exc).__name__}: {line}"[:400].encode("utf-8", "replace"))
            finally:
                os._exit(code)
        os.close(write)
        self._errors = read

    def wait(self) -> None:
        """Wait for the child; raise RuntimeError naming :attr:`what` and the child's error if it failed."""
        with os.fdopen(self._errors, "rb") as pipe:
            message = pipe.read().decode("utf-8", "replace")
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"{self.what} failed in a forked process: {message or f'exit status {code}'}")


def can_fork() -> bool:
    """Whether :class:`Forked` works here (POSIX ``os.fork``)."""
    return hasattr(os, "fork") and sys.platform != "win32"
