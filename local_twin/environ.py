"""``os.environ`` with a per-thread overlay: a Lambda call sees its function's environment, no other thread does.

The twin runs handlers in its own process, next to threads that keep working meanwhile (the API front, the
execution follower, the local SageMaker, a user's code under `make up`). Swapping the process-wide
environment for each call made those threads read a half-swapped one (a variable listed, then gone: KeyError
inside botocore). Here the handler's thread reads and writes a private copy; every other thread reads the
process environment, untouched.

The very ``os.environ`` object changes class rather than being replaced: botocore keeps references to it
(taken when a session is created), and those must see the overlay too.
"""

import contextlib
import os
import threading
from collections.abc import Iterator

_local = threading.local()


def _overlay() -> dict[str, str] | None:
    return getattr(_local, "overlay", None)


class ThreadEnviron(os._Environ):
    def __getitem__(self, key: str) -> str:
        overlay = _overlay()
        return super().__getitem__(key) if overlay is None else overlay[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _overlay()
        if overlay is None:
            super().__setitem__(key, value)
        else:
            overlay[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = _overlay()
        if overlay is None:
            super().__delitem__(key)
        else:
            del overlay[key]

    def __iter__(self) -> Iterator[str]:
        overlay = _overlay()
        return super().__iter__() if overlay is None else iter(list(overlay))

    def __len__(self) -> int:
        overlay = _overlay()
        return super().__len__() if overlay is None else len(overlay)

    @contextlib.contextmanager
    def overlay(self, variables: dict[str, str]):
        """This thread sees its current environment plus ``variables`` until the block ends."""
        previous = _overlay()
        _local.overlay = {**(previous if previous is not None else dict(self)), **variables}
        try:
            yield
        finally:
            _local.overlay = previous


def install() -> ThreadEnviron:
    """Make ``os.environ`` overlay-capable, in place (idempotent)."""
    if not isinstance(os.environ, ThreadEnviron):
        os.environ.__class__ = ThreadEnviron
    return os.environ
