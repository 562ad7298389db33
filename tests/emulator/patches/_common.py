"""What every patch module shares: the applied-patch registry (``_once``, ``applied``), the
emulator's log line (``_log``) and the argument binder of wrapped moto methods."""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any


_applied: set[str] = set()
_apply_lock = threading.Lock()


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    """Make a patch idempotent: the second call is a no-op."""

    @functools.wraps(fn)
    def wrapper() -> None:
        with _apply_lock:
            if fn.__name__ in _applied:
                return
            fn()
            _applied.add(fn.__name__)

    return wrapper


def applied() -> list[str]:
    """Names of the patches applied in this process."""
    return sorted(name for name in _applied if not name.startswith("_"))


def _log(message: str) -> None:
    print(f"pilot-light emulator: {message}", file=sys.stderr, flush=True)


def _bound_arguments(func: Callable[..., Any], args: Any, kwargs: Any) -> dict[str, Any]:
    bound = inspect.signature(func).bind_partial(*args, **kwargs)
    return dict(bound.arguments)
