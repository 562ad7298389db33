"""The server hooks every control endpoint shares: one wrap of moto's WSGI dispatcher (control
routes, before-request hooks, intercepts, reset hooks) and the helpers of the control routes."""

from __future__ import annotations

import functools
import io
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from ._common import _applied


# --------------------------------------------------------------------------------------------------
# Server hooks shared by the control endpoints (request_log, operation_durations)
# --------------------------------------------------------------------------------------------------

# path → handler(environ) -> (HTTP status, JSON-able body)
_ROUTES: dict[str, Callable[[dict[str, Any]], tuple[int, Any]]] = {}
# called before every AWS request; may return a callback that receives the response status code
_BEFORE_REQUEST: list[Callable[[dict[str, Any]], Callable[[int], None] | None]] = []
# called by /moto-api/reset, before moto wipes its backends
_ON_RESET: list[Callable[[], None]] = []
# an answer: (HTTP status, headers, body)
_Answer = tuple[int, list[tuple[str, str]], bytes]
# called after the before-request hooks with the request and a function that lets moto answer it
# (and returns that answer); may answer the request itself: an answer, or None to let moto answer
_INTERCEPT: list[Callable[[dict[str, Any], Callable[[], _Answer]], _Answer | None]] = []


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _json_response(start_response: Any, status: int, body: Any) -> list[bytes]:
    payload = json.dumps(body).encode("utf-8")
    start_response(
        f"{status} {_REASONS.get(status, 'Error')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _install_server_hooks() -> None:
    """Wrap moto's WSGI dispatcher once: control routes first, then hooks, then moto.

    ``DomainDispatcherApplication`` is the WSGI app of every moto server (``moto_server`` and
    ``ThreadedMotoServer``), so wrapping its ``__call__`` covers each server started in this process
    and leaves moto's own routing alone.
    """
    if "_server_hooks" in _applied:
        return
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatch_original = DomainDispatcherApplication.__call__

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "") or ""
        if path.startswith("/pilot-light/") or path == "/pilot-light":
            handler = _ROUTES.get(path.rstrip("/"))
            if handler is None:
                return _json_response(start_response, 404, {"error": f"no route {path}"})
            try:
                status, body = handler(environ)
            except _ControlError as error:
                status, body = error.status, {"error": str(error)}
            return _json_response(start_response, status, body)

        if path.startswith("/moto-api") or path == "/favicon.ico":
            return dispatch_original(self, environ, start_response)

        callbacks = [cb for cb in (hook(environ) for hook in _BEFORE_REQUEST) if cb is not None]

        def moto_answer() -> _Answer:
            """Moto applies the request; its answer is returned, not sent."""
            started: list[Any] = []

            def keep_start(status: str, headers: Any, *_: Any) -> Any:
                started.append((status, headers))
                return lambda _data: None

            chunks = dispatch_original(self, environ, keep_start)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            status_line, headers = started[0] if started else ("500 Error", [])
            return int(status_line.split(" ", 1)[0]), list(headers), body

        for intercept in _INTERCEPT:
            answer = intercept(environ, moto_answer)
            if answer is not None:
                status, headers, body = answer
                for callback in callbacks:
                    callback(status)
                start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
                return [body]
        if not callbacks:
            return dispatch_original(self, environ, start_response)

        def observing_start_response(status: str, headers: Any, *rest: Any) -> Any:
            try:
                code = int(status.split(" ", 1)[0])
            except ValueError:
                code = 0
            for callback in callbacks:
                callback(code)
            return start_response(status, headers, *rest)

        return dispatch_original(self, environ, observing_start_response)

    reset_original = MotoAPIBackend.reset

    @functools.wraps(reset_original)
    def reset(self: Any) -> None:
        for hook in _ON_RESET:
            hook()
        reset_original(self)

    DomainDispatcherApplication.__call__ = __call__
    MotoAPIBackend.reset = reset
    _applied.add("_server_hooks")


class _ControlError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _query(environ: dict[str, Any]) -> dict[str, str]:
    parsed = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def _posted_rules(environ: dict[str, Any]) -> list[Any]:
    """The rules a control POST carries: one rule object, or ``{"rules": [...]}``."""
    try:
        body = json.loads(_read_body(environ) or b"{}")
    except ValueError as error:
        raise _ControlError(400, f"body is not JSON: {error}") from error
    raw_rules = body.get("rules") if isinstance(body, dict) and "rules" in body else [body]
    if not isinstance(raw_rules, list):
        raise _ControlError(400, "rules must be a list")
    return raw_rules


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so moto can still read it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body
