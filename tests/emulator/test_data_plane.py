"""Tests of the RDS data plane (``patches.rds_data_plane``, ``data_plane.py``) against the patched
stack, and the same checks failing against a plain moto_server (which has no data plane).

Every test names its resources with a fresh prefix and adds rules (durations, apply lag, outages)
for that prefix only, so the tests share the session's stack with test_emulator.py.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from test_emulator import (
    EAST,
    WEST,
    client,
    code_and_status,
    create_db,
    create_replica,
    db,
    error_of,
    fails_on_unpatched_moto,
    http,
    uid,
    wait_until,
)

DATA = "/pilot-light/data"
SPARE_REGION = "ap-southeast-2"  # for a region-wide outage no other test works in


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def write(url: str, region: str, instance: str, write_id: str) -> tuple[int, Any]:
    return http(
        "POST", f"{url}{DATA}/writes", {"region": region, "instance": instance, "writeId": write_id}
    )


def accepted(url: str, region: str, instance: str, write_id: str) -> dict[str, Any]:
    status, body = write(url, region, instance, write_id)
    assert status == 200, (status, body)
    return dict(body)


def log(url: str, region: str, instance: str) -> dict[str, Any]:
    status, body = http("GET", f"{url}{DATA}/log?region={region}&instance={instance}")
    assert status == 200, (status, body)
    return dict(body)


def ids(url: str, region: str, instance: str) -> list[str]:
    return [entry["writeId"] for entry in log(url, region, instance)["writes"]]


def snapshot_ids(url: str, region: str, snapshot: str) -> list[str]:
    status, body = http("GET", f"{url}{DATA}/snapshot?region={region}&snapshot={snapshot}")
    assert status == 200, (status, body)
    return [entry["writeId"] for entry in body["writes"]]


def set_lag(url: str, prefix: str, seconds: float) -> None:
    status, body = http("POST", f"{url}{DATA}/lag", {"resourcePrefix": prefix, "seconds": seconds})
    assert status == 200, (status, body)


def cleanup(url: str, prefix: str) -> None:
    http("DELETE", f"{url}{DATA}/lag?resourcePrefix={prefix}")
    http("DELETE", f"{url}/pilot-light/durations?resourcePrefix={prefix}")


def replica_lag(url: str, region: str, instance: str) -> list[tuple[float, float]]:
    """(timestamp, Maximum) of every ReplicaLag datapoint of the last ten minutes, oldest first:
    the call the readiness and promote-replica handlers make."""
    now = datetime.now(timezone.utc)
    answer = client(url, "cloudwatch", region).get_metric_statistics(
        Namespace="AWS/RDS",
        MetricName="ReplicaLag",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": instance}],
        StartTime=now - timedelta(seconds=600),
        EndTime=now + timedelta(seconds=60),
        Period=60,
        Statistics=["Maximum"],
    )
    return sorted((d["Timestamp"].timestamp(), d["Maximum"]) for d in answer["Datapoints"])


# --------------------------------------------------------------------------------------------------
# writes
# --------------------------------------------------------------------------------------------------


def check_writes_and_replication(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    primary = create_db(east, f"dp-{n}-prim")
    first = accepted(url, EAST, f"dp-{n}-prim", "w1")
    create_replica(west, f"dp-{n}-repl", primary["DBInstanceArn"])
    second = accepted(url, EAST, f"dp-{n}-prim", "w2")
    assert (first["seq"], second["seq"]) == (1, 2)
    status, body = write(url, WEST, f"dp-{n}-repl", "w3")
    assert (status, body["error"]) == (409, "ReadOnly")
    wait_until(lambda: ids(url, WEST, f"dp-{n}-repl") == ["w1", "w2"], 5, "replication")


def test_writes_are_taken_by_a_standalone_instance_only(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    p = f"dpw-{n}-"
    http("POST", f"{url}/pilot-light/durations", {"rules": [
        {"operation": "rds.create_db_instance", "seconds": 1.0, "resourcePrefix": f"{p}slow"},
        {"operation": "rds.delete_db_instance", "seconds": 1.0, "resourcePrefix": f"{p}slow"},
    ]})
    try:
        primary = create_db(east, f"{p}prim")
        first = accepted(url, EAST, f"{p}prim", "a")
        second = accepted(url, EAST, f"{p}prim", "b")
        assert (first["seq"], second["seq"]) == (1, 2)
        assert first["incarnation"] == second["incarnation"]
        assert (first["instance"], first["region"], first["writeId"]) == (f"{p}prim", EAST, "a")
        assert first["time"] <= second["time"] <= time.time()

        state = log(url, EAST, f"{p}prim")
        assert [e["writeId"] for e in state["writes"]] == ["a", "b"]
        assert {e["origin"] for e in state["writes"]} == {first["incarnation"]}
        assert (state["writable"], state["replicaOf"], state["incarnation"]) == (
            True, None, first["incarnation"]
        )

        # refusals: bad bodies, a duplicate id, an unknown instance
        assert write(url, EAST, f"{p}prim", "a")[0] == 400
        missing_id = {"region": EAST, "instance": f"{p}prim"}
        assert http("POST", f"{url}{DATA}/writes", missing_id)[0] == 400
        assert http("POST", f"{url}{DATA}/writes", ["not", "an", "object"])[0] == 400
        status, body = write(url, EAST, f"{p}nope", "x")
        assert (status, body["error"]) == (404, "DBInstanceNotFound")
        assert http("GET", f"{url}{DATA}/log?region={EAST}&instance={p}nope")[0] == 404

        # a replica refuses writes
        create_replica(west, f"{p}repl", primary["DBInstanceArn"])
        status, body = write(url, WEST, f"{p}repl", "r")
        assert (status, body["error"]) == (409, "ReadOnly")
        replica = log(url, WEST, f"{p}repl")
        assert replica["writable"] is False
        assert replica["replicaOf"] == {
            "region": EAST, "instance": f"{p}prim", "incarnation": first["incarnation"]
        }
        assert replica["incarnation"] != first["incarnation"]
        assert "r" not in ids(url, WEST, f"{p}repl")

        # an instance being created, then being deleted, refuses writes
        assert create_db(east, f"{p}slow")["DBInstanceStatus"] == "creating"
        status, body = write(url, EAST, f"{p}slow", "c1")
        assert (status, body["error"], body["status"]) == (409, "NotWritable", "creating")
        assert log(url, EAST, f"{p}slow")["writable"] is False
        wait_until(lambda: db(east, f"{p}slow")["DBInstanceStatus"] == "available", 5, "created")
        assert accepted(url, EAST, f"{p}slow", "c2")["seq"] == 1

        east.delete_db_instance(DBInstanceIdentifier=f"{p}slow", SkipFinalSnapshot=True)
        status, body = write(url, EAST, f"{p}slow", "c3")
        assert (status, body["error"], body["status"]) == (409, "NotWritable", "deleting")
        wait_until(lambda: write(url, EAST, f"{p}slow", "c4")[0] == 404, 5, "deleted")
        assert ids(url, EAST, f"{p}prim") == ["a", "b"]
    finally:
        cleanup(url, p)


def test_the_data_plane_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_writes_and_replication(plain_url))


def test_control_routes_are_neither_logged_nor_faulted(url: str) -> None:
    rds = client(url, "rds", EAST)
    n = uid()
    create_db(rds, f"dpq-{n}")
    label = f"dpq-{n}"
    assert http("POST", f"{url}/pilot-light/faults",
                {"service": "rds", "kind": "unavailable", "count": 5, "label": label})[0] == 200
    try:
        since = http("GET", f"{url}/pilot-light/requests?since=0&service=nothing")[1]["lastSeq"]
        accepted(url, EAST, f"dpq-{n}", "q1")
        log(url, EAST, f"dpq-{n}")
        http("GET", f"{url}{DATA}/instances?prefix=dpq-{n}")
        rules = http("GET", f"{url}/pilot-light/faults")[1]["rules"]
        assert [r["served"] for r in rules if r["label"] == label] == [0]
        logged = http("GET", f"{url}/pilot-light/requests?since={since}")[1]["requests"]
        assert not [r for r in logged if "pilot-light" in r["params"].get("path", "")]
    finally:
        http("DELETE", f"{url}/pilot-light/faults?label={label}")


# --------------------------------------------------------------------------------------------------
# replication, promotion
# --------------------------------------------------------------------------------------------------


def test_a_replica_applies_each_write_after_its_lag(url: str) -> None:
    check_writes_and_replication(url)
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    p = f"dpr-{n}-"
    set_lag(url, p, 1.0)
    try:
        primary = create_db(east, f"{p}prim")
        accepted(url, EAST, f"{p}prim", "before")
        create_replica(west, f"{p}cross", primary["DBInstanceArn"])
        east.create_db_instance_read_replica(
            DBInstanceIdentifier=f"{p}same", SourceDBInstanceIdentifier=f"{p}prim"
        )
        # both start from the source's log at their creation
        assert ids(url, WEST, f"{p}cross") == ["before"]
        assert ids(url, EAST, f"{p}same") == ["before"]
        assert log(url, WEST, f"{p}cross")["lagSeconds"] == 1.0

        written = accepted(url, EAST, f"{p}prim", "after")
        due = written["time"] + 1.0

        def observed(region: str, instance: str) -> None:
            """Not applied when read before ``due``; applied when read after (robust to a slow
            machine: only what the read's own start and end times prove is asserted)."""
            start = time.time()
            got = ids(url, region, instance)
            end = time.time()
            if end < due:
                assert got == ["before"], f"applied before its lag ({due - end:.3f} s early)"
            if start >= due:
                assert got == ["before", "after"], "not applied after its lag"

        for moment in (0.0, 0.8, 1.05):
            time.sleep(max(0.0, written["time"] + moment - time.time()))
            observed(WEST, f"{p}cross")
            observed(EAST, f"{p}same")
        assert ids(url, WEST, f"{p}cross") == ["before", "after"]
        assert ids(url, EAST, f"{p}same") == ["before", "after"]
        replicated = log(url, WEST, f"{p}cross")["writes"][-1]
        assert replicated == {"writeId": "after", "time": written["time"],
                              "origin": written["incarnation"]}

        listed = http("GET", f"{url}{DATA}/instances?prefix={p.upper()}")[1]["instances"]
        assert {(i["region"], i["instance"]) for i in listed} == {
            (EAST, f"{p}prim"), (EAST, f"{p}same"), (WEST, f"{p}cross")
        }
        by_name = {i["instance"]: i for i in listed}
        assert by_name[f"{p}prim"]["writable"] is True
        assert by_name[f"{p}cross"]["writable"] is False
        assert by_name[f"{p}cross"]["replicaOf"]["instance"] == f"{p}prim"
        assert by_name[f"{p}cross"]["writes"] == 2
        assert by_name[f"{p}cross"]["lastWriteTime"] == written["time"]
    finally:
        cleanup(url, p)


def test_promotion_cuts_replication_when_it_is_called(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    p = f"dpp-{n}-"
    set_lag(url, p, 1.0)
    http("POST", f"{url}/pilot-light/durations",
         {"operation": "rds.promote_read_replica", "seconds": 1.5, "resourcePrefix": f"{p}repl"})
    try:
        primary = create_db(east, f"{p}prim")
        create_replica(west, f"{p}repl", primary["DBInstanceArn"])
        accepted(url, EAST, f"{p}prim", "a")
        wait_until(lambda: ids(url, WEST, f"{p}repl") == ["a"], 5, "a replicated")
        b = accepted(url, EAST, f"{p}prim", "b")  # not applied yet when the promotion starts
        west.promote_read_replica(DBInstanceIdentifier=f"{p}repl")
        assert time.time() < b["time"] + 1.0, "the machine is too slow for this test's lag"
        c = accepted(url, EAST, f"{p}prim", "c")

        promoting = log(url, WEST, f"{p}repl")
        assert (promoting["replicaOf"], promoting["writable"]) == (None, False)
        status, body = write(url, WEST, f"{p}repl", "early")
        assert (status, body["error"], body["status"]) == (409, "NotWritable", "modifying")

        wait_until(lambda: db(west, f"{p}repl")["DBInstanceStatus"] == "available", 5, "promoted")
        assert "ReadReplicaSourceDBInstanceIdentifier" not in db(west, f"{p}repl")
        done = accepted(url, WEST, f"{p}repl", "d")
        assert done["seq"] == 2
        time.sleep(max(0.0, c["time"] + 1.1 - time.time()))  # b and c would have arrived
        assert ids(url, WEST, f"{p}repl") == ["a", "d"]
        assert ids(url, EAST, f"{p}prim") == ["a", "b", "c"]
        assert log(url, WEST, f"{p}repl")["writable"] is True
    finally:
        cleanup(url, p)


# --------------------------------------------------------------------------------------------------
# snapshots, restores, rename, LatestRestorableTime
# --------------------------------------------------------------------------------------------------


def test_snapshots_freeze_the_log(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    p = f"dps-{n}-"
    create_db(east, f"{p}prim")
    accepted(url, EAST, f"{p}prim", "a")
    accepted(url, EAST, f"{p}prim", "b")
    snapshot = east.create_db_snapshot(
        DBInstanceIdentifier=f"{p}prim", DBSnapshotIdentifier=f"{p}snap"
    )["DBSnapshot"]
    accepted(url, EAST, f"{p}prim", "c")
    assert snapshot_ids(url, EAST, f"{p}snap") == ["a", "b"]
    assert http("GET", f"{url}{DATA}/snapshot?region={EAST}&snapshot={p}none")[0] == 404

    west.copy_db_snapshot(
        SourceDBSnapshotIdentifier=snapshot["DBSnapshotArn"],
        TargetDBSnapshotIdentifier=f"{p}copy",
        SourceRegion=EAST,
    )
    assert snapshot_ids(url, WEST, f"{p}copy") == ["a", "b"]

    primary_incarnation = log(url, EAST, f"{p}prim")["incarnation"]
    east.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=f"{p}rest", DBSnapshotIdentifier=f"{p}snap"
    )
    restored = log(url, EAST, f"{p}rest")
    assert [e["writeId"] for e in restored["writes"]] == ["a", "b"]
    assert {e["origin"] for e in restored["writes"]} == {primary_incarnation}
    assert restored["incarnation"] != primary_incarnation
    assert (restored["writable"], restored["replicaOf"]) == (True, None)
    assert accepted(url, EAST, f"{p}rest", "r1")["seq"] == 3

    west.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=f"{p}west", DBSnapshotIdentifier=f"{p}copy"
    )
    assert ids(url, WEST, f"{p}west") == ["a", "b"]

    east.delete_db_instance(
        DBInstanceIdentifier=f"{p}prim", FinalDBSnapshotIdentifier=f"{p}final"
    )
    assert snapshot_ids(url, EAST, f"{p}final") == ["a", "b", "c"]
    assert http("GET", f"{url}{DATA}/log?region={EAST}&instance={p}prim")[0] == 404
    east.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=f"{p}prim", DBSnapshotIdentifier=f"{p}final"
    )
    reborn = log(url, EAST, f"{p}prim")
    assert [e["writeId"] for e in reborn["writes"]] == ["a", "b", "c"]
    assert reborn["incarnation"] != primary_incarnation
    assert snapshot_ids(url, EAST, f"{p}snap") == ["a", "b"]


