"""The patch ``operation_durations``: long operations take the time their rules give (the model
and its control route are in ``transitions.py``)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

from ._common import _once
from .rds import _rds_error
from .server import _BEFORE_REQUEST, _ON_RESET, _ROUTES, _install_server_hooks
from .transitions import OPERATIONS, TRANSITIONS, _durations_route


# --------------------------------------------------------------------------------------------------
# 4. Operation durations
# --------------------------------------------------------------------------------------------------


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
