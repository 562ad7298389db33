"""The RDS data plane of the local AWS: what the databases hold, not only what the control plane
says.

moto models RDS as configuration only: a read replica, a promotion, a snapshot or a regional outage
change what ``DescribeDBInstances`` answers and nothing else, so a test cannot tell which writes a
failover kept. This module gives every DB instance an ordered log of committed writes and makes the
RDS operations act on it as AWS does:

* a *write* (``POST /pilot-light/data/writes``) is accepted only by a writable instance:
  standalone, ``available`` (or ``modifying`` / ``backing-up`` from an ordinary modify or snapshot),
  no promotion in flight, its region not in an outage;
* a read replica starts as a copy of its source's log and applies each later source entry once
  ``now >= entry.time + lag`` (the replica's apply lag, by prefix rule, default 0.3 s); it refuses
  writes;
* ``PromoteReadReplica`` cuts replication at the call (what was applied by then is kept, nothing
  later arrives) and the instance takes writes once the promotion has finished;
* a snapshot freezes the log at its creation; a copy keeps it; a restore starts from it; the final
  snapshot of a delete holds the log at the delete;
* a region outage refuses writes into the region and stops replication out of it: entries committed
  there less than ``lag`` before the outage never reach a replica elsewhere unless the region comes
  back;
* each replica publishes CloudWatch ``AWS/RDS`` ``ReplicaLag`` from the model, one datapoint per
  period, visible ``delay`` after its timestamp;
* ``LatestRestorableTime`` is the time of the instance's last own write (or its creation).

Evaluation is lazy, like the durations: every link is settled up to now before each AWS request and
in each control route; there are no timer threads. One lock guards the whole model. The log of an
instance is attached to moto's ``DBInstance`` object (attribute ``_pl_data``), so a rename keeps it;
a snapshot's frozen log is attached to moto's ``DBSnapshot`` (``_pl_log``).

``install(host)`` is called by ``patches.rds_data_plane``; ``host`` is the ``patches`` module (its
control-route registry, request hooks, ``TRANSITIONS`` …).
"""

from __future__ import annotations

import bisect
import functools
import inspect
import json
import math
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

#: apply lag of a replica no rule matches, seconds
DEFAULT_LAG_SECONDS = 0.3
#: AWS's values: one ReplicaLag datapoint a minute, visible about a minute later
DEFAULT_PERIOD_SECONDS = 60.0
DEFAULT_DELAY_SECONDS = 60.0
#: at most this many datapoints are published per replica in one settle (a long idle stretch with
#: a short period): the older boundaries are skipped
MAX_CATCH_UP_DATAPOINTS = 1000
#: statuses in which a standalone instance takes writes (no promotion in flight)
WRITABLE_STATUSES = frozenset({"available", "modifying", "backing-up"})
PROMOTION = "rds.promote_read_replica"

INSTANCE_ATTRIBUTE = "_pl_data"
SNAPSHOT_ATTRIBUTE = "_pl_log"
METRIC_NAMESPACE, METRIC_NAME = "AWS/RDS", "ReplicaLag"

_EPOCH = datetime(1970, 1, 1)


def _naive_utc(epoch: float) -> datetime:
    """moto keeps naive UTC datetimes."""
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------------


class Link:
    """Replication of ``source`` into a replica: ``next`` is the index of the next source entry to
    apply; ``applied_at[k]`` is when entry ``start + k`` was applied (non-decreasing)."""

    __slots__ = ("applied_at", "cut_at", "last_metric_us", "next", "source", "start")

    def __init__(self, source: InstanceData) -> None:
        self.source = source
        self.start = len(source.log)
        self.next = self.start
        self.applied_at: list[float] = []
        self.cut_at: float | None = None
        self.last_metric_us: int | None = None