def test_a_rename_keeps_the_log_and_the_incarnation(url: str) -> None:
    east = client(url, "rds", EAST)
    n = uid()
    create_db(east, f"dpn-{n}-old")
    first = accepted(url, EAST, f"dpn-{n}-old", "a")
    east.modify_db_instance(
        DBInstanceIdentifier=f"dpn-{n}-old", NewDBInstanceIdentifier=f"dpn-{n}-new",
        ApplyImmediately=True,
    )
    renamed = log(url, EAST, f"dpn-{n}-new")
    assert (renamed["incarnation"], [e["writeId"] for e in renamed["writes"]]) == (
        first["incarnation"], ["a"]
    )
    assert http("GET", f"{url}{DATA}/log?region={EAST}&instance=dpn-{n}-old")[0] == 404
    second = accepted(url, EAST, f"dpn-{n}-new", "b")
    assert (second["seq"], second["incarnation"], second["instance"]) == (
        2, first["incarnation"], f"dpn-{n}-new"
    )


def test_latest_restorable_time_is_the_last_own_write(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    before = time.time()
    primary = create_db(east, f"dpt-{n}")
    created = db(east, f"dpt-{n}")["LatestRestorableTime"].timestamp()
    assert before - 0.01 <= created <= time.time()
    time.sleep(0.05)
    assert db(east, f"dpt-{n}")["LatestRestorableTime"].timestamp() == created  # not "now"

    written = accepted(url, EAST, f"dpt-{n}", "a")
    latest = db(east, f"dpt-{n}")["LatestRestorableTime"].timestamp()
    assert abs(latest - written["time"]) < 0.002

    # a replica's own writes only: it has none, so its creation
    replica_created = time.time()
    create_replica(west, f"dpt-{n}-r", primary["DBInstanceArn"])
    replica_latest = db(west, f"dpt-{n}-r")["LatestRestorableTime"].timestamp()
    assert replica_created - 0.01 <= replica_latest <= time.time()


# --------------------------------------------------------------------------------------------------
# outages
# --------------------------------------------------------------------------------------------------


def test_an_outage_refuses_writes_and_loses_what_had_not_replicated(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    p = f"dpo-{n}-"
    lag = 1.0
    set_lag(url, p, lag)
    try:
        primary = create_db(east, f"{p}prim")
        create_replica(west, f"{p}repl", primary["DBInstanceArn"])
        create_replica(west, f"{p}keep", primary["DBInstanceArn"])
        accepted(url, EAST, f"{p}prim", "a")
        wait_until(lambda: ids(url, WEST, f"{p}repl") == ["a"], 5, "a replicated")
        acks = [accepted(url, EAST, f"{p}prim", w) for w in ("b", "c")]

        status, outage = http("POST", f"{url}{DATA}/outage", {"region": EAST, "resourcePrefix": p})
        assert status == 200 and outage["started"] is True
        since = outage["since"]
        status, body = write(url, EAST, f"{p}prim", "d")
        assert (status, body["error"]) == (503, "RegionUnavailable")
        assert log(url, EAST, f"{p}prim")["writable"] is False
        listed = http("GET", f"{url}{DATA}/outage")[1]["outages"]
        assert {"region": EAST, "resourcePrefix": p, "since": since} in listed

        # what had replicated by the outage instant stays; the rest never arrives
        time.sleep(lag + 0.2)
        kept = ["a"] + [a["writeId"] for a in acks if a["time"] + lag <= since]
        lost = [a["writeId"] for a in acks if a["time"] > since - lag]
        assert lost, "the writes just before the outage are within the lag"
        assert ids(url, WEST, f"{p}repl") == kept
        assert ids(url, WEST, f"{p}keep") == kept

        # fail over: the promoted replica takes writes, and never gets the lost ones
        west.promote_read_replica(DBInstanceIdentifier=f"{p}repl")
        accepted(url, WEST, f"{p}repl", "w1")

        # the region comes back: writes again, and the replica still linked catches up
        status, body = http("DELETE", f"{url}{DATA}/outage?region={EAST}&resourcePrefix={p}")
        assert status == 200 and len(body["ended"]) == 1
        assert not [o for o in http("GET", f"{url}{DATA}/outage")[1]["outages"]
                    if o["resourcePrefix"] == p]
        accepted(url, EAST, f"{p}prim", "e")
        wait_until(lambda: ids(url, WEST, f"{p}keep") == ["a", "b", "c", "e"], 5, "catch-up")
        time.sleep(lag + 0.1)
        assert ids(url, WEST, f"{p}repl") == kept + ["w1"]
    finally:
        http("DELETE", f"{url}{DATA}/outage?region={EAST}&resourcePrefix={p}")
        cleanup(url, p)


def test_a_region_wide_outage(url: str) -> None:
    rds = client(url, "rds", SPARE_REGION)
    n = uid()
    create_db(rds, f"dpa-{n}")
    try:
        assert http("POST", f"{url}{DATA}/outage", {"region": SPARE_REGION})[0] == 200
        again = http("POST", f"{url}{DATA}/outage", {"region": SPARE_REGION})[1]
        assert again["started"] is False
        status, body = write(url, SPARE_REGION, f"dpa-{n}", "x")
        assert (status, body["error"]) == (503, "RegionUnavailable")
        # even for an instance that does not exist: the region does not answer
        assert write(url, SPARE_REGION, f"dpa-{n}-none", "x")[0] == 503
        # other regions are not affected
        create_db(client(url, "rds", EAST), f"dpa-{n}-east")
        assert accepted(url, EAST, f"dpa-{n}-east", "x")["seq"] == 1
        assert http("POST", f"{url}{DATA}/outage", {"resourcePrefix": "x"})[0] == 400
    finally:
        ended = http("DELETE", f"{url}{DATA}/outage?region={SPARE_REGION}")[1]["ended"]
    assert [o["region"] for o in ended] == [SPARE_REGION]
    assert accepted(url, SPARE_REGION, f"dpa-{n}", "y")["seq"] == 1


# --------------------------------------------------------------------------------------------------
# ReplicaLag
# --------------------------------------------------------------------------------------------------


def test_replica_lag_is_published_from_the_model(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    p = f"dpm-{n}-"
    lag = 2.0
    set_lag(url, p, lag)
    assert http("GET", f"{url}{DATA}/metrics") == (
        200, {"periodSeconds": 1.0, "delaySeconds": 1.0}
    )  # stack.py's defaults
    try:
        primary = create_db(east, f"{p}prim")
        created = time.time()
        create_replica(west, f"{p}repl", primary["DBInstanceArn"])
        early = replica_lag(url, WEST, f"{p}repl")
        if time.time() < created + 1.0:  # nothing can be visible yet (robust to a slow machine)
            assert early == []
        wait_until(lambda: len(replica_lag(url, WEST, f"{p}repl")) >= 2, 5, "datapoints at 0")
        caught_up = replica_lag(url, WEST, f"{p}repl")
        assert all(value == 0.0 for _, value in caught_up)
        assert caught_up[0][0] >= created - 0.01, "a datapoint from before the replica existed"

        written = accepted(url, EAST, f"{p}prim", "a")["time"]

        def behind() -> bool:
            newest = replica_lag(url, WEST, f"{p}repl")[-1]
            return newest[0] >= written and newest[1] > 0

        wait_until(behind, 5, "the newest datapoint shows the lag")
        wait_until(lambda: replica_lag(url, WEST, f"{p}repl")[-1][0] >= written + lag + 1,
                   8, "datapoints after the catch-up")
        before = time.time()
        points = replica_lag(url, WEST, f"{p}repl")
        after = time.time()
        for at, value in points:
            expected = at - written if written <= at < written + lag else 0.0
            assert abs(value - expected) < 0.002, (at, value, expected)
        assert points[-1][1] == 0.0
        assert [at for at, _ in points] == sorted({at for at, _ in points})
        assert all(b - a == 1.0 for (a, _), (b, _) in zip(points, points[1:]))  # one per period
        assert points[-1][0] <= after - 1.0, "a datapoint visible before its delay"
        assert points[-1][0] >= before - 1.0 - 1.0 - 0.05, "a due datapoint is missing"
        assert max(value for _, value in points) > lag - 1.01

        # GetMetricData returns them too (aggregated per its own period)
        now = datetime.now(timezone.utc)
        data = client(url, "cloudwatch", WEST).get_metric_data(
            MetricDataQueries=[{
                "Id": "lag",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/RDS",
                        "MetricName": "ReplicaLag",
                        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": f"{p}repl"}],
                    },
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }],
            StartTime=now - timedelta(seconds=600),
            EndTime=now + timedelta(seconds=60),
        )["MetricDataResults"][0]
        assert data["Values"] and max(data["Values"]) > 0

        # promoted: no datapoint after the cut
        west.promote_read_replica(DBInstanceIdentifier=f"{p}repl")
        cut = time.time()
        time.sleep(2.2)
        assert replica_lag(url, WEST, f"{p}repl")[-1][0] <= cut
    finally:
        cleanup(url, p)


def check_newest_bucket_is_newest_datapoint(url: str) -> None:
    """One-second ReplicaLag datapoints read with the handlers' Period of 60: the newest bucket
    must carry the newest datapoint (moto alone buckets them per 60 s from the oldest one)."""
    cloudwatch = client(url, "cloudwatch", EAST)
    name = f"dpb-{uid()}"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cloudwatch.put_metric_data(Namespace="AWS/RDS", MetricData=[
        {
            "MetricName": "ReplicaLag",
            "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": name}],
            "Timestamp": now - timedelta(seconds=seconds),
            "Value": 5.0 if seconds > 10 else 0.0,
            "Unit": "Seconds",
        }
        for seconds in range(30, 0, -1)
    ])
    points = replica_lag(url, EAST, name)
    assert points[-1] == ((now - timedelta(seconds=1)).timestamp(), 0.0), points


