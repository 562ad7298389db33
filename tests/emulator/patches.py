"""Named monkeypatches that close the moto fidelity gaps pilot-light's flows depend on.

Every patch is a function that changes one behaviour of moto (pinned in requirements.txt) so
that it matches AWS, says which behaviour in its docstring, and is idempotent. ``apply_all()``
applies them all; ``stack.py`` calls it before it starts the server. ``test_emulator.py`` checks
each patch against the patched server and shows that the same check fails against a plain
``moto_server``.

The patches reach into moto's internals (model and response classes), so they are written against
one moto version: ``apply_all()`` refuses any other.

Control endpoints (served by the same server, see ``request_log`` and ``operation_durations``):

* ``POST   /pilot-light/durations``   one rule or ``{"rules": [...]}``, appended
* ``GET    /pilot-light/durations``   ``{"rules": [...], "pending": N}``
* ``DELETE /pilot-light/durations[?resourcePrefix=P]``   drops that prefix's rules (no P: all)
* ``GET    /pilot-light/requests?since=N&region=R&service=S&action=A``
  ``{"requests": [{"seq", "service", "action", "region", "time", "status"}], "lastSeq": N}``
* ``POST   /pilot-light/faults``   one fault rule or ``{"rules": [...]}`` (see ``fault_injection``)
* ``GET    /pilot-light/faults``   ``{"rules": [...]}`` with how many faults each has served
* ``DELETE /pilot-light/faults[?label=L]``   drops that label's rules (no L: all)
* ``GET    /pilot-light/log-audit?path=P``   audits a handler log against the secrets seen so far
* ``/pilot-light/data/{writes,log,snapshot,instances,lag,outage,metrics}``   the RDS data plane
  (``rds_data_plane``, ``data_plane.py``)
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import io
import itertools
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

MOTO_VERSION = "5.2.5"

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


# --------------------------------------------------------------------------------------------------
# 1. RDS: PromoteReadReplica detaches the replica on both sides
# --------------------------------------------------------------------------------------------------


def _rds_error(code: str, message: str) -> Exception:
    from moto.rds.exceptions import RDSClientError

    return RDSClientError(code, message)


def _find_db_instance(account_id: str, region: str, reference: str) -> Any:
    """The DB instance named by an identifier (in ``region``) or an ARN (in any region), or None."""
    from moto.rds.models import rds_backends

    if reference.startswith("arn:"):
        parts = reference.split(":")
        if len(parts) < 7:
            return None
        region, account_id, reference = parts[3], parts[4] or account_id, parts[-1]
    try:
        return rds_backends[account_id][region].databases.get(reference)
    except KeyError:
        return None


def _detach_replica(replica: Any) -> None:
    """Make ``replica`` a standalone instance and drop it from its source's replica list."""
    source_ref = replica.source_db_instance_identifier
    replica.is_replica = False
    replica.source_db_instance_identifier = None
    if not source_ref:
        return
    source = _find_db_instance(replica.account_id, replica.region, source_ref)
    if source is None:
        return
    names = {replica.db_instance_identifier, replica.db_instance_arn}
    source.replicas = [r for r in source.replicas if r not in names]


