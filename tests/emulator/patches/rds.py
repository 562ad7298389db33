"""RDS patches: promotion detaches, a cross-region replica's own parameter group, taken names
refused, automated backups never block a create, and the hook of the RDS data plane."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from ._common import _bound_arguments, _once
from .server import _install_server_hooks


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
        from .. import data_plane  # type: ignore[import-not-found]
    except ImportError:
        import data_plane  # type: ignore[import-not-found, no-redef]

    # ``host`` is the package: its control-route registry, request hooks, ``TRANSITIONS`` …
    data_plane.install(sys.modules[__package__ or __name__])