def test_the_newest_replica_lag_bucket_is_the_newest_datapoint(url: str) -> None:
    check_newest_bucket_is_newest_datapoint(url)


def test_replica_lag_bucketing_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_newest_bucket_is_newest_datapoint(plain_url))


def test_metric_configuration(url: str) -> None:
    assert http("POST", f"{url}{DATA}/metrics", {"periodSeconds": 0})[0] == 400
    assert http("POST", f"{url}{DATA}/metrics", {"delaySeconds": "1"})[0] == 400
    status, body = http("POST", f"{url}{DATA}/metrics", {"periodSeconds": 2.5})
    try:
        assert (status, body) == (200, {"periodSeconds": 2.5, "delaySeconds": 1.0})
        assert http("GET", f"{url}{DATA}/metrics")[1]["periodSeconds"] == 2.5
    finally:
        http("POST", f"{url}{DATA}/metrics", {"periodSeconds": 1.0, "delaySeconds": 1.0})
    assert http("GET", f"{url}{DATA}/metrics")[1] == {"periodSeconds": 1.0, "delaySeconds": 1.0}


# --------------------------------------------------------------------------------------------------
# lag rules, reset
# --------------------------------------------------------------------------------------------------


def test_lag_rules_match_the_longest_prefix(url: str) -> None:
    rds = client(url, "rds", EAST)
    n = uid()
    p = f"dpl-{n}-"
    for name in ("ab", "b"):
        create_db(rds, f"{p}{name}")
    create_db(rds, f"dpl-{n}x")
    status, body = http("POST", f"{url}{DATA}/lag", {"rules": [
        {"resourcePrefix": p.upper(), "seconds": 5},
        {"resourcePrefix": f"{p}a", "seconds": 0.1},
    ]})
    try:
        assert status == 200 and body["added"] == 2
        assert log(url, EAST, f"{p}ab")["lagSeconds"] == 0.1
        assert log(url, EAST, f"{p}b")["lagSeconds"] == 5.0
        assert log(url, EAST, f"dpl-{n}x")["lagSeconds"] == 0.3  # the default
        listed = http("GET", f"{url}{DATA}/lag")[1]
        assert {"resourcePrefix": f"{p}a", "seconds": 0.1} in listed["rules"]
        assert listed["defaultSeconds"] == 0.3
        for bad in ({"resourcePrefix": p, "seconds": -1}, {"resourcePrefix": 3, "seconds": 1},
                    {"resourcePrefix": p}, {"rules": "no"}):
            assert http("POST", f"{url}{DATA}/lag", bad)[0] == 400
        assert http("DELETE", f"{url}{DATA}/lag?resourcePrefix={p}a")[1] == {"removed": 1}
        assert log(url, EAST, f"{p}ab")["lagSeconds"] == 5.0
    finally:
        http("DELETE", f"{url}{DATA}/lag?resourcePrefix={p.upper()}")
        http("DELETE", f"{url}{DATA}/lag?resourcePrefix={p}a")
    assert log(url, EAST, f"{p}ab")["lagSeconds"] == 0.3