@_once
def rds_promote_read_replica_detaches() -> None:
    """PromoteReadReplica detaches the replica (AWS), instead of only flipping a flag (moto).

    After the call the promoted instance has no ``ReadReplicaSourceDBInstanceIdentifier`` and its
    source (found by ARN in another region's backend for a cross-region replica) no longer lists it
    in ``ReadReplicaDBInstanceIdentifiers``. Promoting an instance that is not a replica fails with
    ``InvalidDBInstanceState`` (HTTP 400), as on AWS; moto silently succeeds.

    Also restores two neighbouring AWS behaviours:
    * an instance restored from a snapshot (or to a point in time) is standalone: moto copies the
      source's ``source_db_instance_identifier`` into it, so it claims to replicate from somewhere;
    * deleting a cross-region replica removes its ARN from the source (moto's ``remove_replica``
      only knows plain identifiers and raises ``ValueError`` → HTTP 500).
    """
    from moto.rds.models import DBInstance, RDSBackend

    def promote_read_replica(self: RDSBackend, db_kwargs: dict[str, Any]) -> Any:
        db_id = db_kwargs["db_instance_identifier"]
        database = self.databases.get(db_id)
        if database is None:
            from moto.rds.exceptions import DBInstanceNotFoundError

            raise DBInstanceNotFoundError(db_id)
        if not database.is_replica:
            raise _rds_error("InvalidDBInstanceState", "DB Instance is not a read replica.")
        _detach_replica(database)
        database.update(**db_kwargs)
        return database

    def remove_replica(self: DBInstance, replica: DBInstance) -> None:
        names = {replica.db_instance_identifier, replica.db_instance_arn}
        self.replicas = [r for r in self.replicas if r not in names]

    def standalone(orig: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(orig)
        def restore(self: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            database = orig(self, *args, **kwargs)
            database.is_replica = False
            database.source_db_instance_identifier = None
            database.replicas = []
            return database

        return restore

    RDSBackend.promote_read_replica = promote_read_replica
    DBInstance.remove_replica = remove_replica
    RDSBackend.restore_db_instance_from_db_snapshot = standalone(
        RDSBackend.restore_db_instance_from_db_snapshot
    )
    RDSBackend.restore_db_instance_to_point_in_time = standalone(
        RDSBackend.restore_db_instance_to_point_in_time
    )


@_once
def rds_cross_region_replica_own_parameter_group() -> None:
    """A cross-region read replica made without ``DBParameterGroupName`` gets its own region's
    default parameter group (AWS), instead of a copy of the source's group name (moto), which does
    not exist in the replica's region and makes every later describe of it fail with a 500.

    moto's ``create_db_instance_read_replica`` builds the replica as ``copy.copy(source)``, so
    every attribute the request does not override is the source's.
    """
    from moto.rds.models import RDSBackend

    original = RDSBackend.create_db_instance_read_replica

    @functools.wraps(original)
    def create_db_instance_read_replica(self: RDSBackend, db_kwargs: dict[str, Any]) -> Any:
        source = str(db_kwargs.get("source_db_instance_identifier") or "")
        asked_for_group = bool(db_kwargs.get("db_parameter_group_name"))
        replica = original(self, db_kwargs)
        source_region = source.split(":")[3] if source.startswith("arn:") else self.region_name
        if source_region != self.region_name and not asked_for_group:
            replica.db_parameter_group_name = None
        return replica

    RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica


@_once
def names_already_taken_are_refused() -> None:
    """A create under a name that is already taken is refused (AWS), instead of replacing or
    duplicating what is there (moto):

    * ``CreateDBInstanceReadReplica`` with an identifier in use answers ``DBInstanceAlreadyExists``
      (moto replaced the existing instance with a new replica);
    * ``CreateImage`` and ``CopyImage`` with the name of an image the account already has in that
      region answer ``InvalidAMIName.Duplicate`` (moto made a second image of that name).

    A retried create whose first attempt was applied (the ``lost`` fault) meets exactly these.
    """
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.amis import AmiBackend
    from moto.rds.models import RDSBackend

    create_replica = RDSBackend.create_db_instance_read_replica

    @functools.wraps(create_replica)
    def create_db_instance_read_replica(self: RDSBackend, db_kwargs: dict[str, Any]) -> Any:
        if db_kwargs.get("db_instance_identifier") in self.databases:
            raise _rds_error("DBInstanceAlreadyExists", "DB instance already exists")
        return create_replica(self, db_kwargs)

    def refuse_taken_name(backend: Any, name: str | None) -> None:
        if not name:
            return
        for image in list(backend.amis.values()):
            mine = getattr(image, "owner_id", None) == backend.account_id
            if mine and image.name == name and image.state != "deregistered":
                raise EC2ClientError(
                    "InvalidAMIName.Duplicate",
                    f"AMI name {name} is already in use by AMI {image.id}",
                )

    create_image = AmiBackend.create_image
    copy_image = AmiBackend.copy_image

    @functools.wraps(create_image)
    def create_image_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse_taken_name(self, _bound_arguments(create_image, (self, *args), kwargs).get("name"))
        return create_image(self, *args, **kwargs)

    @functools.wraps(copy_image)
    def copy_image_once(self: Any, *args: Any, **kwargs: Any) -> Any:
        refuse_taken_name(self, _bound_arguments(copy_image, (self, *args), kwargs).get("name"))
        return copy_image(self, *args, **kwargs)

    RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica
    AmiBackend.create_image = create_image_once
    AmiBackend.copy_image = copy_image_once


@_once
def rds_automated_backup_never_blocks_a_create() -> None:
    """Creating (or restoring) an instance never fails because of its automated backup (AWS).

    moto names an instance's automated snapshot ``rds:<id>-<YYYY-MM-DD-HH-MM>`` and creates it as part
    of the create; a second instance under the same identifier within the same minute (an old
    primary renamed, then a restore under its name: exactly what a failback does) fails with
    ``DBSnapshotAlreadyExists``. Here the backup gets a free name (``-2``, ``-3``, …) instead.
    """
    from moto.rds.models import RDSBackend

    original = RDSBackend.create_auto_snapshot

    @functools.wraps(original)
    def create_auto_snapshot(
        self: RDSBackend, db_instance_identifier: str, db_snapshot_identifier: str
    ) -> Any:
        name, n = db_snapshot_identifier, 1
        while name in self.database_snapshots:
            n += 1
            name = f"{db_snapshot_identifier}-{n}"
        return original(self, db_instance_identifier, name)

    RDSBackend.create_auto_snapshot = create_auto_snapshot


# --------------------------------------------------------------------------------------------------
# 2. EC2: CreateLaunchTemplateVersion honours SourceVersion
# --------------------------------------------------------------------------------------------------


@_once
def ec2_launch_template_source_version() -> None:
    """CreateLaunchTemplateVersion with ``SourceVersion`` inherits that version's data (AWS).

    moto ignores ``SourceVersion``: the new version holds only the ``LaunchTemplateData`` of the
    request, so an update of the AMI loses the instance type, user data, tags... On AWS the new
    version starts from the source version's data and the top-level keys given in the request's
    ``LaunchTemplateData`` replace the inherited ones. ``SourceVersion`` may be a version number,
    ``$Latest`` or ``$Default``; an unknown version fails with
    ``InvalidLaunchTemplateId.VersionNotFound``.
    """
    from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
    from moto.ec2.responses.launch_templates import LaunchTemplates

    original = LaunchTemplates.create_launch_template_version

    @functools.wraps(original)
    def create_launch_template_version(self: Any) -> Any:
        source_version = self._get_param("SourceVersion")
        if source_version is None or str(source_version) == "":
            return original(self)

        from moto.core.responses import ActionResult

        name = self._get_param("LaunchTemplateName")
        template_id = self._get_param("LaunchTemplateId")
        if template_id:
            template = self.ec2_backend.get_launch_template(template_id)
        else:
            template = self.ec2_backend.get_launch_template_by_name(name)

        wanted = str(source_version)
        if wanted.lower() not in ("$latest", "$default") and (
            not wanted.isdigit() or int(wanted) < 1
        ):
            raise InvalidLaunchTemplateVersionNotFound(template_id=template.id, version=wanted)
        source = template.get_version(wanted)

        data = copy.deepcopy(source.data)
        data.update(self._get_param("LaunchTemplateData", {}) or {})
        description = self._get_param("VersionDescription")

        self.error_on_dryrun()

        version = template.create_version(data, description)
        return ActionResult(
            {
                "LaunchTemplateVersion": {
                    "CreateTime": version.create_time,
                    "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                    "DefaultVersion": template.is_default(version),
                    "LaunchTemplateData": version.data,
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "VersionDescription": version.description,
                    "VersionNumber": version.number,
                }
            }
        )

    LaunchTemplates.create_launch_template_version = create_launch_template_version


# --------------------------------------------------------------------------------------------------
# 3. Auto Scaling: desired capacity must lie within [min, max]
# --------------------------------------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _bound_arguments(func: Callable[..., Any], args: Any, kwargs: Any) -> dict[str, Any]:
    bound = inspect.signature(func).bind_partial(*args, **kwargs)
    return dict(bound.arguments)


@_once
def autoscaling_desired_within_bounds() -> None:
    """Desired capacity outside [min, max] is a ``ValidationError`` (AWS), not a launch (moto).

    CreateAutoScalingGroup and UpdateAutoScalingGroup (checked against the min and max the group
    will have after the update) fail with "Desired capacity:10 must be between the specified min
    size:0 and max size:4"; SetDesiredCapacity fails with "New SetDesiredCapacity value 10 is above
    max value 4 for the AutoScalingGroup." (or "below min value"). All HTTP 400, nothing changes.
    Deleting a group (which moto does by setting its desired capacity to 0) ignores its MinSize,
    as AWS does.
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend

    def check_between(desired: int | None, min_size: int | None, max_size: int | None) -> None:
        if desired is None:
            return
        too_small = min_size is not None and desired < min_size
        too_big = max_size is not None and desired > max_size
        if too_small or too_big:
            raise ValidationError(
                f"Desired capacity:{desired} must be between the specified "
                f"min size:{min_size} and max size:{max_size}"
            )

    create_original = AutoScalingBackend.create_auto_scaling_group
    update_original = AutoScalingBackend.update_auto_scaling_group
    set_desired_original = AutoScalingBackend.set_desired_capacity

    @functools.wraps(create_original)
    def create_auto_scaling_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bound_arguments(create_original, (self, *args), kwargs)
        check_between(
            _int_or_none(arguments.get("desired_capacity")),
            _int_or_none(arguments.get("min_size")),
            _int_or_none(arguments.get("max_size")),
        )
        return create_original(self, *args, **kwargs)

    @functools.wraps(update_original)
    def update_auto_scaling_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bound_arguments(update_original, (self, *args), kwargs)
        group = self.autoscaling_groups.get(arguments.get("name"))
        if group is not None:
            new_min = _int_or_none(arguments.get("min_size"))
            new_max = _int_or_none(arguments.get("max_size"))
            check_between(
                _int_or_none(arguments.get("desired_capacity")),
                group.min_size if new_min is None else new_min,
                group.max_size if new_max is None else new_max,
            )
        return update_original(self, *args, **kwargs)

    @functools.wraps(set_desired_original)
    def set_desired_capacity(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bound_arguments(set_desired_original, (self, *args), kwargs)
        group = self.autoscaling_groups.get(arguments.get("group_name"))
        desired = _int_or_none(arguments.get("desired_capacity"))
        if group is not None and desired is not None:
            if group.max_size is not None and desired > group.max_size:
                raise ValidationError(
                    f"New SetDesiredCapacity value {desired} is above max value "
                    f"{group.max_size} for the AutoScalingGroup."
                )
            if group.min_size is not None and desired < group.min_size:
                raise ValidationError(
                    f"New SetDesiredCapacity value {desired} is below min value "
                    f"{group.min_size} for the AutoScalingGroup."
                )
        return set_desired_original(self, *args, **kwargs)

    delete_original = AutoScalingBackend.delete_auto_scaling_group

    @functools.wraps(delete_original)
    def delete_auto_scaling_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto deletes by setting the desired capacity to 0 through set_desired_capacity; AWS
        # deletes a group whatever its MinSize, so the bound does not apply here.
        arguments = _bound_arguments(delete_original, (self, *args), kwargs)
        group = self.autoscaling_groups.get(arguments.get("group_name"))
        previous_min = group.min_size if group is not None else None
        if group is not None:
            group.min_size = 0
        try:
            return delete_original(self, *args, **kwargs)
        except Exception:
            if group is not None:
                group.min_size = previous_min
            raise

    AutoScalingBackend.create_auto_scaling_group = create_auto_scaling_group
    AutoScalingBackend.update_auto_scaling_group = update_auto_scaling_group
    AutoScalingBackend.set_desired_capacity = set_desired_capacity
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group


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


# --------------------------------------------------------------------------------------------------
# 4. Operation durations
# --------------------------------------------------------------------------------------------------

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


def _wrap_after(cls: Any, name: str, after: Callable[[Any, Any, int], None]) -> None:
    """Wrap the response method ``cls.name``: ``after(self, result, generation)`` runs once the
    original has succeeded, before the result is serialized."""
    original = getattr(cls, name)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        generation = TRANSITIONS.generation
        result = original(self, *args, **kwargs)
        after(self, result, generation)
        return result

    setattr(cls, name, wrapper)


def _result(result: Any, key: str) -> Any:
    """The model object under ``key`` in a response method's ActionResult."""
    body = getattr(result, "result", None)
    return body.get(key) if isinstance(body, dict) else None


def _status_transition(
    generation: int, operation: str, resource: Any, resource_id: str, attribute: str, final: str
) -> None:
    seconds = TRANSITIONS.seconds(operation, resource_id)
    if seconds <= 0 or resource is None:
        return
    intermediate = OPERATIONS[operation]

    def start() -> None:
        setattr(resource, attribute, intermediate)

    def finish() -> None:
        if getattr(resource, attribute) == intermediate:
            setattr(resource, attribute, final)

    TRANSITIONS.defer(generation, operation, seconds, start, finish, key=(operation, id(resource)))


@_once
def operation_durations() -> None:
    """Long operations take a configurable time (AWS) instead of finishing at once (moto).

    moto puts every resource in its final state within the call, so poll loops and timelines never
    see ``creating``/``modifying``/``pending``. With a rule ``{"operation": ..., "seconds": S,
    "resourcePrefix": P}`` (``POST /pilot-light/durations``) an operation on a resource whose
    identifier starts with P shows its intermediate state to every describe call for S seconds, then
    its final state:

    * ``rds.create_db_instance``, ``rds.create_db_instance_read_replica``,
      ``rds.restore_db_instance_from_db_snapshot``: DBInstanceStatus ``creating`` → ``available``;
    * ``rds.promote_read_replica``: ``modifying`` → ``available``; the replica stays attached
      (``ReadReplicaSourceDBInstanceIdentifier``) until the promotion completes; promoting an
      instance with any operation in flight (a second promotion, a replica still ``creating``)
      fails with ``InvalidDBInstanceState``;
    * ``rds.modify_db_instance``: ``modifying`` → ``available`` (moto has already applied the new
      values; AWS shows them as PendingModifiedValues until the end);
    * ``rds.delete_db_instance``: still described, ``deleting``, then DBInstanceNotFound;
    * ``rds.create_db_snapshot``, ``rds.copy_db_snapshot``: snapshot Status ``creating`` →
      ``available``;
    * ``ec2.create_image``, ``ec2.copy_image`` (identifier = image name): ``pending`` →
      ``available``;
    * ``autoscaling.launch_instance`` (identifier = group name): new group instances are
      LifecycleState ``Pending`` and EC2 state ``pending``, then ``InService`` / ``running``;
      pending instances count towards the group's capacity;
    * ``route53.change_resource_record_sets`` (identifier = the hosted zone's name): the change has
      an ID of its own and is ``PENDING`` (in its answer and to ``GetChange``), then ``INSYNC``
      (moto: every change ``INSYNC`` at once, all with one fixed ID).

    Identifiers match case-insensitively; prefix ``""`` matches everything; no rule = 0 s = moto's
    instant behaviour. ``/moto-api/reset`` also drops the rules and the transitions in flight.
    """
    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.ec2.responses.amis import AmisResponse
    from moto.rds.models import RDSBackend
    from moto.rds.responses import RDSResponse
    from moto.route53.responses import Route53 as Route53Response

    _install_server_hooks()

    # RDS instances that are created ----------------------------------------------------------
    def db_created(operation: str) -> Callable[[Any, Any, int], None]:
        def after(response: Any, result: Any, generation: int) -> None:
            database = _result(result, "DBInstance")
            if database is not None:
                _status_transition(
                    generation, operation, database, database.db_instance_identifier,
                    "status", "available",
                )

        return after

    for operation in (
        "create_db_instance",
        "create_db_instance_read_replica",
        "restore_db_instance_from_db_snapshot",
        "modify_db_instance",
    ):
        _wrap_after(RDSResponse, operation, db_created(f"rds.{operation}"))

    # RDS snapshots ---------------------------------------------------------------------------
    def snapshot_created(operation: str) -> Callable[[Any, Any, int], None]:
        def after(response: Any, result: Any, generation: int) -> None:
            snapshot = _result(result, "DBSnapshot")
            if snapshot is not None:
                _status_transition(
                    generation, operation, snapshot, snapshot.db_snapshot_identifier,
                    "status", "available",
                )

        return after

    _wrap_after(RDSResponse, "create_db_snapshot", snapshot_created("rds.create_db_snapshot"))
    _wrap_after(RDSResponse, "copy_db_snapshot", snapshot_created("rds.copy_db_snapshot"))

    # RDS delete: keep describing the instance as "deleting" until the end ---------------------
    delete_original = RDSResponse.delete_db_instance

    @functools.wraps(delete_original)
    def delete_db_instance(self: Any) -> Any:
        generation = TRANSITIONS.generation
        backend = self.backend
        db_id = self._get_param("DBInstanceIdentifier")
        current = backend.databases.get(db_id) if db_id else None
        if current is not None and TRANSITIONS.is_pending(("rds.delete_db_instance", id(current))):
            raise _rds_error(
                "InvalidDBInstanceState", f"Instance {db_id} is already being deleted."
            )
        result = delete_original(self)
        database = _result(result, "DBInstance")
        if database is None:
            return result
        seconds = TRANSITIONS.seconds("rds.delete_db_instance", database.db_instance_identifier)
        if seconds <= 0:
            return result
        key = database.db_instance_identifier

        def start() -> None:
            database.status = "deleting"
            backend.databases.setdefault(key, database)

        def finish() -> None:
            if backend.databases.get(key) is database:
                del backend.databases[key]

        TRANSITIONS.defer(
            generation, "rds.delete_db_instance", seconds, start, finish,
            key=("rds.delete_db_instance", id(database)),
        )
        return result

    RDSResponse.delete_db_instance = delete_db_instance

    # RDS promote: stays a replica, "modifying", until the promotion completes -----------------
    promote_original = RDSBackend.promote_read_replica

    @functools.wraps(promote_original)
    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        db_id = db_kwargs["db_instance_identifier"]
        database = self.databases.get(db_id)
        key = ("rds.promote_read_replica", id(database))
        busy = TRANSITIONS.pending_operation(database) if database is not None else None
        if busy is not None:
            raise _rds_error(
                "InvalidDBInstanceState",
                f"DB instance {db_id} is not available (status {database.status}): {busy} "
                "has not completed.",
            )
        seconds = TRANSITIONS.seconds("rds.promote_read_replica", db_id)
        if database is None or seconds <= 0 or not database.is_replica:
            return promote_original(self, db_kwargs)
        generation = TRANSITIONS.generation

        def start() -> None:
            database.status = "modifying"

        def finish() -> None:
            if self.databases.get(db_id) is database and database.is_replica:
                promote_original(self, db_kwargs)
            if database.status == "modifying":
                database.status = "available"

        TRANSITIONS.defer(generation, "rds.promote_read_replica", seconds, start, finish, key=key)
        return database

    RDSBackend.promote_read_replica = promote_read_replica

    # EC2 images -----------------------------------------------------------------------------
    def image_created(operation: str) -> Callable[[Any, Any, int], None]:
        def after(response: Any, result: Any, generation: int) -> None:
            image_id = _result(result, "ImageId")
            image = response.ec2_backend.amis.get(image_id) if image_id else None
            if image is not None:
                _status_transition(
                    generation, operation, image, image.name or "", "state", "available"
                )

        return after

    _wrap_after(AmisResponse, "create_image", image_created("ec2.create_image"))
    _wrap_after(AmisResponse, "copy_image", image_created("ec2.copy_image"))

    # Auto Scaling instance launches ---------------------------------------------------------
    launch_original = FakeAutoScalingGroup.replace_autoscaling_group_instances

    @functools.wraps(launch_original)
    def replace_autoscaling_group_instances(self: Any, *args: Any, **kwargs: Any) -> Any:
        generation = TRANSITIONS.generation
        before = {id(state) for state in self.instance_states}
        result = launch_original(self, *args, **kwargs)
        seconds = TRANSITIONS.seconds("autoscaling.launch_instance", self.name)
        if seconds <= 0:
            return result
        launched = [state for state in self.instance_states if id(state) not in before]
        if not launched:
            return result

        def start() -> None:
            for state in launched:
                state.lifecycle_state = "Pending"
                state.instance._state.name = "pending"
                state.instance._state.code = 0

        def finish() -> None:
            for state in launched:
                if state.lifecycle_state == "Pending":
                    state.lifecycle_state = "InService"
                if state.instance._state.name == "pending":
                    state.instance._state.name = "running"
                    state.instance._state.code = 16

        TRANSITIONS.defer(
            generation, "autoscaling.launch_instance", seconds, start, finish,
            key=("autoscaling.launch_instance", id(self)),
        )
        return result

    def active_instances(self: Any) -> list[Any]:
        # Pending instances are part of the group's capacity (moto counts InService only, so it
        # would launch a second batch while the first is still pending).
        return [s for s in self.instance_states if s.lifecycle_state in ("InService", "Pending")]

    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances
    FakeAutoScalingGroup.active_instances = active_instances

    # Route 53 record changes ----------------------------------------------------------------
    # moto answers every change INSYNC with one fixed change ID. With a rule (identifier = the
    # hosted zone's name), a change gets an ID of its own and is PENDING, in its answer and to
    # GetChange, until its time has passed; then INSYNC. Without a rule, moto's answer stands.
    change_numbers = itertools.count(1)

    def change_key(change_id: str) -> tuple[str, str]:
        return ("route53.change_resource_record_sets", change_id.rsplit("/", 1)[-1])

    def records_changed(response: Any, result: Any, generation: int) -> None:
        info = _result(result, "ChangeInfo")
        if not isinstance(info, dict):
            return
        try:
            zone = response.backend.get_hosted_zone(response._get_param("HostedZoneId"))
        except Exception:
            return
        operation = "route53.change_resource_record_sets"
        seconds = TRANSITIONS.seconds(operation, str(zone.name))
        if seconds <= 0:
            return
        change_id = f"/change/CPL{next(change_numbers):010d}"

        def start() -> None:
            info["Id"] = change_id
            info["Status"] = OPERATIONS[operation]

        TRANSITIONS.defer(
            generation, operation, seconds, start, lambda: None, key=change_key(change_id)
        )

    def change_read(response: Any, result: Any, generation: int) -> None:
        info = _result(result, "ChangeInfo")
        if isinstance(info, dict) and TRANSITIONS.is_pending(change_key(str(info.get("Id", "")))):
            info["Status"] = OPERATIONS["route53.change_resource_record_sets"]

    _wrap_after(Route53Response, "change_resource_record_sets", records_changed)
    _wrap_after(Route53Response, "get_change", change_read)

    # Server: settle due transitions before each request, control route, reset ----------------
    def settle_before_request(environ: dict[str, Any]) -> None:
        TRANSITIONS.settle()
        return None

    _BEFORE_REQUEST.insert(0, settle_before_request)
    _ROUTES["/pilot-light/durations"] = _durations_route
    _ON_RESET.append(TRANSITIONS.reset)


# --------------------------------------------------------------------------------------------------
# 4b. RDS data plane (the model lives in data_plane.py)
# --------------------------------------------------------------------------------------------------


@_once
def rds_data_plane() -> None:
    """RDS instances hold data (AWS), not only configuration (moto).

    Every DB instance keeps an ordered log of committed writes (``POST /pilot-light/data/writes``),
    accepted only while it is writable: standalone, ``available`` (or ``modifying``/``backing-up``),
    no promotion in flight, its region not in an outage. A read replica starts from its source's log
    and applies each later entry after its apply lag (default 0.3 s, ``/pilot-light/data/lag``
    rules); ``PromoteReadReplica`` cuts replication at the call; snapshots (manual, copied, final)
    freeze the log and restores start from it; a region outage (``/pilot-light/data/outage``)
    refuses writes and loses what had not replicated out of the region by then; ``ReplicaLag``
    (CloudWatch ``AWS/RDS``) is published from the model (``/pilot-light/data/metrics``: one
    datapoint per period, visible after a delay; AWS's 60 s / 60 s by default, ``stack.py``'s
    1 s / 1 s, a GetMetricStatistics period of 60 s then standing for one model period);
    ``LatestRestorableTime`` is the instance's last own write. See ``data_plane.py``. Applied after
    ``operation_durations`` and ``rds_promote_read_replica_detaches``, whose effects it reads.
    """
    _install_server_hooks()
    try:
        from . import data_plane  # type: ignore[import-not-found]
    except ImportError:
        import data_plane  # type: ignore[import-not-found, no-redef]

    data_plane.install(sys.modules[__name__])


# --------------------------------------------------------------------------------------------------
# 5. Lambda Invoke → cargo lambda watch
# --------------------------------------------------------------------------------------------------


def bare_function_name(function_name: str) -> str:
    """``arn:aws:lambda:r:a:function:name:qual``, ``a:function:name``, ``name:qual`` → ``name``."""
    name = urllib.parse.unquote(function_name)
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


def _forward_invoke(url: str, name: str, payload: bytes, timeout: float) -> tuple[int, bytes]:
    target = f"{url.rstrip('/')}/2015-03-31/functions/{urllib.parse.quote(name)}/invocations"
    request = urllib.request.Request(
        target, data=payload, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@_once
def lambda_invoke_forwarding() -> None:
    """Lambda Invoke runs the function in ``cargo lambda watch`` (AWS: runs it) instead of echoing.

    With ``lambda.use_docker=false`` moto answers Invoke from ``LambdaSimpleBackend``, which echoes
    the payload. When the environment variable ``LAMBDA_FORWARD_URL`` is set, the payload is
    POSTed to ``{url}/2015-03-31/functions/{name}/invocations`` (``name`` = bare function name: ARN
    prefix and ``:qualifier`` stripped, since cargo lambda knows only binary names).

    * HTTP 200 → the result.
    * HTTP 500 (cargo lambda's answer to a handler error, body ``{"errorType", "errorMessage"}``)
      → a Lambda *function error*: ``X-Amz-Function-Error: Unhandled`` with that body as payload,
      which is what AWS returns, so Step Functions reports ``Error`` = the handler's ``errorType``
      and ASL Retry/Catch match on it.
    * HTTP 404 (no such binary) → ``ResourceNotFoundException``; an unreachable runtime or any
      other status → ``ServiceException`` (HTTP 500).

    ``Event`` invocations are forwarded in the background and answered 202 at once; ``DryRun`` is
    not forwarded. The function does not need to exist in moto (the simple backend never looks it
    up). ``LAMBDA_FORWARD_TIMEOUT`` (seconds, default 900) bounds one invocation.
    """
    from moto.awslambda.exceptions import LambdaClientError, UnknownFunctionException
    from moto.awslambda_simple.models import LambdaSimpleBackend

    class LambdaServiceException(LambdaClientError):
        code = 500

        def __init__(self, message: str):
            super().__init__("ServiceException", message)

    original = LambdaSimpleBackend.invoke

    @functools.wraps(original)
    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        url = os.environ.get("LAMBDA_FORWARD_URL")
        if not url:
            return original(self, function_name, qualifier, body, headers, response_headers)
        name = bare_function_name(function_name)
        payload = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        if not payload.strip():
            payload = b"{}"
        timeout = float(os.environ.get("LAMBDA_FORWARD_TIMEOUT", "900"))
        invocation_type = (headers.get("X-Amz-Invocation-Type") or "RequestResponse").strip()

        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":

            def run() -> None:
                try:
                    status, _ = _forward_invoke(url, name, payload, timeout)
                    if status != 200:
                        _log(f"async invoke of {name} answered HTTP {status}")
                except Exception as error:
                    _log(f"async invoke of {name} failed: {error!r}")

            threading.Thread(target=run, name=f"invoke-{name}", daemon=True).start()
            return b""

        try:
            status, result = _forward_invoke(url, name, payload, timeout)
        except Exception as error:
            raise LambdaServiceException(
                f"Lambda runtime at {url} did not answer for {name}: {error}"
            ) from error
        if status == 200:
            return result
        if status == 500:
            try:
                parsed = json.loads(result)
                if not isinstance(parsed, dict) or "errorType" not in parsed:
                    raise ValueError("not an error object")
            except ValueError:
                result = json.dumps(
                    {"errorType": "Unhandled", "errorMessage": result.decode("utf-8", "replace")}
                ).encode("utf-8")
            response_headers["x-amz-function-error"] = "Unhandled"
            return result
        if status == 404:
            raise UnknownFunctionException(function_name)
        raise LambdaServiceException(
            f"Lambda runtime at {url} answered HTTP {status} for {name}: "
            f"{result[:500].decode('utf-8', 'replace')}"
        )

    LambdaSimpleBackend.invoke = invoke


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


# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# S3: GetBucketVersioning's XML root is VersioningConfiguration
# --------------------------------------------------------------------------------------------------

# S3 operations whose output has no payload member and whose real XML root is not
# ``<Operation>Response`` (moto's serializer's default). Only the ones pilot-light reads.
_S3_OUTPUT_ROOTS = {"GetBucketVersioning": "VersioningConfiguration"}


@_once
def s3_output_xml_roots() -> None:
    """GetBucketVersioning answers ``<VersioningConfiguration>`` as S3 does, not moto's
    ``<GetBucketVersioningResponse>``: botocore ignores the root element, the Rust SDK (strictly, as
    S3's model says) refuses the answer."""
    from moto.core.serialize import S3Serializer

    original = S3Serializer._serialized_result_to_response

    def serialized_result_to_response(self: Any, resp: Any, *args: Any, **kwargs: Any) -> Any:
        resp = original(self, resp, *args, **kwargs)
        name = self.operation_model.name
        root = _S3_OUTPUT_ROOTS.get(name)
        body = resp.get("body")
        if root and isinstance(body, str):
            wrong = f"{name}Response"
            body = body.replace(f"<{wrong}", f"<{root}", 1)
            head, sep, tail = body.rpartition(f"</{wrong}>")
            resp["body"] = f"{head}</{root}>{tail}" if sep else body
        return resp

    S3Serializer._serialized_result_to_response = serialized_result_to_response


# --------------------------------------------------------------------------------------------------


@_once
def stepfunctions_definitions_parse_independently() -> None:
    """Two definitions parsed at the same time parse as each alone (AWS). moto's ASL preprocessor
    keeps its stack of QueryLanguage scopes in a class attribute, one list shared by every parse
    in every thread: executions started together (crash cases, concurrent failovers) can build
    their evaluation components with another parse's scopes, and then fail in ways no definition
    asks for (a dict where a timeout's integer belongs, ``'str' object has no attribute 'get'``).
    Each preprocessor gets its own stack."""
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    init = Preprocessor.__init__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._query_language_per_scope = []

    Preprocessor.__init__ = __init__


@_once
def stepfunctions_stop_is_immediate() -> None:
    """StopExecution: the execution is ``ABORTED`` (with its stop date) when the call returns, as on
    AWS; a state still in flight (a Lambda invocation, an activity wait) may finish, but no state
    after it starts. moto 5.2.5 only asks the evaluation thread to stop and keeps answering
    ``RUNNING`` until that thread has wound down, which is as long as the Task in flight takes (its
    whole ``TimeoutSeconds``), and for ever when that thread never returns; and a state that fails
    after the stop (a token wait timing out) turns the stopped run into a FAILED one. The thread
    still winds down on its own; when it does, it records ``ExecutionAborted`` in the history and
    leaves the status alone."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    stop = Execution.stop

    @functools.wraps(stop)
    def stop_now(self: Any, stop_date: Any, error: Any, cause: Any) -> None:
        stop(self, stop_date, error, cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            self.error = error or None
            self.cause = cause or None

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    @functools.wraps(reflect)
    def reflect_unless_aborted(self: Any) -> None:
        if self.execution.exec_status == ExecutionStatus.ABORTED:
            return
        reflect(self)

    set_error = Environment.set_error

    @functools.wraps(set_error)
    def set_error_unless_stopped(self: Any, error: Any) -> None:
        if isinstance(self._program_state, ProgramStopped):
            return
        set_error(self, error)

    Execution.stop = stop_now
    BaseExecutionWorkerCommunication._reflect_execution_status = reflect_unless_aborted
    Environment.set_error = set_error_unless_stopped


@_once
def stepfunctions_execution_history_pages() -> None:
    """Step Functions ``GetExecutionHistory`` answers in pages, as AWS does: ``maxResults`` events a
    page (default 100, at most 1000), a ``nextToken`` while more follow, newest first with
    ``reverseOrder``, and without the events' input and output when ``includeExecutionData`` is
    false. moto 5.2.5 ignores all four and answers the whole history every time, so a caller that
    pages was never shown to, and one that watches a run for its newest events pays for all of
    them at every look. A token names the last event its page gave (by id, so events added between
    two pages neither repeat nor go missing); a token the server did not give is ``InvalidToken``."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import InvalidToken
    from moto.stepfunctions.responses import StepFunctionResponse

    default_page, largest_page = 100, 1000
    token_prefix = "pilot-light-history:"

    def read_token(token: Any) -> tuple[bool, int] | None:
        if token in (None, ""):
            return None
        text = str(token)
        try:
            direction, last = text[len(token_prefix):].split(":", 1)
            if not text.startswith(token_prefix) or direction not in ("forward", "reverse"):
                raise ValueError(text)
            return direction == "reverse", int(last)
        except ValueError as error:
            raise InvalidToken(text) from error

    def without_data(event: dict[str, Any]) -> dict[str, Any]:
        trimmed = dict(event)
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                trimmed[key] = {
                    k: v for k, v in details.items() if k not in ("input", "output")
                }
        return trimmed

    def events_now(backend: Any, arn: str) -> tuple[list[dict[str, Any]], bool]:
        """The run's events, oldest first, and whether they are the engine's own (copy before
        handing out). moto's history call deep-copies every event of the run at every call; a
        page needs only its own events copied."""
        execution = backend.describe_execution(execution_arn=arn)
        manager = getattr(getattr(getattr(execution, "exec_worker", None), "env", None),
                          "event_manager", None)
        kept = getattr(manager, "_history_event_list", None)
        mutex = getattr(manager, "_mutex", None)
        if kept is None or mutex is None:
            return list(backend.get_execution_history(arn).get("events") or []), False
        with mutex:
            return list(kept), True

    def get_execution_history(self: Any) -> Any:
        arn = self._get_param("executionArn")
        asked = self._get_param("maxResults")
        page_size = min(int(asked), largest_page) if asked else default_page
        reverse = bool(self._get_param("reverseOrder"))
        include_data = self._get_param("includeExecutionData")
        after = read_token(self._get_param("nextToken"))
        if after is not None and after[0] != reverse:
            raise InvalidToken("the token was given for the other order")
        events, shared = events_now(self.stepfunction_backend, arn)
        if reverse:
            events.reverse()
        if after is not None:
            last = after[1]
            events = [e for e in events if (e["id"] < last if reverse else e["id"] > last)]
        page = events[:page_size]
        if include_data is False:
            page = [without_data(event) for event in page]
        elif shared:
            page = copy.deepcopy(page)
        response: dict[str, Any] = {"events": page}
        if len(events) > page_size:
            direction = "reverse" if reverse else "forward"
            response["nextToken"] = f"{token_prefix}{direction}:{page[-1]['id']}"
        return ActionResult(response)

    StepFunctionResponse.get_execution_history = get_execution_history


@_once
def ssm_describe_parameters_max_results() -> None:
    """SSM ``DescribeParameters`` answers up to ``MaxResults`` parameters a page (1–50, as AWS);
    moto 5.2.5 answers 10 a page whatever ``MaxResults`` says, so a caller asking for 50 makes five
    times the calls it would make on AWS (and each page scans the whole region)."""
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse

    original = SimpleSystemManagerResponse.describe_parameters

    @functools.wraps(original)
    def describe_parameters(self: Any) -> Any:
        asked = self._get_param("MaxResults")
        if not isinstance(asked, int) or asked < 1:
            return original(self)
        page_size = min(asked, 50)
        token = str(self._get_param("NextToken") or "0").strip() or "0"
        start = int(token)
        found = self.ssm_backend.describe_parameters(
            self._get_param("Filters"), self._get_param("ParameterFilters")
        )
        page = found[start : start + page_size]
        response: dict[str, Any] = {
            "Parameters": [parameter.describe_response_object(False) for parameter in page]
        }
        if start + page_size < len(found):
            response["NextToken"] = str(start + page_size)
        return ActionResult(response)

    SimpleSystemManagerResponse.describe_parameters = describe_parameters


@_once
def ssm_parameter_listing_reads_a_snapshot() -> None:
    """SSM: a listing (``DescribeParameters``, ``GetParametersByPath``) walks the region's parameter
    dictionary while other requests may add to it; moto 5.2.5 walks the live dictionary, so a
    concurrent ``PutParameter`` of a new name fails the listing with "dictionary changed size during
    iteration" (a 500 AWS never gives). The walk reads the names as they are when it starts."""
    from moto.ssm.models import ParameterDict

    def names_now(self: Any) -> Any:
        return iter(list(dict.keys(self)))

    ParameterDict.__iter__ = names_now


@_once
def events_target_constant_input() -> None:
    """EventBridge: a target's ``Input`` (constant JSON text) is what the target receives, in place of
    the matched event. moto 5.2.5 ignores ``Input`` and delivers the event itself."""
    from moto.events.models import Rule

    send = Rule.send_to_targets

    @functools.wraps(send)
    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        constant = [t for t in self.targets if "Input" in t]
        if not constant or not transform_input:
            return send(self, original_event, transform_input)
        targets = self.targets
        try:
            self.targets = [t for t in targets if "Input" not in t]
            send(self, original_event, transform_input)
            for target in constant:
                # A template without placeholders is the constant itself.
                as_template = {k: v for k, v in target.items() if k != "Input"}
                as_template["InputTransformer"] = {"InputTemplate": target["Input"]}
                self.targets = [as_template]
                send(self, original_event, transform_input)
        finally:
            self.targets = targets

    Rule.send_to_targets = send_to_targets


ALL_PATCHES: tuple[Callable[[], None], ...] = (
    stepfunctions_definitions_parse_independently,
    stepfunctions_stop_is_immediate,
    stepfunctions_execution_history_pages,
    rds_promote_read_replica_detaches,
    rds_cross_region_replica_own_parameter_group,
    names_already_taken_are_refused,
    rds_automated_backup_never_blocks_a_create,
    ec2_launch_template_source_version,
    autoscaling_desired_within_bounds,
    events_target_constant_input,
    ssm_describe_parameters_max_results,
    ssm_parameter_listing_reads_a_snapshot,
    operation_durations,
    rds_data_plane,
    lambda_invoke_forwarding,
    request_log,
    fault_injection,
    secret_canaries,
    s3_output_xml_roots,
)


def apply_all() -> None:
    """Apply every patch (idempotent). Refuses a moto other than the pinned one."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"tests/emulator/patches.py is written against moto {MOTO_VERSION}, found "
            f"{moto.__version__}: re-check each patch against the new source before moving the pin"
        )
    for patch in ALL_PATCHES:
        patch()
    import speed  # the same directory: what makes the one emulator process faster, no answer changed

    speed.apply_speedups()