class InstanceData:
    """One physical instance: its incarnation and its log of committed writes."""

    __slots__ = ("created", "ids", "incarnation", "last_own_time", "link", "log", "owner")

    def __init__(self, owner: Any, now: float, log: list[dict[str, Any]] | None = None) -> None:
        self.owner = owner
        self.incarnation = uuid.uuid4().hex
        self.created = now
        self.log: list[dict[str, Any]] = list(log or [])
        self.ids: set[str] = {entry["writeId"] for entry in self.log}
        self.link: Link | None = None
        self.last_own_time: float | None = None

    # moto's view of the instance ------------------------------------------------------------------
    @property
    def identifier(self) -> str:
        return str(self.owner.db_instance_identifier)

    @property
    def region(self) -> str:
        return str(self.owner.region)

    @property
    def account(self) -> str:
        return str(self.owner.account_id)

    def is_live(self) -> bool:
        """The current incarnation of an instance moto still has (deleting ones included): not
        deleted, not wiped by a reset, not superseded by another incarnation of the object."""
        try:
            owner = self.owner
            return (
                owner.__dict__.get(INSTANCE_ATTRIBUTE) is self
                and owner.backend.databases.get(self.identifier) is owner
            )
        except Exception:
            return False

    def linked(self) -> bool:
        return self.link is not None and self.link.cut_at is None

    def replica_of(self) -> dict[str, Any] | None:
        if self.link is None or self.link.cut_at is not None:
            return None
        source = self.link.source
        return {
            "region": source.region,
            "instance": source.identifier,
            "incarnation": source.incarnation,
        }


class Outage:
    __slots__ = ("prefix", "region", "since", "until")

    def __init__(self, region: str, prefix: str, since: float) -> None:
        self.region = region
        self.prefix = prefix
        self.since = since
        self.until: float | None = None

    def covers(self, region: str, identifier: str) -> bool:
        return region == self.region and identifier.lower().startswith(self.prefix.lower())

    def describe(self) -> dict[str, Any]:
        return {"region": self.region, "resourcePrefix": self.prefix, "since": self.since}


