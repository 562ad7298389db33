"""The model of operation durations: the operations that can take time, the rules and the
transitions in flight (``Transitions``, one ``TRANSITIONS``), and the ``/pilot-light/durations``
control route. The patch that applies them to moto is ``durations.operation_durations``."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from ._common import _log
from .server import _ControlError, _posted_rules


#: operation key → the state describe calls show while it runs
OPERATIONS: dict[str, str] = {
    "rds.promote_read_replica": "modifying",
    "rds.modify_db_instance": "modifying",
    "rds.create_db_instance": "creating",
    "rds.create_db_instance_read_replica": "creating",
    "rds.restore_db_instance_from_db_snapshot": "creating",
    "rds.delete_db_instance": "deleting",
    "rds.create_db_snapshot": "creating",
    "rds.copy_db_snapshot": "creating",
    "ec2.create_image": "pending",
    "ec2.copy_image": "pending",
    "autoscaling.launch_instance": "Pending",
    "route53.change_resource_record_sets": "PENDING",
}


class _Pending:
    __slots__ = ("deadline", "finish", "key", "operation")

    def __init__(self, deadline: float, finish: Callable[[], None], key: Any, operation: str):
        self.deadline = deadline
        self.finish = finish
        self.key = key
        self.operation = operation


class Transitions:
    """Duration rules and the transitions in flight. Evaluated lazily, never by timers.

    An operation with a matching rule applies its intermediate state at once and queues a *finish*
    step with a deadline. ``settle()`` runs every due finish step; the server calls it before it
    handles each AWS request, so any describe after the deadline sees the final state and none
    before it does. There are no threads to race with: one lock guards rules, transitions and the
    generation. ``reset()`` (hooked to ``/moto-api/reset``) bumps the generation and drops rules and
    transitions before moto wipes its backends; an operation that was running across a reset
    registers nothing, because it captured the old generation before it started.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rules: list[dict[str, Any]] = []
        self.pending: list[_Pending] = []
        self.generation = 0

    # rules ------------------------------------------------------------------------------------
    @staticmethod
    def validate_rule(raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise _ControlError(400, "a rule is an object")
        operation = raw.get("operation")
        if operation not in OPERATIONS:
            raise _ControlError(
                400, f"unknown operation {operation!r}; known: {', '.join(sorted(OPERATIONS))}"
            )
        seconds = raw.get("seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise _ControlError(400, "seconds must be a number >= 0")
        prefix = raw.get("resourcePrefix", "")
        if not isinstance(prefix, str):
            raise _ControlError(400, "resourcePrefix must be a string")
        return {"operation": operation, "seconds": float(seconds), "resourcePrefix": prefix}

    def add_rules(self, rules: list[dict[str, Any]]) -> None:
        with self.lock:
            self.rules.extend(rules)

    def remove_rules(self, prefix: str | None) -> int:
        with self.lock:
            before = len(self.rules)
            if prefix is None:
                self.rules = []
            else:
                self.rules = [r for r in self.rules if r["resourcePrefix"] != prefix]
            return before - len(self.rules)

    def seconds(self, operation: str, resource_id: str | None) -> float:
        """The duration for ``operation`` on ``resource_id``: the longest matching prefix wins
        (the rule added last among equals); 0 when no rule matches."""
        if not resource_id:
            return 0.0
        name = resource_id.lower()
        best: dict[str, Any] | None = None
        with self.lock:
            for rule in self.rules:
                if rule["operation"] != operation:
                    continue
                if not name.startswith(rule["resourcePrefix"].lower()):
                    continue
                if best is None or len(rule["resourcePrefix"]) >= len(best["resourcePrefix"]):
                    best = rule
        return best["seconds"] if best else 0.0

    # transitions ------------------------------------------------------------------------------
    def defer(
        self,
        generation: int,
        operation: str,
        seconds: float,
        start: Callable[[], None],
        finish: Callable[[], None],
        key: Any = None,
    ) -> bool:
        """Apply ``start`` now and queue ``finish`` for ``seconds`` later, unless moto was reset
        since ``generation`` was read (then nothing happens and False is returned)."""
        with self.lock:
            if generation != self.generation:
                return False
            start()
            self.pending.append(_Pending(time.monotonic() + seconds, finish, key, operation))
            return True

    def is_pending(self, key: Any) -> bool:
        with self.lock:
            return any(p.key == key for p in self.pending)

    def pending_operation(self, resource: Any) -> str | None:
        """The operation in flight on ``resource`` (keys are ``(operation, id(resource))``)."""
        with self.lock:
            for item in self.pending:
                if isinstance(item.key, tuple) and item.key[1:] == (id(resource),):
                    return item.operation
            return None

    def settle(self) -> None:
        now = time.monotonic()
        with self.lock:
            if not self.pending:
                return
            due = [p for p in self.pending if p.deadline <= now]
            if not due:
                return
            self.pending = [p for p in self.pending if p.deadline > now]
            for item in sorted(due, key=lambda p: p.deadline):
                try:
                    item.finish()
                except Exception as error:  # a finish step must never break the request
                    _log(f"finishing {item.operation} failed: {error!r}")

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.rules = []
            self.pending = []


TRANSITIONS = Transitions()


def _durations_route(environ: dict[str, Any]) -> tuple[int, Any]:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method == "GET":
        TRANSITIONS.settle()
        with TRANSITIONS.lock:
            return 200, {"rules": list(TRANSITIONS.rules), "pending": len(TRANSITIONS.pending)}
    if method == "POST":
        rules = [Transitions.validate_rule(raw) for raw in _posted_rules(environ)]
        TRANSITIONS.add_rules(rules)
        with TRANSITIONS.lock:
            return 200, {"added": len(rules), "rules": list(TRANSITIONS.rules)}
    if method == "DELETE":
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        prefix = query["resourcePrefix"][-1] if "resourcePrefix" in query else None
        removed = TRANSITIONS.remove_rules(prefix)
        return 200, {"removed": removed}
    raise _ControlError(405, f"{method} is not supported here")
