"""The request log: every AWS request the server receives, with what it named
(``GET /pilot-light/requests``), and the request parsing the fault rules share."""

from __future__ import annotations

import collections
import io
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
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
# 6. Request log
# --------------------------------------------------------------------------------------------------

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
# signing name → botocore model name, where they differ (only needed for REST protocols)
_SIGNING_TO_MODEL = {"states": "stepfunctions", "monitoring": "cloudwatch", "email": "ses"}


class RequestLog:
    """The last ``maxlen`` AWS requests, each with a sequence number that never repeats."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self.lock = threading.Lock()
        self.entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=maxlen)
        self.last_seq = 0

    def record(
        self,
        service: str | None,
        action: str | None,
        region: str | None,
        params: dict[str, str] | None = None,
        caller: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.last_seq += 1
            entry = {
                "seq": self.last_seq,
                "service": service,
                "action": action,
                "region": region,
                "caller": caller,
                "params": params or {},
                "time": time.time(),
                "status": None,
            }
            self.entries.append(entry)
            return entry

    def query(
        self,
        since: int = 0,
        region: str | None = None,
        service: str | None = None,
        action: str | None = None,
        except_caller: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            selected = [
                dict(e)
                for e in self.entries
                if e["seq"] > since
                and (region is None or e["region"] == region)
                and (service is None or e["service"] == service)
                and (action is None or e["action"] == action)
                and (except_caller is None or e["caller"] != except_caller)
            ]
            return {"requests": selected, "lastSeq": self.last_seq}


REQUESTS = RequestLog()


def _rest_operation(service: str, environ: dict[str, Any]) -> str | None:
    """The operation of a REST (rest-json / rest-xml) request, from moto's own router."""
    try:
        from moto.core.request import Request
        from moto.core.routing import get_service_router

        probe = dict(environ)
        probe["wsgi.input"] = io.BytesIO(b"")
        probe["CONTENT_LENGTH"] = "0"
        router = get_service_router(_SIGNING_TO_MODEL.get(service, service))
        operation, _ = router.match(Request(probe))
        return str(operation.name)
    except Exception:
        return None


def request_params(environ: dict[str, Any]) -> dict[str, str]:
    """The request's top-level scalar parameters, so tests can tell which resource a call named:
    the path (REST protocols name resources there), the query string and form fields (query protocol: RDS, EC2, Auto Scaling), or the top-level
    string/number fields of a JSON body (SSM, Step Functions, …). Values longer than 256 characters
    are left out (documents, definitions), and so are secret-looking fields."""
    params: dict[str, str] = {"path": environ.get("PATH_INFO", "")}
    params.update(_query(environ))
    content_type = environ.get("CONTENT_TYPE") or ""
    body = _read_body(environ)
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({key: values[-1] for key, values in form.items()})
    elif body[:1] == b"{":
        try:
            document = json.loads(body)
        except ValueError:
            document = {}
        if isinstance(document, dict):
            params.update(
                {k: str(v) for k, v in document.items() if isinstance(v, (str, int, float, bool))}
            )
    return {
        key: value
        for key, value in params.items()
        if len(value) <= 256 and not any(s in key.lower() for s in ("password", "secret", "value"))
    }


def describe_request(environ: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(service, action, region) of an AWS request. Service and region come from the SigV4
    credential scope (service = signing name, e.g. ``states`` for Step Functions, ``monitoring`` for
    CloudWatch); the action from ``X-Amz-Target``, the query/form ``Action``, or the REST route."""
    service = region = action = None
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "") or "")
    if match:
        region, service = match.group(1), match.group(2).lower()

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        action = target.rsplit(".", 1)[-1]
    if not action:
        action = _query(environ).get("Action")
    if not action and (environ.get("CONTENT_TYPE") or "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = urllib.parse.parse_qs(_read_body(environ).decode("utf-8", "replace"))
        action = form.get("Action", [None])[-1]
    if not action and service:
        action = _rest_operation(service, environ)
    return service, action, region


_APP_NAME = re.compile(r"(?:^|\s)app/([A-Za-z0-9!#$%&'*+\-.^_`|~]+)")


def caller_app_name(environ: dict[str, Any]) -> str | None:
    """The SDK app name in a request's user agent (``app/<name>``), or None: which program called."""
    user_agent = " ".join(
        environ.get(key) or "" for key in ("HTTP_USER_AGENT", "HTTP_X_AMZ_USER_AGENT")
    )
    match = _APP_NAME.search(user_agent)
    return match.group(1) if match else None


def _requests_route(environ: dict[str, Any]) -> tuple[int, Any]:
    if environ.get("REQUEST_METHOD", "GET").upper() != "GET":
        raise _ControlError(405, "only GET is supported here")
    query = _query(environ)
    try:
        since = int(query.get("since") or 0)
    except ValueError as error:
        raise _ControlError(400, "since must be an integer") from error
    return 200, REQUESTS.query(
        since=since,
        region=query.get("region") or None,
        service=query.get("service") or None,
        action=query.get("action") or None,
        except_caller=query.get("exceptCaller") or None,
    )


@_once
def request_log() -> None:
    """Every AWS request the server receives is recorded (AWS: CloudTrail; moto: nothing).

    Each entry: ``seq`` (increasing, never reused, not reset by ``/moto-api/reset``), ``service``
    (SigV4 signing name), ``action`` (operation name), ``region`` (SigV4 credential scope; null when
    unsigned), ``caller`` (the SDK app name of the user agent, ``app/<name>``; null when none),
    ``params`` (the request's top-level scalar parameters, see ``request_params``), ``time`` (epoch seconds), ``status`` (HTTP status; null while in flight). The last
    100,000 requests are kept; ``GET /pilot-light/requests?since=&region=&service=&action=``
    reads them (``&exceptCaller=NAME`` leaves out one caller's requests).
    """
    _install_server_hooks()

    def record(environ: dict[str, Any]) -> Callable[[int], None]:
        entry = REQUESTS.record(
            *describe_request(environ),
            params=request_params(environ),
            caller=caller_app_name(environ),
        )

        def done(status: int) -> None:
            entry["status"] = status

        return done

    _BEFORE_REQUEST.append(record)
    _ROUTES["/pilot-light/requests"] = _requests_route
