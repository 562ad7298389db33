"""Fault injection: the next N requests of an operation fail as the real service fails
(``/pilot-light/faults``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from ._common import _log, _once
from .recorded_requests import describe_request, request_params
from .server import (
    _INTERCEPT,
    _ROUTES,
    _Answer,
    _ControlError,
    _install_server_hooks,
    _posted_rules,
    _query,
)


# --------------------------------------------------------------------------------------------------
# 7. Fault injection
# --------------------------------------------------------------------------------------------------

#: what a service answers when it throttles: (HTTP status, error code)
_THROTTLE: dict[str, tuple[int, str]] = {
    "rds": (400, "Throttling"),
    "ec2": (503, "RequestLimitExceeded"),
    "autoscaling": (400, "Throttling"),
    "ssm": (400, "ThrottlingException"),
    "lambda": (429, "TooManyRequestsException"),
    "events": (400, "ThrottlingException"),
    "route53": (400, "Throttling"),
    "s3": (503, "SlowDown"),
    "kms": (400, "ThrottlingException"),
    "sns": (400, "Throttling"),
    "monitoring": (400, "Throttling"),
    "logs": (400, "ThrottlingException"),
    "sts": (400, "Throttling"),
    "iam": (400, "Throttling"),
}
#: services by wire protocol (signing name); any other is treated as query XML
_JSON_SERVICES = {"ssm", "events", "kms", "logs", "states"}
_REST_JSON_SERVICES = {"lambda"}
_FAULT_KINDS = ("throttle", "unavailable", "timeout", "lost")


def fault_answer(service: str, kind: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """The error a real ``service`` sends for a fault of ``kind``, in the service's wire protocol, so
    each SDK classifies it as it would the real one (throttling error code, or a 5xx)."""
    if kind == "throttle":
        status, code = _THROTTLE.get(service, (400, "Throttling"))
    elif kind in ("unavailable", "lost"):
        status, code = (500, "InternalServerError") if service in _JSON_SERVICES else (
            503,
            "ServiceUnavailable",
        )
    else:
        status, code = 504, "RequestTimeout"
    message = f"injected fault: {kind}"
    request_id = f"fault-{time.time_ns():x}"
    if service in _JSON_SERVICES:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1")]
    elif service in _REST_JSON_SERVICES:
        body = json.dumps({"Type": "Service", "message": message}).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
    elif service == "s3":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
    elif service == "ec2":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}</Code>"
            f"<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID>"
            "</Response>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    else:
        sender = "Sender" if status < 500 else "Receiver"
        body = (
            f"<ErrorResponse><Error><Type>{sender}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    headers.append(("x-amzn-RequestId", request_id))
    headers.append(("Content-Length", str(len(body))))
    return status, headers, body


class Faults:
    """Fault rules: each makes the next ``count`` matching requests fail."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[dict[str, Any]] = []

    @staticmethod
    def validate_rule(raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise _ControlError(400, "a fault rule is an object")
        service, action = raw.get("service"), raw.get("action")
        if not isinstance(service, str) or not service:
            raise _ControlError(400, "service (the SigV4 signing name, e.g. rds) is required")
        if action is not None and not isinstance(action, str):
            raise _ControlError(400, "action must be a string (the operation name)")
        kind = raw.get("kind")
        if kind not in _FAULT_KINDS:
            raise _ControlError(400, f"kind must be one of {', '.join(_FAULT_KINDS)}")
        count = raw.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise _ControlError(400, "count must be a positive integer")
        hold = raw.get("holdSeconds", 3.0 if kind == "timeout" else 0.0)
        if not isinstance(hold, (int, float)) or isinstance(hold, bool) or not 0 <= hold <= 60:
            raise _ControlError(400, "holdSeconds must be a number from 0 to 60")
        for key in ("region", "mentions", "label", "exceptUserAgent"):
            if raw.get(key) is not None and not isinstance(raw.get(key), str):
                raise _ControlError(400, f"{key} must be a string")
        return {
            "service": service.lower(),
            "action": action,
            "region": raw.get("region"),
            "mentions": raw.get("mentions"),
            "label": raw.get("label"),
            "exceptUserAgent": raw.get("exceptUserAgent"),
            "kind": kind,
            "count": count,
            "holdSeconds": float(hold),
            "served": 0,
        }

    def add(self, rules: list[dict[str, Any]]) -> None:
        with self.lock:
            self.rules.extend(rules)

    def remove(self, label: str | None) -> int:
        with self.lock:
            kept = [r for r in self.rules if label is not None and r["label"] != label]
            removed = len(self.rules) - len(kept)
            self.rules = kept
            return removed

    def take(self, service: str | None, action: str | None, region: str | None,
             params: Callable[[], dict[str, str]], user_agent: str = "") -> dict[str, Any] | None:
        """The rule that fails this request (its count taken), or None."""
        if not service:
            return None
        with self.lock:
            if not self.rules:
                return None
            for rule in self.rules:
                if rule["served"] >= rule["count"] or rule["service"] != service:
                    continue
                if rule["action"] not in (None, "*", action):
                    continue
                if rule["region"] is not None and rule["region"] != region:
                    continue
                if rule["exceptUserAgent"] and rule["exceptUserAgent"] in user_agent:
                    continue
                if rule["mentions"] is not None and not any(
                    rule["mentions"] in value for value in params().values()
                ):
                    continue
                rule["served"] += 1
                return dict(rule)
            return None

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.rules]


