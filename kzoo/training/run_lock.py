"""One process per run directory: a lock file naming the PID and host that hold it."""

import json
import os
import socket
import sys
import time
from pathlib import Path

LOCK_FILE = ".kzoo.lock"
_HELD_HERE = set()  # lock paths this process holds now


class RunDirectoryInUse(ValueError):
    """Another live process holds the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


class RunLock:
    """Holds `run_dir` for this process while the `with` block runs.

    A second holder is refused, naming the PID and host of the first. A lock left by a process
    that is gone (same host, PID not running) is taken over, with a message on stderr. The lock
    is created with O_EXCL, so two processes starting together cannot both take it.

    Example:
        >>> with RunLock("runs/bert"):
        ...     train(...)
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK_FILE
        self.held = False

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        )
        for _ in range(2):  # a second try after removing a stale lock
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(descriptor, "w") as f:
                f.write(record)
            self.held = True
            _HELD_HERE.add(self.path.resolve())
            return self
        raise RunDirectoryInUse(
            f"{self.path.parent} is in use: another kzoo process holds {self.path}."
        )

    def _take_over_if_stale(self):
        try:
            holder = json.loads(self.path.read_text())
            pid, host = int(holder["pid"]), str(holder["host"])
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
        ):  # half-written by a process killed while locking
            holder, pid, host = None, None, socket.gethostname()
        if host != socket.gethostname():
            raise RunDirectoryInUse(
                f"{self.path.parent} is in use by PID {pid} on host {host}; wait for that run "
                f"to end, or if it is gone, remove {self.path} and start again."
            )
        mine = pid == os.getpid()  # held by this process, or left by an earlier one with its PID
        if (mine and self.path.resolve() in _HELD_HERE) or (
            not mine and pid is not None and _alive(pid)
        ):
            raise RunDirectoryInUse(
                f"{self.path.parent} is in use by PID {pid} on host {host}; wait for it to end, "
                "or stop it first (two runs on one directory would mix their checkpoints)."
            )
        print(
            f"kzoo: taking over the stale lock {self.path} (PID {pid} on {host} is gone)",
            file=sys.stderr,
        )
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc):
        if self.held:
            _HELD_HERE.discard(self.path.resolve())
            self.path.unlink(missing_ok=True)
            self.held = False
        return False
