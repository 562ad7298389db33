"""Secret canaries and the handler log audit: the secrets the server is handed, and the audit of
a handler log against them (``/pilot-light/log-audit``)."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from ._common import _once
from .server import (
    _BEFORE_REQUEST,
    _ROUTES,
    _ControlError,
    _install_server_hooks,
    _query,
    _read_body,
)


# --------------------------------------------------------------------------------------------------
# 8. Secret canaries and the handler log audit
# --------------------------------------------------------------------------------------------------

#: every SecureString value and KMS plaintext the server was given (only kept in memory)
SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
#: shorter values are too likely to occur by chance ("true", "1") to be searched for
_MIN_SECRET_LENGTH = 6


def _remember_secret(value: Any) -> None:
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        with _SECRETS_LOCK:
            SECRETS.add(value)


@_once
def secret_canaries() -> None:
    """Remember every secret the server is handed, so the handlers' logs can be searched for them:
    the values of ``SecureString`` parameters (``PutParameter``) and the plaintexts given to KMS
    (``Encrypt``, base64-decoded too). Kept in this process's memory only, never logged or
    written; ``audit_handler_log`` reports matches without the values."""
    _install_server_hooks()

    def remember(environ: dict[str, Any]) -> None:
        target = environ.get("HTTP_X_AMZ_TARGET") or ""
        if not target.endswith((".PutParameter", ".Encrypt")):
            return None
        try:
            body = json.loads(_read_body(environ) or b"{}")
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        if target.endswith(".PutParameter") and body.get("Type") == "SecureString":
            _remember_secret(body.get("Value"))
        if target.endswith(".Encrypt"):
            plaintext = body.get("Plaintext")
            _remember_secret(plaintext)
            try:
                import base64

                _remember_secret(base64.b64decode(plaintext or "").decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                pass
        return None

    def audit_route(environ: dict[str, Any]) -> tuple[int, Any]:
        path = _query(environ).get("path")
        if not path:
            raise _ControlError(400, "path (of a log file) is required")
        return 200, audit_handler_log(Path(path))

    _BEFORE_REQUEST.append(remember)
    _ROUTES["/pilot-light/log-audit"] = audit_route


#: lines of ``cargo lambda watch`` itself (and of the cargo it runs), not of a handler
#: (function instances share the log, so cargo's status lines can be split by another process's
#: write: a fragment starts with the backtick-quoted path or profile, or "waiting for file lock")
_WATCHER_LINE = re.compile(
    r"^(\$ |\s*(TRACE|DEBUG|INFO|WARN|ERROR)\s|\s+(Compiling|Finished|Running|Blocking|Building|"
    r"Updating|Downloaded|Downloading|Locking|Adding|Checking|Fresh)\b|\s*$|\s*`[^`]*`|"
    r"\s*waiting for file lock)"
)


def audit_handler_log(
    path: Path, secrets: set[str] | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Audit one ``lambda.log``: every line a handler wrote is a JSON object, and no line contains a
    secret. Returns counts and, per problem, the line number and a description (never the value).
    ``limit``: audit only the first ``limit`` bytes (what was written while the functions served;
    ``stack.py`` passes the size the log had before it killed them)."""
    secrets = set(SECRETS if secrets is None else secrets)
    report: dict[str, Any] = {
        "file": str(path),
        "handlerLines": 0,
        "watcherLines": 0,
        "secretsSearched": len(secrets),
        "notJson": [],
        "secretFound": [],
    }
    try:
        with open(path, "rb") as log:
            raw = log.read() if limit is None else log.read(limit)
    except FileNotFoundError:
        return report
    text = raw.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if _WATCHER_LINE.match(line):
            report["watcherLines"] += 1
        else:
            report["handlerLines"] += 1
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                report["notJson"].append({"line": number, "start": line[:120]})
        if any(secret in line for secret in secrets):
            report["secretFound"].append({"line": number})
    return report