FAULTS = Faults()


def _faults_route(environ: dict[str, Any]) -> tuple[int, Any]:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method == "GET":
        return 200, {"rules": FAULTS.snapshot()}
    if method == "POST":
        rules = [Faults.validate_rule(raw) for raw in _posted_rules(environ)]
        FAULTS.add(rules)
        return 200, {"added": len(rules)}
    if method == "DELETE":
        removed = FAULTS.remove(_query(environ).get("label"))
        return 200, {"removed": removed}
    raise _ControlError(405, f"{method} is not supported here")


@_once
def fault_injection() -> None:
    """Make the next N requests of an operation fail as the real service fails (AWS: on its bad day;
    moto: never), so failover and failback can be shown to survive them.

    A rule: ``{"service": signing name, "action": operation (omitted or "*": any), "kind":
    "throttle" | "unavailable" | "timeout", "count": N (default 1), "region", "mentions" (a
    substring one of the request's parameters must contain), "label" (to delete a test's rules),
    "exceptUserAgent" (requests whose user agent contains it are never failed: a test harness's
    own calls), "holdSeconds"}``. ``throttle`` answers the service's throttling error (``Throttling`` 400,
    EC2 ``RequestLimitExceeded`` 503, Lambda ``TooManyRequestsException`` 429, S3 ``SlowDown``
    503, ``ThrottlingException`` for JSON services); ``unavailable`` a 5xx (503
    ``ServiceUnavailable``, JSON services 500 ``InternalServerError``); ``timeout`` holds the
    request ``holdSeconds`` (default 3, longer than the clients' attempt timeout in the stack) and
    then answers 504; ``lost`` is a request that was *applied, and its answer lost*: moto carries
    it out, then the caller gets the 5xx of ``unavailable`` instead of moto's answer (the SDK
    retries, and the retry meets what the first attempt made). Except for ``lost``, moto never sees
    a faulted request, so nothing changes. The faulted request is logged with the status the caller
    got. Rules are not cleared by ``/moto-api/reset``: tests delete theirs by label.
    """
    _install_server_hooks()

    def intercept(environ: dict[str, Any], moto_answer: Callable[[], _Answer]) -> _Answer | None:
        if not FAULTS.rules:
            return None
        service, action, region = describe_request(environ)
        user_agent = " ".join(
            environ.get(key) or "" for key in ("HTTP_USER_AGENT", "HTTP_X_AMZ_USER_AGENT")
        )
        rule = FAULTS.take(
            service, action, region, lambda: request_params(environ), user_agent
        )
        if rule is None:
            return None
        _log(f"fault: {rule['kind']} for {service}.{action} in {region}")
        if rule["kind"] == "timeout":
            time.sleep(rule["holdSeconds"])
        if rule["kind"] == "lost":
            applied_status, _, _ = moto_answer()
            _log(f"fault: {service}.{action} applied by moto ({applied_status}), answer lost")
        return fault_answer(rule["service"], rule["kind"])

    _INTERCEPT.append(intercept)
    _ROUTES["/pilot-light/faults"] = _faults_route