def test_reset_clears_the_data_plane_but_keeps_the_metric_configuration(url: str) -> None:
    rds = client(url, "rds", EAST)
    n = uid()
    primary = create_db(rds, f"dpz-{n}")
    accepted(url, EAST, f"dpz-{n}", "a")
    create_replica(client(url, "rds", WEST), f"dpz-{n}-r", primary["DBInstanceArn"])
    set_lag(url, f"dpz-{n}", 3.0)
    http("POST", f"{url}{DATA}/outage", {"region": SPARE_REGION, "resourcePrefix": f"dpz-{n}"})

    assert http("POST", f"{url}/moto-api/reset")[0] == 200

    assert http("GET", f"{url}{DATA}/instances?prefix=dpz-{n}")[1] == {"instances": []}
    assert http("GET", f"{url}{DATA}/log?region={EAST}&instance=dpz-{n}")[0] == 404
    assert not [r for r in http("GET", f"{url}{DATA}/lag")[1]["rules"]
                if r["resourcePrefix"] == f"dpz-{n}"]
    assert not [o for o in http("GET", f"{url}{DATA}/outage")[1]["outages"]
                if o["resourcePrefix"] == f"dpz-{n}"]
    assert http("GET", f"{url}{DATA}/metrics")[1] == {"periodSeconds": 1.0, "delaySeconds": 1.0}
    create_db(rds, f"dpz-{n}")
    fresh = log(url, EAST, f"dpz-{n}")
    assert (fresh["writes"], fresh["writable"]) == ([], True)


def test_a_replica_of_a_replica_does_not_break_anything(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    p = f"dpc-{n}-"
    set_lag(url, p, 0.1)
    try:
        primary = create_db(east, f"{p}prim")
        replica = create_replica(west, f"{p}one", primary["DBInstanceArn"])
        try:
            west.create_db_instance_read_replica(
                DBInstanceIdentifier=f"{p}two", SourceDBInstanceIdentifier=f"{p}one"
            )
        except Exception:
            return  # moto refused the chain: nothing to replicate
        assert replica["DBInstanceIdentifier"] == f"{p}one"
        accepted(url, EAST, f"{p}prim", "a")
        wait_until(lambda: ids(url, WEST, f"{p}two") == ["a"], 5, "chained replication")
        refused = error_of(lambda: east.promote_read_replica(DBInstanceIdentifier=f"{p}prim"))
        assert code_and_status(refused) == ("InvalidDBInstanceState", 400)
        assert log(url, WEST, f"{p}two")["replicaOf"]["instance"] == f"{p}one"
    finally:
        cleanup(url, p)