class DataPlane:
    """The model: every instance's data, the replication links, apply-lag rules, outages and the
    ReplicaLag metric configuration. Guarded by one re-entrant lock."""

    def __init__(self, transitions: Any = None) -> None:
        self.lock = threading.RLock()
        self.transitions = transitions
        self.instances: dict[str, InstanceData] = {}  # incarnation → data
        self.replicas: list[InstanceData] = []  # with a link still applying or publishing
        self.lag_rules: list[dict[str, Any]] = []
        self.outages: list[Outage] = []  # active and ended (the ended ones still date applies)
        self.period_us = int(DEFAULT_PERIOD_SECONDS * 1_000_000)
        self.delay = DEFAULT_DELAY_SECONDS
        self.last_prune = 0.0

    # instances --------------------------------------------------------------------------------
    def data_of(self, instance: Any, now: float | None = None) -> InstanceData:
        """The instance's data; created (empty log) for an instance the hooks have not seen, or for
        a copy of another instance's object (moto copies objects to make replicas and snapshots)."""
        with self.lock:
            data = instance.__dict__.get(INSTANCE_ATTRIBUTE)
            if isinstance(data, InstanceData) and data.owner is instance:
                return data
            return self.attach(instance, now if now is not None else time.time())

    def attach(
        self, instance: Any, now: float, log: list[dict[str, Any]] | None = None
    ) -> InstanceData:
        """A new incarnation for ``instance``, starting from ``log``."""
        with self.lock:
            data = InstanceData(instance, now, log)
            instance.__dict__[INSTANCE_ATTRIBUTE] = data
            self.instances[data.incarnation] = data
            return data

    def start_from(self, instance: Any, now: float, log: list[dict[str, Any]]) -> InstanceData:
        """A just-created instance (a restore) starts from ``log``."""
        with self.lock:
            data = self.data_of(instance, now)
            data.log = list(log)
            data.ids = {entry["writeId"] for entry in data.log}
            return data

    def attach_replica(self, replica: Any, source: Any) -> InstanceData:
        """``replica`` starts from ``source``'s log as it is now, and follows it."""
        with self.lock:
            now = time.time()
            self.settle(now)
            source_data = self.data_of(source, now)
            data = self.attach(replica, now, source_data.log)
            data.link = Link(source_data)
            self.replicas.append(data)
            return data

    def cut(self, instance: Any, at: float) -> None:
        """Replication into ``instance`` stops at ``at`` (a promotion)."""
        with self.lock:
            data = self.data_of(instance)
            if data.link is not None and data.link.cut_at is None:
                data.link.cut_at = at

    def live_instances(self) -> list[InstanceData]:
        with self.lock:
            dead = [key for key, data in self.instances.items() if not data.is_live()]
            for key in dead:
                del self.instances[key]
            return list(self.instances.values())

    # rules ------------------------------------------------------------------------------------
    def lag_for(self, identifier: str) -> float:
        """The apply lag of a replica: the longest matching prefix wins (the rule added last among
        equals); no rule: ``DEFAULT_LAG_SECONDS``."""
        name = identifier.lower()
        best: dict[str, Any] | None = None
        for rule in self.lag_rules:
            if name.startswith(rule["resourcePrefix"].lower()) and (
                best is None or len(rule["resourcePrefix"]) >= len(best["resourcePrefix"])
            ):
                best = rule
        return float(best["seconds"]) if best else DEFAULT_LAG_SECONDS

    def active_outage(self, region: str, identifier: str) -> Outage | None:
        for outage in self.outages:
            if outage.until is None and outage.covers(region, identifier):
                return outage
        return None

    def _release_time(self, candidate: float, region: str, identifier: str) -> float:
        """When an entry of a source (``region``, ``identifier``) due at ``candidate`` can leave the
        region: ``candidate``, or the end of the outage it falls in (infinite while it lasts)."""
        moved = True
        while moved:
            moved = False
            for outage in self.outages:
                if not outage.covers(region, identifier) or candidate < outage.since:
                    continue
                end = math.inf if outage.until is None else outage.until
                if candidate < end:
                    candidate, moved = end, True
            if math.isinf(candidate):
                break
        return candidate

    # settling ---------------------------------------------------------------------------------
    def settle(self, now: float | None = None) -> None:
        """Apply every due entry of every link, and publish every due ReplicaLag datapoint."""
        now = time.time() if now is None else now
        with self.lock:
            if now - self.last_prune > 30:
                self.last_prune = now
                self.live_instances()
            if not self.replicas:
                return
            keep: list[InstanceData] = []
            for data in self.replicas:
                if not data.is_live():
                    continue
                self._apply(data, now, depth=0)
                if self._publish(data, now):
                    keep.append(data)
            self.replicas = keep

    def _apply(self, data: InstanceData, now: float, depth: int) -> None:
        link = data.link
        if link is None:
            return
        source = link.source
        if source.link is not None and depth < 8:  # a replica of a replica: its source first
            self._apply(source, now, depth + 1)
        limit = now if link.cut_at is None else min(now, link.cut_at)
        lag = self.lag_for(data.identifier)
        region, identifier = source.region, source.identifier
        previous = link.applied_at[-1] if link.applied_at else -math.inf
        log = source.log
        while link.next < len(log):
            entry = log[link.next]
            due = max(entry["time"] + lag, previous)
            if self.outages:
                due = self._release_time(due, region, identifier)
            if due > limit:
                break
            data.log.append(entry)
            data.ids.add(entry["writeId"])
            link.applied_at.append(due)
            previous = due
            link.next += 1

    def lag_at(self, data: InstanceData, at: float) -> float:
        """ReplicaLag at ``at``: 0 when every source entry committed by ``at`` had been applied by
        then, else how long the oldest such entry not yet applied had been waiting."""
        link = data.link
        if link is None:
            return 0.0
        applied = bisect.bisect_right(link.applied_at, at)
        index = link.start + applied
        log = link.source.log
        if index < len(log) and log[index]["time"] <= at:
            return max(0.0, at - log[index]["time"])
        return 0.0

    def _publish(self, data: InstanceData, now: float) -> bool:
        """Publish the replica's due ReplicaLag datapoints; False once it never will again."""
        link = data.link
        if link is None:
            return False
        period = self.period_us
        if link.last_metric_us is None:
            created_us = math.ceil(data.created * 1_000_000)
            following = -(-created_us // period) * period
        else:
            following = (link.last_metric_us // period + 1) * period
        last_us = math.floor((now - self.delay) * 1_000_000)
        if link.cut_at is not None:
            last_us = min(last_us, math.floor(link.cut_at * 1_000_000))
        if following <= last_us:
            due = (last_us - following) // period + 1
            if due > MAX_CATCH_UP_DATAPOINTS:
                following += (due - MAX_CATCH_UP_DATAPOINTS) * period
            backend = self._cloudwatch(data)
            if backend is not None:
                from moto.cloudwatch.models import MetricDatum

                dimensions = [{"Name": "DBInstanceIdentifier", "Value": data.identifier}]
                while following <= last_us:
                    at = following / 1_000_000
                    backend.metric_data.append(
                        MetricDatum(
                            METRIC_NAMESPACE,
                            METRIC_NAME,
                            round(self.lag_at(data, at), 6),
                            dimensions,
                            _EPOCH + timedelta(microseconds=following),
                            "Seconds",
                        )
                    )
                    link.last_metric_us = following
                    following += period
        if link.cut_at is None:
            return True
        return following <= math.floor(link.cut_at * 1_000_000)

    @staticmethod
    def _cloudwatch(data: InstanceData) -> Any:
        try:
            from moto.cloudwatch.models import cloudwatch_backends

            return cloudwatch_backends[data.account][data.region]
        except Exception:
            return None

    # writes -----------------------------------------------------------------------------------
    def refusal(self, data: InstanceData, now: float) -> tuple[int, dict[str, Any]] | None:
        """Why ``data`` takes no write now (HTTP status, body), or None when it is writable."""
        owner = data.owner
        outage = self.active_outage(data.region, data.identifier)
        if outage is not None:
            return 503, {
                "error": "RegionUnavailable",
                "region": data.region,
                "since": outage.since,
            }
        pending = (
            self.transitions.pending_operation(owner) if self.transitions is not None else None
        )
        if pending == PROMOTION:
            return 409, {
                "error": "NotWritable",
                "status": owner.status,
                "reason": "promotion in progress",
            }
        if getattr(owner, "is_replica", False) or owner.source_db_instance_identifier or (
            data.linked()
        ):
            return 409, {
                "error": "ReadOnly",
                "status": owner.status,
                "replicaOf": data.replica_of(),
            }
        if owner.status not in WRITABLE_STATUSES:
            return 409, {"error": "NotWritable", "status": owner.status}
        return None

    def write(self, data: InstanceData, write_id: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            now = time.time()
            self.settle(now)
            refused = self.refusal(data, now)
            if refused is not None:
                status, body = refused
                return status, {**body, "instance": data.identifier, "region": data.region}
            if write_id in data.ids:
                return 400, {
                    "error": "DuplicateWriteId",
                    "message": f"{data.identifier} already holds write {write_id}",
                }
            at = max(now, data.log[-1]["time"]) if data.log else now
            entry = {"writeId": write_id, "time": at, "origin": data.incarnation}
            data.log.append(entry)
            data.ids.add(write_id)
            data.last_own_time = at
            return 200, {
                "writeId": write_id,
                "instance": data.identifier,
                "region": data.region,
                "incarnation": data.incarnation,
                "seq": len(data.log),
                "time": at,
            }

    def latest_restorable_time(self, instance: Any) -> datetime:
        with self.lock:
            data = self.data_of(instance)
            own = data.last_own_time
            return _naive_utc(own if own is not None else data.created)

    # views ------------------------------------------------------------------------------------
    def summary(self, data: InstanceData, now: float) -> dict[str, Any]:
        return {
            "region": data.region,
            "instance": data.identifier,
            "incarnation": data.incarnation,
            "writable": self.refusal(data, now) is None,
            "replicaOf": data.replica_of(),
            "writes": len(data.log),
            "lastWriteTime": data.log[-1]["time"] if data.log else None,
        }

    def reset(self) -> None:
        """``/moto-api/reset``: instances, rules and outages go; the metric configuration stays
        (like moto's own config)."""
        with self.lock:
            self.instances = {}
            self.replicas = []
            self.lag_rules = []
            self.outages = []

    def configure_metrics(
        self, period_seconds: float | None = None, delay_seconds: float | None = None
    ) -> dict[str, float]:
        with self.lock:
            if period_seconds is not None:
                self.period_us = max(1, int(round(period_seconds * 1_000_000)))
            if delay_seconds is not None:
                self.delay = float(delay_seconds)
            return self.metrics_config()

    def metrics_config(self) -> dict[str, float]:
        return {"periodSeconds": self.period_us / 1_000_000, "delaySeconds": self.delay}

    def scaled_period(self, period: float) -> float:
        """The bucket GetMetricStatistics uses for the model's ReplicaLag: a query period of 60 s
        stands for one model period (identical when the period is AWS's 60 s)."""
        model_period = self.period_us / 1_000_000
        if model_period >= 60 or period <= 0:
            return period
        return period * model_period / 60


MODEL = DataPlane()


# --------------------------------------------------------------------------------------------------
# control routes
# --------------------------------------------------------------------------------------------------


class _Routes:
    """The ``/pilot-light/data/*`` handlers; ``host`` is the patches module."""

    def __init__(self, host: ModuleType, model: DataPlane) -> None:
        self.host = host
        self.model = model

    # helpers ----------------------------------------------------------------------------------
    def error(self, status: int, message: str) -> Exception:
        return self.host._ControlError(status, message)  # type: ignore[no-any-return]

    def body(self, environ: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = json.loads(self.host._read_body(environ) or b"{}")
        except ValueError as error:
            raise self.error(400, f"body is not JSON: {error}") from error
        if not isinstance(parsed, dict):
            raise self.error(400, "the body is a JSON object")
        return parsed

    def settle(self) -> float:
        """Finish due transitions (a promotion, a delete), then settle the model."""
        self.host.TRANSITIONS.settle()
        now = time.time()
        self.model.settle(now)
        return now

    @staticmethod
    def method(environ: dict[str, Any]) -> str:
        return str(environ.get("REQUEST_METHOD", "GET")).upper()

    def find_instance(self, account: str, region: str, identifier: str) -> Any:
        from moto.rds.models import rds_backends

        try:
            databases = rds_backends[account][region].databases
        except Exception:
            return None
        found = databases.get(identifier)
        if found is None:
            wanted = identifier.lower()
            found = next((d for key, d in databases.items() if key.lower() == wanted), None)
        return found

    def find_snapshot(self, account: str, region: str, identifier: str) -> Any:
        from moto.rds.models import rds_backends

        try:
            snapshots = rds_backends[account][region].database_snapshots
        except Exception:
            return None
        wanted = identifier.lower()
        return snapshots.get(identifier) or next(
            (s for key, s in snapshots.items() if key.lower() == wanted), None
        )

    @staticmethod
    def account(source: dict[str, Any]) -> str:
        from moto.core import DEFAULT_ACCOUNT_ID

        return str(source.get("account") or DEFAULT_ACCOUNT_ID)

    # routes -----------------------------------------------------------------------------------
    def writes(self, environ: dict[str, Any]) -> tuple[int, Any]:
        if self.method(environ) != "POST":
            raise self.error(405, "only POST is supported here")
        body = self.body(environ)
        for key in ("region", "instance", "writeId"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise self.error(400, f"{key} (a non-empty string) is required")
        self.host.TRANSITIONS.settle()
        with self.model.lock:
            instance = self.find_instance(self.account(body), body["region"], body["instance"])
            outage = self.model.active_outage(body["region"], body["instance"])
            if outage is not None:
                return 503, {
                    "error": "RegionUnavailable",
                    "region": body["region"],
                    "instance": body["instance"],
                    "since": outage.since,
                }
            if instance is None:
                return 404, {
                    "error": "DBInstanceNotFound",
                    "region": body["region"],
                    "instance": body["instance"],
                }
            return self.model.write(self.model.data_of(instance), body["writeId"])

    def log(self, environ: dict[str, Any]) -> tuple[int, Any]:
        if self.method(environ) != "GET":
            raise self.error(405, "only GET is supported here")
        query = self.host._query(environ)
        region, identifier = query.get("region"), query.get("instance")
        if not region or not identifier:
            raise self.error(400, "region and instance are required")
        try:
            since = int(query.get("since") or 0)
        except ValueError as error:
            raise self.error(400, "since must be an integer") from error
        now = self.settle()
        with self.model.lock:
            instance = self.find_instance(self.account(query), region, identifier)
            if instance is None:
                return 404, {
                    "error": "DBInstanceNotFound", "region": region, "instance": identifier
                }
            data = self.model.data_of(instance, now)
            return 200, {
                "instance": data.identifier,
                "region": data.region,
                "incarnation": data.incarnation,
                "writable": self.model.refusal(data, now) is None,
                "replicaOf": data.replica_of(),
                "lagSeconds": self.model.lag_for(data.identifier),
                "count": len(data.log),
                "writes": data.log[max(0, since):],
            }

    def snapshot(self, environ: dict[str, Any]) -> tuple[int, Any]:
        if self.method(environ) != "GET":
            raise self.error(405, "only GET is supported here")
        query = self.host._query(environ)
        region, identifier = query.get("region"), query.get("snapshot")
        if not region or not identifier:
            raise self.error(400, "region and snapshot are required")
        self.settle()
        with self.model.lock:
            snapshot = self.find_snapshot(self.account(query), region, identifier)
            if snapshot is None:
                return 404, {
                    "error": "DBSnapshotNotFound", "region": region, "snapshot": identifier
                }
            return 200, {
                "snapshot": snapshot.db_snapshot_identifier,
                "region": region,
                "writes": list(getattr(snapshot, SNAPSHOT_ATTRIBUTE, ())),
            }

    def instances(self, environ: dict[str, Any]) -> tuple[int, Any]:
        if self.method(environ) != "GET":
            raise self.error(405, "only GET is supported here")
        prefix = (self.host._query(environ).get("prefix") or "").lower()
        now = self.settle()
        with self.model.lock:
            listed = [
                self.model.summary(data, now)
                for data in self.model.live_instances()
                if data.identifier.lower().startswith(prefix)
            ]
        listed.sort(key=lambda item: (item["region"], item["instance"]))
        return 200, {"instances": listed}

    def lag(self, environ: dict[str, Any]) -> tuple[int, Any]:
        method = self.method(environ)
        if method == "GET":
            with self.model.lock:
                return 200, {
                    "rules": [dict(rule) for rule in self.model.lag_rules],
                    "defaultSeconds": DEFAULT_LAG_SECONDS,
                }
        if method == "POST":
            rules = [self.lag_rule(raw) for raw in self.host._posted_rules(environ)]
            self.settle()  # what was due under the old lag is applied under it
            with self.model.lock:
                self.model.lag_rules.extend(rules)
                return 200, {"added": len(rules), "rules": [dict(r) for r in self.model.lag_rules]}
        if method == "DELETE":
            query = self.host._query(environ)
            prefix = query["resourcePrefix"] if "resourcePrefix" in query else None
            self.settle()
            with self.model.lock:
                before = len(self.model.lag_rules)
                self.model.lag_rules = [
                    r for r in self.model.lag_rules
                    if prefix is not None and r["resourcePrefix"] != prefix
                ]
                return 200, {"removed": before - len(self.model.lag_rules)}
        raise self.error(405, f"{method} is not supported here")

    def lag_rule(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.error(400, "a lag rule is an object")
        prefix = raw.get("resourcePrefix", "")
        if not isinstance(prefix, str):
            raise self.error(400, "resourcePrefix must be a string")
        seconds = raw.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (
            0 <= seconds <= 86_400
        ):
            raise self.error(400, "seconds must be a number from 0 to 86400")
        return {"resourcePrefix": prefix, "seconds": float(seconds)}

    def outage(self, environ: dict[str, Any]) -> tuple[int, Any]:
        method = self.method(environ)
        if method == "GET":
            self.settle()
            with self.model.lock:
                return 200, {
                    "outages": [o.describe() for o in self.model.outages if o.until is None]
                }
        if method == "POST":
            body = self.body(environ)
            region, prefix = body.get("region"), body.get("resourcePrefix", "")
            if not isinstance(region, str) or not region:
                raise self.error(400, "region (a non-empty string) is required")
            if not isinstance(prefix, str):
                raise self.error(400, "resourcePrefix must be a string")
            now = self.settle()
            with self.model.lock:
                for outage in self.model.outages:
                    if outage.until is None and (outage.region, outage.prefix) == (region, prefix):
                        return 200, {**outage.describe(), "started": False}
                outage = Outage(region, prefix, now)
                self.model.outages.append(outage)
                return 200, {**outage.describe(), "started": True}
        if method == "DELETE":
            query = self.host._query(environ)
            region = query.get("region") or None
            prefix = query["resourcePrefix"] if "resourcePrefix" in query else None
            now = self.settle()
            ended = []
            with self.model.lock:
                for outage in self.model.outages:
                    if outage.until is not None:
                        continue
                    if region is not None and outage.region != region:
                        continue
                    if prefix is not None and outage.prefix != prefix:
                        continue
                    outage.until = now
                    ended.append({**outage.describe(), "until": now})
                self.model.settle(now)
            return 200, {"ended": ended}
        raise self.error(405, f"{method} is not supported here")

    def metrics(self, environ: dict[str, Any]) -> tuple[int, Any]:
        method = self.method(environ)
        if method == "GET":
            return 200, self.model.metrics_config()
        if method == "POST":
            body = self.body(environ)
            values: dict[str, float | None] = {}
            for key, low in (("periodSeconds", 0.01), ("delaySeconds", 0.0)):
                value = body.get(key)
                if value is None:
                    values[key] = None
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    low <= value <= 86_400
                ):
                    raise self.error(400, f"{key} must be a number from {low} to 86400")
                values[key] = float(value)
            self.settle()
            return 200, self.model.configure_metrics(
                values["periodSeconds"], values["delaySeconds"]
            )
        raise self.error(405, f"{method} is not supported here")


# --------------------------------------------------------------------------------------------------
# moto hooks
# --------------------------------------------------------------------------------------------------


def _bind(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return dict(inspect.signature(function).bind_partial(*args, **kwargs).arguments)


def _snapshot_object(backend: Any, reference: str) -> Any:
    """moto's DBSnapshot named by an identifier or an ARN (any region), or None."""
    try:
        return backend.get_db_snapshot(reference)
    except Exception:
        pass
    name = reference.split(":")[-1] if reference.startswith("arn:") else reference
    try:
        return backend.describe_db_snapshots(None, name)[0]
    except Exception:
        return None


def install(host: ModuleType, model: DataPlane = MODEL) -> None:
    """Hook the model into moto's RDS and CloudWatch backends and register the control routes."""
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.rds.models import DBInstance, RDSBackend

    model.transitions = host.TRANSITIONS

    # a new physical instance: create (and the create inside a restore) ------------------------
    create_original = RDSBackend.create_db_instance

    @functools.wraps(create_original)
    def create_db_instance(self: Any, *args: Any, **kwargs: Any) -> Any:
        database = create_original(self, *args, **kwargs)
        model.data_of(database)  # (its automated backup may have attached it already)
        return database

    # a read replica: the source's log now, then replication ----------------------------------
    replica_original = RDSBackend.create_db_instance_read_replica

    @functools.wraps(replica_original)
    def create_db_instance_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        reference = str(db_kwargs.get("source_db_instance_identifier") or "")
        source = host._find_db_instance(self.account_id, self.region_name, reference)
        replica = replica_original(self, db_kwargs)
        if source is None:
            model.attach(replica, time.time())
        else:
            model.attach_replica(replica, source)
        return replica

    # restores: the snapshot's log / the source's log up to the restore time --------------------
    restore_original = RDSBackend.restore_db_instance_from_db_snapshot

    @functools.wraps(restore_original)
    def restore_db_instance_from_db_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bind(restore_original, (self, *args), kwargs)
        database = restore_original(self, *args, **kwargs)
        snapshot = _snapshot_object(self, str(arguments.get("from_snapshot_id") or ""))
        model.start_from(database, time.time(), list(getattr(snapshot, SNAPSHOT_ATTRIBUTE, ())))
        return database

    pitr_original = RDSBackend.restore_db_instance_to_point_in_time

    @functools.wraps(pitr_original)
    def restore_db_instance_to_point_in_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bind(pitr_original, (self, *args), kwargs)
        database = pitr_original(self, *args, **kwargs)
        with model.lock:
            now = time.time()
            model.settle(now)
            source = self.databases.get(arguments.get("source_db_identifier"))
            log = list(model.data_of(source, now).log) if source is not None else []
            overrides = arguments.get("overrides") or {}
            restore_time = overrides.get("restore_time") if hasattr(overrides, "get") else None
            if isinstance(restore_time, datetime):
                limit = restore_time.replace(tzinfo=timezone.utc).timestamp() if (
                    restore_time.tzinfo is None
                ) else restore_time.timestamp()
                log = [entry for entry in log if entry["time"] <= limit]
            model.start_from(database, now, log)
        return database

    # promotion: replication stops at the call -------------------------------------------------
    promote_original = RDSBackend.promote_read_replica

    @functools.wraps(promote_original)
    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        with model.lock:
            now = time.time()
            model.settle(now)
            database = promote_original(self, db_kwargs)
            model.cut(database, now)
            return database

    # snapshots: a frozen copy of the log ------------------------------------------------------
    snapshot_original = RDSBackend.create_db_snapshot

    @functools.wraps(snapshot_original)
    def create_db_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bind(snapshot_original, (self, *args), kwargs)
        with model.lock:
            now = time.time()
            model.settle(now)
            database = self.databases.get(arguments.get("db_instance_identifier"))
            snapshot = snapshot_original(self, *args, **kwargs)
            log = tuple(model.data_of(database, now).log) if database is not None else ()
            setattr(snapshot, SNAPSHOT_ATTRIBUTE, log)
            return snapshot

    copy_original = RDSBackend.copy_db_snapshot

    @functools.wraps(copy_original)
    def copy_db_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bind(copy_original, (self, *args), kwargs)
        target = copy_original(self, *args, **kwargs)
        source = _snapshot_object(self, str(arguments.get("source_db_snapshot_identifier") or ""))
        setattr(target, SNAPSHOT_ATTRIBUTE, tuple(getattr(source, SNAPSHOT_ATTRIBUTE, ())))
        return target

    # LatestRestorableTime: the last own write -------------------------------------------------
    def latest_restorable_time(self: Any) -> datetime:
        return model.latest_restorable_time(self)

    # GetMetricStatistics: one model period per 60 s of query period ---------------------------
    statistics_original = CloudWatchBackend.get_metric_statistics

    @functools.wraps(statistics_original)
    def get_metric_statistics(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(statistics_original).bind(self, *args, **kwargs)
        if (
            bound.arguments.get("namespace") == METRIC_NAMESPACE
            and bound.arguments.get("metric_name") == METRIC_NAME
        ):
            bound.arguments["period"] = model.scaled_period(bound.arguments["period"])
        return statistics_original(*bound.args, **bound.kwargs)

    RDSBackend.create_db_instance = create_db_instance
    RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica
    RDSBackend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot
    RDSBackend.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time
    RDSBackend.promote_read_replica = promote_read_replica
    RDSBackend.create_db_snapshot = create_db_snapshot
    RDSBackend.copy_db_snapshot = copy_db_snapshot
    DBInstance.latest_restorable_time = property(latest_restorable_time)  # type: ignore[assignment]
    CloudWatchBackend.get_metric_statistics = get_metric_statistics

    # server: settle before each AWS request, routes, reset ------------------------------------
    def settle_before_request(environ: dict[str, Any]) -> None:
        model.settle()
        return None

    routes = _Routes(host, model)
    host._BEFORE_REQUEST.append(settle_before_request)
    host._ROUTES["/pilot-light/data/writes"] = routes.writes
    host._ROUTES["/pilot-light/data/log"] = routes.log
    host._ROUTES["/pilot-light/data/snapshot"] = routes.snapshot
    host._ROUTES["/pilot-light/data/instances"] = routes.instances
    host._ROUTES["/pilot-light/data/lag"] = routes.lag
    host._ROUTES["/pilot-light/data/outage"] = routes.outage
    host._ROUTES["/pilot-light/data/metrics"] = routes.metrics
    host._ON_RESET.append(model.reset)
