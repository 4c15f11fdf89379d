"""A share of the work done by a second process, made with fork.

EC keys and signatures are too quick to gain from threads (the GIL), and writing
files is mostly kernel time that a second process spends on the other core. A
forked child starts with everything the parent has built (certificates, CA keys,
the open lock), so nothing needs to be pickled on the way in; on the way out it
sends its results, one pickled record at a time, over a pipe that a thread of the
parent drains.

Only where fork is safe: Linux, and a parent with no other thread, since a lock held
by another thread at the fork would stay held in the child forever.
"""

from __future__ import annotations

import os
import pickle
import platform
import signal
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from pkiform.errors import StoreError

T = TypeVar("T")

_LENGTH = struct.Struct("!Q")


def available() -> bool:
    """Whether a child can be forked safely here, and a second core would run it."""
    return (
        platform.system() == "Linux"
        and (os.cpu_count() or 1) >= 2
        and threading.active_count() == 1
    )


class Child(Generic[T]):
    """A child process running `work(send)`; each `send(record)` reaches the parent,
    in order, through `arrived` and `finish`. An exception in the child is raised by
    `finish`; a parent that dies takes the child with it at its next `send`."""

    def __init__(self, work: Callable[[Callable[[T], None]], None]) -> None:
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: no return from here
            os.close(read_end)
            _run_child(work, write_end)
        os.close(write_end)
        self._status: int | None = None  # its wait status, once it has ended
        self._records: deque[tuple[bool, object]] = deque()
        self._reader = threading.Thread(target=self._read, args=(read_end,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            while len(header := pipe.read(_LENGTH.size)) == _LENGTH.size:
                (size,) = _LENGTH.unpack(header)
                data = pipe.read(size)
                if len(data) < size:  # the child was killed mid-record: finish says so
                    break
                try:
                    self._records.append(pickle.loads(data))
                except Exception as e:  # e.g. an exception class that cannot be rebuilt
                    failed = StoreError(f"the second worker process sent {size} bytes: {e}")
                    self._records.append((False, failed))
                    break

    def arrived(self) -> Iterator[T]:
        """The records sent since the last look, without waiting."""
        while self._records:
            yield self._take()

    def finish(self) -> Iterator[T]:
        """Every record not yet taken, once the child has ended; raises what it raised."""
        self._reader.join()
        status = self._wait()
        while self._records:
            yield self._take()
        if os.waitstatus_to_exitcode(status) != 0:
            raise StoreError(f"the second worker process ended: {_describe(status)}")

    def kill(self) -> None:
        """Stop the child now (its unfinished folders are recovered by the next apply)."""
        if self._status is None:  # once waited for, its pid may be another process's
            os.kill(self.pid, signal.SIGKILL)
            self._wait()
        self._reader.join()

    def _wait(self) -> int:
        if self._status is None:
            self._status = os.waitpid(self.pid, 0)[1]
        return self._status

    def _take(self) -> T:
        ok, record = self._records.popleft()
        if not ok:
            assert isinstance(record, BaseException)
            raise record
        return record  # type: ignore[return-value]


def _run_child(work: Callable[[Callable[[T], None]], None], fd: int) -> None:
    parent = os.getppid()
    # SIGINT reaches the whole process group: the parent handles it and stops the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def send(ok: bool, record: object) -> None:
        if os.getppid() != parent:  # the parent died: stop before writing any more
            os._exit(1)
        data = pickle.dumps((ok, record))
        os.write(fd, _LENGTH.pack(len(data)))  # < PIPE_BUF: one write
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]

    code = 0
    try:
        work(lambda record: send(True, record))
    except BaseException as e:  # every failure goes to the parent
        code = 1
        try:
            send(False, e)
        except BaseException:  # unpicklable (a Rust panic is), or the parent is gone
            # by its type alone: a panic's message spells out what it failed on
            send(
                False,
                StoreError(
                    f"the second worker process failed with {type(e).__name__} (its "
                    "message is not shown: it may hold a secret)"
                ),
            )
    finally:
        os._exit(code)  # never the parent's atexit handlers, nor its buffered output


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.WEXITSTATUS(status)}"
