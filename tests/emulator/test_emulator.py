"""Tests of the local AWS emulator: each patch against the patched stack, and the same check against
a plain moto_server to show that moto alone gets it wrong.

Run from the repository root: .venv/bin/python -m pytest tests/emulator -q
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = Path(__file__).resolve().parent
STACK = HERE / "stack.py"
VENV_BIN = Path(sys.prefix) / "bin"
ACCOUNT = "123456789012"
EAST, WEST = "us-east-1", "us-west-2"
DURATION = 2.0  # seconds, for the duration rules


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def uid() -> str:
    return uuid.uuid4().hex[:8]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client(url: str, service: str, region: str = EAST) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def error_of(call: Callable[[], Any]) -> ClientError:
    """The ClientError ``call`` raises; an AssertionError when it succeeds."""
    try:
        call()
    except ClientError as error:
        return error
    raise AssertionError("the call succeeded; an AWS error was expected")


def code_and_status(error: ClientError) -> tuple[str, int]:
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def db(rds: Any, identifier: str) -> dict[str, Any]:
    return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


def create_db(rds: Any, identifier: str) -> dict[str, Any]:
    return rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        Engine="mysql",
        DBInstanceClass="db.t3.micro",
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
    )["DBInstance"]


def create_replica(rds_west: Any, identifier: str, source_arn: str) -> dict[str, Any]:
    return rds_west.create_db_instance_read_replica(
        DBInstanceIdentifier=identifier, SourceDBInstanceIdentifier=source_arn, SourceRegion=EAST
    )["DBInstance"]


def create_launch_template(ec2: Any, name: str, data: dict[str, Any] | None = None) -> str:
    data = data or {"ImageId": "ami-12345678", "InstanceType": "t3.micro"}
    return ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)[
        "LaunchTemplate"
    ]["LaunchTemplateId"]


def fails_on_unpatched_moto(check: Callable[[], None]) -> None:
    """The check must fail (an assertion) against plain moto: that is the gap the patch closes."""
    with pytest.raises(AssertionError):
        check()


# --------------------------------------------------------------------------------------------------
# the stand-in Lambda runtime (plays cargo lambda watch: 200 = result, 500 = handler error)
# --------------------------------------------------------------------------------------------------


class StandInRuntime:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                parts = self.path.strip("/").split("/")
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"null")
                if len(parts) != 4 or parts[:2] != ["2015-03-31", "functions"]:
                    return self.answer(400, {"message": "bad path"})
                name = parts[2]
                runtime.calls.append((name, payload))
                if name == "echo-ok":
                    return self.answer(200, {"handledBy": "stand-in", "input": payload})
                if name == "fails-replica":
                    return self.answer(
                        500, {"errorType": "ReplicaNotFound", "errorMessage": "no replica here"}
                    )
                return self.answer(404, {"message": "no such binary"})

            def answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


# --------------------------------------------------------------------------------------------------
# session fixtures: one patched stack, one plain moto_server, started together
# --------------------------------------------------------------------------------------------------


def read_json_line(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    result: dict[str, Any] = {}

    def read() -> None:
        assert process.stdout is not None
        result["line"] = process.stdout.readline()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    line = result.get("line")
    if not line:
        raise AssertionError(f"stack.py printed no JSON line (exit {process.poll()})")
    return json.loads(line)


class Servers:
    def __init__(self, tmp: Path) -> None:
        self.runtime = StandInRuntime()
        env = dict(os.environ, LAMBDA_FORWARD_URL=self.runtime.url)
        self.stack = subprocess.Popen(
            [sys.executable, str(STACK), "--no-lambda", "--log-dir", str(tmp / "stack-logs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        plain_port = free_port()
        self.plain_log = open(tmp / "plain-moto.log", "wb")
        self.plain = subprocess.Popen(
            [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(plain_port)],
            stdin=subprocess.DEVNULL,
            stdout=self.plain_log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, MOTO_PORT=str(plain_port), MOTO_EC2_LOAD_DEFAULT_AMIS="false"),
        )
        self.plain_url = f"http://127.0.0.1:{plain_port}"
        self.info = read_json_line(self.stack, timeout=60)
        self.url = self.info["motoUrl"]

        def plain_ready() -> bool:
            try:
                return http("GET", f"{self.plain_url}/moto-api/data.json")[0] == 200
            except OSError:
                return False

        wait_until(plain_ready, 60, "plain moto_server")
        status, _ = http(
            "POST",
            f"{self.plain_url}/moto-api/config",
            {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
        )
        assert status in (200, 201)

    def close(self) -> None:
        assert self.stack.stdin is not None
        self.stack.stdin.close()
        self.stack.wait(timeout=15)
        self.plain.terminate()
        self.plain.wait(timeout=15)
        self.plain_log.close()
        self.runtime.server.shutdown()


# The session fixtures that start them (``servers``, ``url``, ``plain_url``) are in conftest.py, so
# that every test module of this directory shares the one pair.


# --------------------------------------------------------------------------------------------------
# 1. rds_promote_read_replica_detaches
# --------------------------------------------------------------------------------------------------


def check_promote_detaches(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    primary = create_db(east, f"prim-{n}")
    create_replica(west, f"repl-{n}", primary["DBInstanceArn"])
    replica_arn = db(west, f"repl-{n}")["DBInstanceArn"]
    assert db(east, f"prim-{n}")["ReadReplicaDBInstanceIdentifiers"] == [replica_arn]

    promoted = west.promote_read_replica(DBInstanceIdentifier=f"repl-{n}")["DBInstance"]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted

    assert "ReadReplicaSourceDBInstanceIdentifier" not in db(west, f"repl-{n}")
    assert db(east, f"prim-{n}")["ReadReplicaDBInstanceIdentifiers"] == []

    for standalone in (lambda: west.promote_read_replica(DBInstanceIdentifier=f"repl-{n}"),
                       lambda: east.promote_read_replica(DBInstanceIdentifier=f"prim-{n}")):
        try:
            standalone()
        except ClientError as error:
            assert code_and_status(error) == ("InvalidDBInstanceState", 400)
        else:
            raise AssertionError("promoting a standalone instance succeeded")


def check_restore_is_standalone(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    primary = create_db(east, f"prim-{n}")
    create_replica(west, f"repl-{n}", primary["DBInstanceArn"])
    west.create_db_snapshot(DBInstanceIdentifier=f"repl-{n}", DBSnapshotIdentifier=f"snap-{n}")
    restored = west.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=f"restored-{n}", DBSnapshotIdentifier=f"snap-{n}"
    )["DBInstance"]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in restored
    assert "ReadReplicaSourceDBInstanceIdentifier" not in db(west, f"restored-{n}")
    # a cross-region replica can be deleted, and leaves its source's list
    west.delete_db_instance(DBInstanceIdentifier=f"repl-{n}", SkipFinalSnapshot=True)
    assert db(east, f"prim-{n}")["ReadReplicaDBInstanceIdentifiers"] == []


def test_promote_read_replica_detaches_both_sides(url: str) -> None:
    check_promote_detaches(url)


def test_promote_read_replica_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_promote_detaches(plain_url))


def test_restore_from_replica_snapshot_is_standalone(url: str) -> None:
    check_restore_is_standalone(url)


def test_restore_from_replica_snapshot_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_restore_is_standalone(plain_url))


def check_cross_region_replica_parameter_group(url: str) -> None:
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    n = uid()
    east.create_db_parameter_group(
        DBParameterGroupName=f"pg-{n}", DBParameterGroupFamily="mysql8.0", Description="primary only"
    )
    primary = create_db(east, f"prim-{n}")
    east.modify_db_instance(
        DBInstanceIdentifier=f"prim-{n}", DBParameterGroupName=f"pg-{n}", ApplyImmediately=True
    )
    try:
        create_replica(west, f"repl-{n}", primary["DBInstanceArn"])
        replica = db(west, f"repl-{n}")
    except Exception as error:  # plain moto: a 500 the client cannot even parse
        raise AssertionError(f"the replica cannot be described: {error}") from error
    groups = [g["DBParameterGroupName"] for g in replica["DBParameterGroups"]]
    assert groups and all(g.startswith("default.") for g in groups), groups
    assert [g["DBParameterGroupName"] for g in db(east, f"prim-{n}")["DBParameterGroups"]] == [
        f"pg-{n}"
    ]


def test_cross_region_replica_gets_its_regions_default_parameter_group(url: str) -> None:
    check_cross_region_replica_parameter_group(url)


def test_cross_region_replica_parameter_group_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_cross_region_replica_parameter_group(plain_url))


def check_same_identifier_twice_in_a_minute(url: str) -> None:
    east = client(url, "rds", EAST)
    n = uid()
    create_db(east, f"prim-{n}")
    east.modify_db_instance(
        DBInstanceIdentifier=f"prim-{n}", NewDBInstanceIdentifier=f"old-{n}", ApplyImmediately=True
    )
    try:
        create_db(east, f"prim-{n}")
    except ClientError as error:
        raise AssertionError(f"a second instance under the identifier failed: {error}") from error
    assert db(east, f"prim-{n}")["DBInstanceStatus"] == "available"
    assert db(east, f"old-{n}")["DBInstanceStatus"] == "available"


def test_a_renamed_identifier_can_be_reused_at_once(url: str) -> None:
    check_same_identifier_twice_in_a_minute(url)


def test_renamed_identifier_reuse_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_same_identifier_twice_in_a_minute(plain_url))


# --------------------------------------------------------------------------------------------------
# 2. ec2_launch_template_source_version
# --------------------------------------------------------------------------------------------------


def check_launch_template_source_version(url: str) -> None:
    ec2 = client(url, "ec2", WEST)
    name = f"lt-{uid()}"
    user_data = base64.b64encode(b"#!/bin/sh\necho dr\n").decode()
    v1 = {
        "ImageId": "ami-11111111",
        "InstanceType": "t3.micro",
        "UserData": user_data,
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "pilot-light:env", "Value": "t"}]}
        ],
    }
    create_launch_template(ec2, name, v1)

    def version(number: str) -> dict[str, Any]:
        return ec2.describe_launch_template_versions(LaunchTemplateName=name, Versions=[number])[
            "LaunchTemplateVersions"
        ][0]["LaunchTemplateData"]

    ec2.create_launch_template_version(
        LaunchTemplateName=name, SourceVersion="1", LaunchTemplateData={"ImageId": "ami-22222222"}
    )
    v2 = version("2")
    assert v2.get("ImageId") == "ami-22222222"
    assert v2.get("InstanceType") == "t3.micro"
    assert v2.get("UserData") == user_data
    assert v2.get("TagSpecifications") == v1["TagSpecifications"]

    ec2.create_launch_template_version(
        LaunchTemplateName=name,
        SourceVersion="$Latest",
        LaunchTemplateData={"InstanceType": "t3.small"},
    )
    v3 = version("3")
    assert (v3.get("ImageId"), v3.get("InstanceType")) == ("ami-22222222", "t3.small")

    ec2.create_launch_template_version(
        LaunchTemplateName=name, SourceVersion="$Default", LaunchTemplateData={"KeyName": "ops"}
    )
    v4 = version("4")
    assert (v4.get("ImageId"), v4.get("InstanceType"), v4.get("KeyName")) == (
        "ami-11111111", "t3.micro", "ops"
    )

    error = error_of(
        lambda: ec2.create_launch_template_version(
            LaunchTemplateName=name, SourceVersion="9", LaunchTemplateData={}
        )
    )
    assert code_and_status(error) == ("InvalidLaunchTemplateId.VersionNotFound", 400)


def test_launch_template_source_version_is_inherited(url: str) -> None:
    check_launch_template_source_version(url)


def test_launch_template_source_version_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_launch_template_source_version(plain_url))


# --------------------------------------------------------------------------------------------------
# 3. autoscaling_desired_within_bounds
# --------------------------------------------------------------------------------------------------


def check_desired_within_bounds(url: str) -> None:
    ec2, asg = client(url, "ec2", WEST), client(url, "autoscaling", WEST)
    n = uid()
    template = {"LaunchTemplateId": create_launch_template(ec2, f"lt-{n}"), "Version": "$Latest"}
    zones = [f"{WEST}a"]

    def group() -> dict[str, Any]:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"asg-{n}"])[
            "AutoScalingGroups"
        ][0]

    error = error_of(
        lambda: asg.create_auto_scaling_group(
            AutoScalingGroupName=f"asg-{n}", MinSize=0, MaxSize=4, DesiredCapacity=10,
            LaunchTemplate=template, AvailabilityZones=zones,
        )
    )
    assert code_and_status(error) == ("ValidationError", 400)
    assert error.response["Error"]["Message"] == (
        "Desired capacity:10 must be between the specified min size:0 and max size:4"
    )
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"asg-{n}"])[
        "AutoScalingGroups"
    ] == []

    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"asg-{n}", MinSize=0, MaxSize=4, DesiredCapacity=0,
        LaunchTemplate=template, AvailabilityZones=zones,
    )
    for bad in (
        lambda: asg.update_auto_scaling_group(AutoScalingGroupName=f"asg-{n}", DesiredCapacity=10),
        lambda: asg.update_auto_scaling_group(
            AutoScalingGroupName=f"asg-{n}", MaxSize=2, DesiredCapacity=3
        ),
        lambda: asg.update_auto_scaling_group(
            AutoScalingGroupName=f"asg-{n}", MinSize=3, DesiredCapacity=2
        ),
        lambda: asg.set_desired_capacity(AutoScalingGroupName=f"asg-{n}", DesiredCapacity=5),
    ):
        assert code_and_status(error_of(bad)) == ("ValidationError", 400)
        current = group()
        assert (current["MinSize"], current["MaxSize"], current["DesiredCapacity"]) == (0, 4, 0)
        assert current["Instances"] == []

    message = error_of(
        lambda: asg.set_desired_capacity(AutoScalingGroupName=f"asg-{n}", DesiredCapacity=5)
    ).response["Error"]["Message"]
    assert message == (
        "New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup."
    )

    asg.update_auto_scaling_group(AutoScalingGroupName=f"asg-{n}", MinSize=1, DesiredCapacity=2)
    assert len(group()["Instances"]) == 2

    # A group is deleted whatever its MinSize (the bound is for the API's capacity changes only).
    asg.delete_auto_scaling_group(AutoScalingGroupName=f"asg-{n}", ForceDelete=True)
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"asg-{n}"])[
        "AutoScalingGroups"
    ] == []


def test_desired_capacity_within_bounds(url: str) -> None:
    check_desired_within_bounds(url)


def test_desired_capacity_bounds_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_desired_within_bounds(plain_url))


# --------------------------------------------------------------------------------------------------
# 4. operation_durations
# --------------------------------------------------------------------------------------------------


def check_durations(url: str) -> list[str]:
    """Returns the prefixes of the rules it added."""
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    ec2_east, ec2_west = client(url, "ec2", EAST), client(url, "ec2", WEST)
    asg = client(url, "autoscaling", WEST)
    n = uid()
    p = f"dur-{n}-"

    # set-up, untouched by the rules below (no rule's prefix matches these names)
    source = create_db(east, f"src-{n}")
    create_replica(west, f"{p}prom", source["DBInstanceArn"])
    create_db(west, f"{p}del")
    create_db(west, f"{p}mod")
    east.create_db_snapshot(DBInstanceIdentifier=f"src-{n}", DBSnapshotIdentifier=f"base-{n}")
    instance_id = ec2_east.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    base_image = ec2_east.create_image(InstanceId=instance_id, Name=f"base-img-{n}")["ImageId"]
    template = {
        "LaunchTemplateId": create_launch_template(ec2_west, f"lt-{n}"),
        "Version": "$Latest",
    }

    rules = [
        {"operation": op, "seconds": DURATION, "resourcePrefix": f"{p}{suffix}"}
        for op, suffix in [
            ("rds.create_db_instance", "new"),
            ("rds.create_db_instance_read_replica", "rr"),
            ("rds.promote_read_replica", "prom"),
            ("rds.delete_db_instance", "del"),
            ("rds.modify_db_instance", "mod"),
            ("rds.create_db_snapshot", "snap"),
            ("rds.copy_db_snapshot", "copy"),
            ("rds.restore_db_instance_from_db_snapshot", "rest"),
            ("ec2.create_image", "img"),
            ("ec2.copy_image", "imgcopy"),
            ("autoscaling.launch_instance", "asg"),
        ]
    ]
    # a rule for another prefix: must not touch plain-{n}
    rules.append(
        {"operation": "rds.create_db_instance", "seconds": 60, "resourcePrefix": f"other-{n}"}
    )
    http("POST", f"{url}/pilot-light/durations", {"rules": rules})

    def snapshot(rds: Any, identifier: str) -> dict[str, Any]:
        return rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"][0]

    def image(ec2: Any, name: str) -> dict[str, Any]:
        return ec2.describe_images(Filters=[{"Name": "name", "Values": [name]}])["Images"][0]

    def asg_instances() -> list[dict[str, Any]]:
        return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{p}asg"])[
            "AutoScalingGroups"
        ][0]["Instances"]

    # each operation, and at once its intermediate state
    assert create_db(east, f"{p}new")["DBInstanceStatus"] == "creating"
    assert db(east, f"{p}new")["DBInstanceStatus"] == "creating"

    create_replica(west, f"{p}rr", source["DBInstanceArn"])
    assert db(west, f"{p}rr")["DBInstanceStatus"] == "creating"
    still_creating = error_of(lambda: west.promote_read_replica(DBInstanceIdentifier=f"{p}rr"))
    assert code_and_status(still_creating) == ("InvalidDBInstanceState", 400)

    west.promote_read_replica(DBInstanceIdentifier=f"{p}prom")
    promoting = db(west, f"{p}prom")
    assert promoting["DBInstanceStatus"] == "modifying"
    assert promoting["ReadReplicaSourceDBInstanceIdentifier"] == source["DBInstanceArn"]
    again = error_of(lambda: west.promote_read_replica(DBInstanceIdentifier=f"{p}prom"))
    assert code_and_status(again) == ("InvalidDBInstanceState", 400)

    west.modify_db_instance(
        DBInstanceIdentifier=f"{p}mod", DBInstanceClass="db.r6g.large", ApplyImmediately=True
    )
    assert db(west, f"{p}mod")["DBInstanceStatus"] == "modifying"

    west.delete_db_instance(DBInstanceIdentifier=f"{p}del", SkipFinalSnapshot=True)
    assert db(west, f"{p}del")["DBInstanceStatus"] == "deleting"

    east.create_db_snapshot(DBInstanceIdentifier=f"src-{n}", DBSnapshotIdentifier=f"{p}snap")
    assert snapshot(east, f"{p}snap")["Status"] == "creating"

    east.copy_db_snapshot(
        SourceDBSnapshotIdentifier=f"base-{n}", TargetDBSnapshotIdentifier=f"{p}copy"
    )
    assert snapshot(east, f"{p}copy")["Status"] == "creating"

    east.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=f"{p}rest", DBSnapshotIdentifier=f"base-{n}"
    )
    assert db(east, f"{p}rest")["DBInstanceStatus"] == "creating"

    ec2_east.create_image(InstanceId=instance_id, Name=f"{p}img")
    assert image(ec2_east, f"{p}img")["State"] == "pending"

    ec2_west.copy_image(SourceImageId=base_image, SourceRegion=EAST, Name=f"{p}imgcopy")
    assert image(ec2_west, f"{p}imgcopy")["State"] == "pending"

    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"{p}asg", MinSize=0, MaxSize=2, DesiredCapacity=1,
        LaunchTemplate=template, AvailabilityZones=[f"{WEST}a"],
    )
    launching = asg_instances()
    assert [i["LifecycleState"] for i in launching] == ["Pending"]
    ec2_state = ec2_west.describe_instances(InstanceIds=[launching[0]["InstanceId"]])
    assert ec2_state["Reservations"][0]["Instances"][0]["State"]["Name"] == "pending"

    # the rule for another prefix leaves this one alone
    assert create_db(east, f"plain-{n}")["DBInstanceStatus"] == "available"

    # after the duration: the final states
    time.sleep(DURATION + 0.3)
    for rds, identifier in ((east, f"{p}new"), (west, f"{p}rr"), (east, f"{p}rest")):
        assert db(rds, identifier)["DBInstanceStatus"] == "available"
    resized = db(west, f"{p}mod")
    assert (resized["DBInstanceStatus"], resized["DBInstanceClass"]) == ("available", "db.r6g.large")
    promoted = db(west, f"{p}prom")
    assert promoted["DBInstanceStatus"] == "available"
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted
    assert promoted["DBInstanceArn"] not in db(east, f"src-{n}")["ReadReplicaDBInstanceIdentifiers"]
    gone = error_of(lambda: db(west, f"{p}del"))
    assert code_and_status(gone)[0] == "DBInstanceNotFound"
    assert snapshot(east, f"{p}snap")["Status"] == "available"
    assert snapshot(east, f"{p}copy")["Status"] == "available"
    assert image(ec2_east, f"{p}img")["State"] == "available"
    assert image(ec2_west, f"{p}imgcopy")["State"] == "available"
    launched = asg_instances()
    assert [i["LifecycleState"] for i in launched] == ["InService"]
    ec2_state = ec2_west.describe_instances(InstanceIds=[launched[0]["InstanceId"]])
    assert ec2_state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"
    return [rule["resourcePrefix"] for rule in rules]


def test_operation_durations_show_intermediate_then_final_states(url: str) -> None:
    prefixes = check_durations(url)

    def listed() -> list[str]:
        status, body = http("GET", f"{url}/pilot-light/durations")
        assert status == 200
        return [rule["resourcePrefix"] for rule in body["rules"]]

    assert set(prefixes) <= set(listed())
    for prefix in prefixes:
        status, body = http("DELETE", f"{url}/pilot-light/durations?resourcePrefix={prefix}")
        assert status == 200 and body == {"removed": 1}
    assert not set(prefixes) & set(listed())


def test_operation_durations_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_durations(plain_url))


def test_pending_instances_count_towards_capacity(url: str) -> None:
    ec2, asg = client(url, "ec2", WEST), client(url, "autoscaling", WEST)
    n = uid()
    http("POST", f"{url}/pilot-light/durations",
         {"operation": "autoscaling.launch_instance", "seconds": 30, "resourcePrefix": f"cap-{n}"})
    asg.create_auto_scaling_group(
        AutoScalingGroupName=f"cap-{n}", MinSize=0, MaxSize=4, DesiredCapacity=2,
        LaunchTemplate={"LaunchTemplateId": create_launch_template(ec2, f"lt-{n}")},
        AvailabilityZones=[f"{WEST}a"],
    )
    asg.set_desired_capacity(AutoScalingGroupName=f"cap-{n}", DesiredCapacity=2)
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[f"cap-{n}"])[
        "AutoScalingGroups"
    ][0]
    assert [i["LifecycleState"] for i in group["Instances"]] == ["Pending", "Pending"]
    http("DELETE", f"{url}/pilot-light/durations?resourcePrefix=cap-{n}")


def test_bad_duration_rules_are_refused(url: str) -> None:
    for bad in (
        {"operation": "rds.nope", "seconds": 1},
        {"operation": "rds.create_db_instance", "seconds": -1},
        {"operation": "rds.create_db_instance", "seconds": 1, "resourcePrefix": 3},
    ):
        assert http("POST", f"{url}/pilot-light/durations", bad)[0] == 400
    assert http("GET", f"{url}/pilot-light/nothing")[0] == 404


def test_reset_clears_rules_and_transitions(url: str) -> None:
    rds = client(url, "rds", EAST)
    n = uid()
    http("POST", f"{url}/pilot-light/durations",
         {"operation": "rds.create_db_instance", "seconds": 30, "resourcePrefix": f"rst-{n}"})
    assert create_db(rds, f"rst-{n}")["DBInstanceStatus"] == "creating"
    assert http("GET", f"{url}/pilot-light/durations")[1]["pending"] >= 1

    assert http("POST", f"{url}/moto-api/reset")[0] == 200

    listed = http("GET", f"{url}/pilot-light/durations")[1]
    assert listed == {"rules": [], "pending": 0}
    assert create_db(rds, f"rst-{n}")["DBInstanceStatus"] == "available"


# --------------------------------------------------------------------------------------------------
# 5. lambda_invoke_forwarding
# --------------------------------------------------------------------------------------------------

FORWARDING_MACHINE = {
    "StartAt": "Echo",
    "States": {
        "Echo": {
            "Type": "Task",
            "Resource": f"arn:aws:lambda:{WEST}:{ACCOUNT}:function:echo-ok",
            "ResultPath": "$.echo",
            "Next": "FailArnTask",
        },
        "FailArnTask": {
            "Type": "Task",
            "Resource": f"arn:aws:lambda:{WEST}:{ACCOUNT}:function:fails-replica:live",
            "Catch": [
                {
                    "ErrorEquals": ["ReplicaNotFound"],
                    "ResultPath": "$.caughtArn",
                    "Next": "FailInvoke",
                }
            ],
            "Next": "NotCaught",
        },
        "FailInvoke": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "fails-replica", "Payload.$": "$.echo"},
            "Catch": [
                {"ErrorEquals": ["NotAReplica"], "ResultPath": "$.wrong", "Next": "NotCaught"},
                {"ErrorEquals": ["ReplicaNotFound"], "ResultPath": "$.caughtInvoke",
                 "Next": "Done"},
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.wrong", "Next": "NotCaught"},
            ],
            "Next": "NotCaught",
        },
        "NotCaught": {"Type": "Fail", "Error": "NotCaught", "Cause": "the Catch did not match"},
        "Done": {"Type": "Succeed"},
    },
}


def check_forwarding(url: str, runtime: StandInRuntime) -> None:
    sfn = client(url, "stepfunctions", WEST)
    n = uid()
    before = len(runtime.calls)
    machine = sfn.create_state_machine(
        name=f"forward-{n}",
        definition=json.dumps(FORWARDING_MACHINE),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, name=f"run-{n}", input=json.dumps({"env": n})
    )["executionArn"]

    def finished() -> bool:
        return sfn.describe_execution(executionArn=execution)["status"] != "RUNNING"

    wait_until(finished, 30, "the execution")
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["echo"] == {"handledBy": "stand-in", "input": {"env": n}}
    assert output["caughtArn"]["Error"] == "ReplicaNotFound"
    assert json.loads(output["caughtArn"]["Cause"])["errorMessage"] == "no replica here"
    assert output["caughtInvoke"]["Error"] == "ReplicaNotFound"
    assert runtime.names()[before:] == ["echo-ok", "fails-replica", "fails-replica"]

    # the plain Invoke API: a function error, as on AWS; the functions were never created in moto
    lam = client(url, "lambda", WEST)
    echo_arn = f"arn:aws:lambda:{WEST}:{ACCOUNT}:function:echo-ok"
    ok = lam.invoke(FunctionName=echo_arn, Payload=b'{"a":1}')
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read()) == {"handledBy": "stand-in", "input": {"a": 1}}
    failed = lam.invoke(FunctionName="fails-replica", Qualifier="live", Payload=b"{}")
    assert failed["StatusCode"] == 200 and failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "ReplicaNotFound"
    missing = error_of(lambda: lam.invoke(FunctionName="no-such-binary", Payload=b"{}"))
    assert code_and_status(missing) == ("ResourceNotFoundException", 404)


def test_lambda_invoke_forwarded_to_runtime(url: str, servers: Servers) -> None:
    check_forwarding(url, servers.runtime)


def test_lambda_invoke_forwarding_fails_on_unpatched_moto(plain_url: str, servers: Servers) -> None:
    fails_on_unpatched_moto(lambda: check_forwarding(plain_url, servers.runtime))


# --------------------------------------------------------------------------------------------------
# 6. request_log
# --------------------------------------------------------------------------------------------------


def check_request_log(url: str) -> None:
    status, start = http("GET", f"{url}/pilot-light/requests?since=0&region=none")
    assert status == 200 and start["requests"] == []
    since = start["lastSeq"]

    client(url, "rds", EAST).describe_db_instances()
    client(url, "autoscaling", WEST).describe_auto_scaling_groups()
    client(url, "ssm", WEST).describe_parameters()
    client(url, "lambda", WEST).list_functions()
    client(url, "ec2", EAST).describe_launch_templates()

    def seen(query: str) -> list[tuple[str, str, str]]:
        code, body = http("GET", f"{url}/pilot-light/requests?since={since}{query}")
        assert code == 200
        assert body["lastSeq"] >= since + 5
        assert [e["seq"] for e in body["requests"]] == sorted(e["seq"] for e in body["requests"])
        return [(e["service"], e["action"], e["region"]) for e in body["requests"]]

    assert seen("") == [
        ("rds", "DescribeDBInstances", EAST),
        ("autoscaling", "DescribeAutoScalingGroups", WEST),
        ("ssm", "DescribeParameters", WEST),
        ("lambda", "ListFunctions", WEST),
        ("ec2", "DescribeLaunchTemplates", EAST),
    ]
    assert seen(f"&region={WEST}") == [
        ("autoscaling", "DescribeAutoScalingGroups", WEST),
        ("ssm", "DescribeParameters", WEST),
        ("lambda", "ListFunctions", WEST),
    ]
    assert seen(f"&region={EAST}&service=rds") == [("rds", "DescribeDBInstances", EAST)]


def test_request_log_records_the_parameters_that_name_resources(url: str) -> None:
    since = http("GET", f"{url}/pilot-light/requests?since=0&region=none")[1]["lastSeq"]
    ssm = client(url, "ssm", WEST)
    ssm.put_parameter(Name="/log-test/p", Value="do-not-log-me", Type="SecureString")
    rds = client(url, "rds", EAST)
    with pytest.raises(Exception):
        rds.describe_db_instances(DBInstanceIdentifier="log-test-db")
    _, body = http("GET", f"{url}/pilot-light/requests?since={since}")
    by_action = {e["action"]: e["params"] for e in body["requests"]}
    assert by_action["PutParameter"]["Name"] == "/log-test/p"
    assert by_action["PutParameter"]["Type"] == "SecureString"
    assert "Value" not in by_action["PutParameter"], "parameter values are never logged"
    assert by_action["DescribeDBInstances"]["DBInstanceIdentifier"] == "log-test-db"


def test_request_log_records_service_action_region(url: str) -> None:
    check_request_log(url)
    _, body = http("GET", f"{url}/pilot-light/requests?since=0&action=ListFunctions")
    entry = body["requests"][-1]
    assert entry["status"] == 200 and isinstance(entry["time"], float)


def test_request_log_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_request_log(plain_url))


# --------------------------------------------------------------------------------------------------
# stack.py
# --------------------------------------------------------------------------------------------------


def test_stack_no_lambda_prints_one_json_line_and_exits_on_stdin_eof(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(STACK), "--no-lambda", "--log-dir", str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "LAMBDA_FORWARD_URL"},
    )
    try:
        info = read_json_line(process, timeout=60)
        assert set(info) == {"motoUrl", "lambdaUrl", "logDir"}
        assert info["motoUrl"].startswith("http://127.0.0.1:")
        assert info["lambdaUrl"] is None and info["logDir"] == str(tmp_path)
        sts = client(info["motoUrl"], "sts", EAST)
        assert sts.get_caller_identity()["Account"] == ACCOUNT
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=15) == 0
        assert process.stdout is not None and process.stdout.read() == b""
        assert (tmp_path / "moto.log").exists()
    finally:
        if process.poll() is None:
            process.kill()


FAKE_CARGO = """#!{python}
# Plays `cargo lambda watch`: records its arguments, starts a grandchild in its own session (as a
# handler process could be), and answers HTTP on -P.
import http.server, json, os, subprocess, sys
args = sys.argv[1:]
port = int(args[args.index("-P") + 1])
child = subprocess.Popen(["sleep", "300"], start_new_session=True)
with open(os.environ["FAKE_CARGO_RECORD"], "w") as record:
    seen = {{"args": args, "path": os.environ["PATH"], "cwd": os.getcwd(),
            "pid": os.getpid(), "child": child.pid, "cargo": os.environ.get("CARGO"),
            "realCargo": os.environ.get("PILOT_LIGHT_REAL_CARGO")}}
    json.dump(seen, record)
http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


@pytest.mark.parametrize("handlers", ["built", "cargo-run"])
def test_stack_starts_the_lambda_runtime_and_kills_it_on_exit(tmp_path: Path, handlers: str) -> None:
    """The watcher is `cargo-lambda` run with `built-handlers/cargo` as its cargo (handlers run
    from their built binaries), or, with PILOT_LIGHT_CARGO_RUN_ALWAYS, `cargo lambda` itself. The
    fake plays both."""
    fake = tmp_path / "cargo"
    fake.write_text(FAKE_CARGO.format(python=sys.executable))
    fake.chmod(0o755)
    record = tmp_path / "record.json"
    env = dict(os.environ, CARGO=str(fake), FAKE_CARGO_RECORD=str(record))
    env.pop("PILOT_LIGHT_CARGO_RUN_ALWAYS", None)
    if handlers == "built":
        env["PILOT_LIGHT_CARGO_LAMBDA"] = str(fake)
    else:
        env["PILOT_LIGHT_CARGO_RUN_ALWAYS"] = "1"
    process = subprocess.Popen(
        [sys.executable, str(STACK), "--log-dir", str(tmp_path / "logs"),
         "--lambda-region", "eu-west-1", "--lambda-env", "PILOT_LIGHT_ENV=t1",
         "--lambda-env", "LIST=a,b"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        info = read_json_line(process, timeout=60)
        assert info["lambdaUrl"].startswith("http://127.0.0.1:")
        lambda_port = int(info["lambdaUrl"].rsplit(":", 1)[1])
        seen = json.loads(record.read_text())
        args = seen["args"]
        assert args[:6] == ["lambda", "watch", "-A", "127.0.0.1", "-P", str(lambda_port)]
        env_vars = [args[i + 1] for i, a in enumerate(args) if a == "--env-var"]
        assert env_vars == [
            f"AWS_ENDPOINT_URL={info['motoUrl']}", "AWS_REGION=eu-west-1",
            "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "RUST_LOG=info",
            "PILOT_LIGHT_AWS_ATTEMPT_TIMEOUT_SECONDS=2", "PILOT_LIGHT_ENV=t1",
        ]
        env_file = Path(args[args.index("--env-file") + 1])
        assert env_file.read_text() == "LIST=a,b\n"
        path = seen["path"].split(os.pathsep)
        if handlers == "built":
            assert path[:2] == [str(HERE / "built-handlers"), str(VENV_BIN)]
            assert seen["cargo"] == str(HERE / "built-handlers" / "cargo")
            assert seen["realCargo"] == str(fake)
        else:
            assert path[0] == str(VENV_BIN)
            assert seen["realCargo"] is None
        # The watcher runs (and watches) an empty directory of its own, never the repository,
        # and finds the workspace by its manifest.
        assert Path(seen["cwd"]) == (tmp_path / "logs" / "lambda-watch-cwd").resolve()
        assert list(Path(seen["cwd"]).iterdir()) == []
        assert args[args.index("--manifest-path") + 1] == str(HERE.parent.parent / "Cargo.toml")
        assert alive(seen["pid"]) and alive(seen["child"])

        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=20) == 0
        assert not alive(seen["pid"])
        wait_until(lambda: not alive(seen["child"]), 5, "the runtime's grandchild to die")
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", lambda_port)) != 0
    finally:
        if process.poll() is None:
            process.kill()


def test_stack_exits_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, str(STACK), "--no-lambda", "--log-dir", str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        read_json_line(process, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()


# --------------------------------------------------------------------------------------------------
# s3_output_xml_roots
# --------------------------------------------------------------------------------------------------


def check_s3_output_roots(url: str) -> None:
    from xml.etree import ElementTree

    s3 = client(url, "s3", WEST)
    bucket = f"roots-{uid()}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": WEST})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    roots: dict[str, str] = {}

    def capture(http_response: Any, model: Any, **_: Any) -> None:
        roots[model.name] = ElementTree.fromstring(http_response.content).tag.split("}")[-1]

    s3.meta.events.register("after-call.s3.GetBucketVersioning", capture)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert roots == {"GetBucketVersioning": "VersioningConfiguration"}


def test_s3_output_xml_roots(url: str) -> None:
    check_s3_output_roots(url)


def test_s3_output_xml_roots_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_s3_output_roots(plain_url))


# --------------------------------------------------------------------------------------------------
# fault injection
# --------------------------------------------------------------------------------------------------


def single_attempt_client(url: str, service: str, region: str) -> Any:
    """A client that never retries (``client`` retries once): each call is one request."""
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def check_fault_injection(url: str) -> None:
    label = f"faults-{uid()}"
    rds = single_attempt_client(url, "rds", EAST)
    ec2 = single_attempt_client(url, "ec2", WEST)
    ssm = single_attempt_client(url, "ssm", WEST)
    lam = single_attempt_client(url, "lambda", WEST)
    r53 = single_attempt_client(url, "route53", EAST)
    name = f"/fault-test/{label}"
    status, _ = http(
        "POST",
        f"{url}/pilot-light/faults",
        {
            "rules": [
                {"service": "rds", "action": "DescribeDBInstances", "kind": "throttle",
                 "count": 2, "region": EAST, "label": label},
                {"service": "ec2", "action": "DescribeLaunchTemplates", "kind": "throttle",
                 "label": label},
                {"service": "ssm", "action": "PutParameter", "kind": "unavailable",
                 "mentions": label, "label": label},
                {"service": "lambda", "action": "ListFunctions", "kind": "throttle",
                 "label": label},
                {"service": "route53", "action": "ListHostedZones", "kind": "timeout",
                 "holdSeconds": 0.5, "label": label},
            ]
        },
    )
    assert status == 200
    since = http("GET", f"{url}/pilot-light/requests?since=0&region=none")[1]["lastSeq"]

    # throttling, in each protocol's shape, for exactly `count` calls; other regions untouched
    assert code_and_status(error_of(rds.describe_db_instances)) == ("Throttling", 400)
    single_attempt_client(url, "rds", WEST).describe_db_instances()
    assert code_and_status(error_of(rds.describe_db_instances)) == ("Throttling", 400)
    rds.describe_db_instances()
    assert code_and_status(error_of(ec2.describe_launch_templates)) == (
        "RequestLimitExceeded",
        503,
    )
    ec2.describe_launch_templates()
    assert code_and_status(error_of(lam.list_functions)) == ("TooManyRequestsException", 429)
    # a 5xx only for the request that mentions the label; the faulted write changed nothing
    ssm.put_parameter(Name="/fault-test/other", Value="x", Type="String", Overwrite=True)
    assert code_and_status(
        error_of(lambda: ssm.put_parameter(Name=name, Value="v", Type="String"))
    ) == ("InternalServerError", 500)
    assert error_of(lambda: ssm.get_parameter(Name=name)).response["Error"]["Code"] == (
        "ParameterNotFound"
    )
    ssm.put_parameter(Name=name, Value="v", Type="String")
    # a timeout: held, then 504
    began = time.monotonic()
    assert code_and_status(error_of(r53.list_hosted_zones)) == ("RequestTimeout", 504)
    assert time.monotonic() - began >= 0.5

    _, rules = http("GET", f"{url}/pilot-light/faults")
    served = {r["action"]: r["served"] for r in rules["rules"] if r["label"] == label}
    assert served == {
        "DescribeDBInstances": 2,
        "DescribeLaunchTemplates": 1,
        "PutParameter": 1,
        "ListFunctions": 1,
        "ListHostedZones": 1,
    }
    _, body = http("GET", f"{url}/pilot-light/requests?since={since}")
    statuses = [(e["action"], e["status"]) for e in body["requests"]]
    assert ("DescribeDBInstances", 400) in statuses and ("PutParameter", 500) in statuses
    assert http("DELETE", f"{url}/pilot-light/faults?label={label}")[1] == {"removed": 5}
    ssm.delete_parameter(Name=name)


def test_injected_faults_fail_the_next_calls_in_each_protocols_shape(url: str) -> None:
    check_fault_injection(url)


def test_fault_injection_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_fault_injection(plain_url))


def check_taken_names_are_refused(url: str) -> None:
    u = uid()
    east, west = client(url, "rds", EAST), client(url, "rds", WEST)
    primary = f"taken-{u}"
    east.create_db_instance(
        DBInstanceIdentifier=primary, Engine="postgres", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="admin", MasterUserPassword="password1",
    )
    arn = east.describe_db_instances(DBInstanceIdentifier=primary)["DBInstances"][0][
        "DBInstanceArn"
    ]
    replica = f"{primary}-dr"
    create = lambda: west.create_db_instance_read_replica(  # noqa: E731
        DBInstanceIdentifier=replica, SourceDBInstanceIdentifier=arn, SourceRegion=EAST
    )
    create()
    assert error_of(create).response["Error"]["Code"] == "DBInstanceAlreadyExists"
    assert len(west.describe_db_instances(DBInstanceIdentifier=replica)["DBInstances"]) == 1
    ec2 = client(url, "ec2", EAST)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    image = lambda: ec2.create_image(InstanceId=instance["InstanceId"], Name=f"img-{u}")  # noqa: E731
    first = image()["ImageId"]
    assert error_of(image).response["Error"]["Code"] == "InvalidAMIName.Duplicate"
    named = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [f"img-{u}"]}])
    assert [i["ImageId"] for i in named["Images"]] == [first]
    west_ec2 = client(url, "ec2", WEST)
    copy = lambda: west_ec2.copy_image(  # noqa: E731
        SourceImageId=first, SourceRegion=EAST, Name=f"copy-{u}"
    )
    copy()
    assert error_of(copy).response["Error"]["Code"] == "InvalidAMIName.Duplicate"


def test_names_already_taken_are_refused(url: str) -> None:
    check_taken_names_are_refused(url)


def test_taken_names_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_taken_names_are_refused(plain_url))


def check_lost_answer(url: str) -> None:
    """``lost``: the request is applied, and the caller gets a 5xx instead of the answer; its retry
    meets what the first attempt made."""
    label = f"lost-{uid()}"
    ssm = single_attempt_client(url, "ssm", WEST)
    name = f"/fault-test/{label}"
    status, _ = http(
        "POST",
        f"{url}/pilot-light/faults",
        {"service": "ssm", "action": "PutParameter", "kind": "lost", "mentions": label,
         "label": label},
    )
    assert status == 200
    put = lambda: ssm.put_parameter(Name=name, Value="v1", Type="String")  # noqa: E731
    assert code_and_status(error_of(put)) == ("InternalServerError", 500)
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "v1"
    assert error_of(put).response["Error"]["Code"] == "ParameterAlreadyExists"
    _, rules = http("GET", f"{url}/pilot-light/faults")
    assert [r["served"] for r in rules["rules"] if r["label"] == label] == [1]
    http("DELETE", f"{url}/pilot-light/faults?label={label}")
    ssm.delete_parameter(Name=name)


def test_a_lost_answer_is_applied_and_answered_with_a_5xx(url: str) -> None:
    check_lost_answer(url)


def test_lost_answers_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_lost_answer(plain_url))


def test_bad_fault_rules_are_refused(url: str) -> None:
    for rule in (
        {"action": "DescribeDBInstances", "kind": "throttle"},
        {"service": "rds", "kind": "explode"},
        {"service": "rds", "kind": "throttle", "count": 0},
        {"service": "rds", "kind": "timeout", "holdSeconds": 600},
    ):
        status, body = http("POST", f"{url}/pilot-light/faults", rule)
        assert status == 400, (rule, body)
    assert http("GET", f"{url}/pilot-light/faults")[0] == 200


# --------------------------------------------------------------------------------------------------
# handler log audit
# --------------------------------------------------------------------------------------------------


def test_log_audit_flags_non_json_handler_lines_and_secrets_without_repeating_them(
    tmp_path: Path,
) -> None:
    sys.path.insert(0, str(HERE))
    import patches

    log = tmp_path / "lambda.log"
    log.write_text(
        "$ cargo lambda watch -A 127.0.0.1\n"
        " INFO starting Runtime server runtime_addr=127.0.0.1:1\n"
        "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 0.27s\n"
        " `dev` profile [unoptimized + debuginfo] target(s) in 0.38s\n"
        " waiting for file lock on package cache\n"
        '{"level":"INFO","fields":{"message":"synced","name":"/app/db/password"}}\n'
        "thread 'main' panicked at src/main.rs:1:1\n"
        '{"level":"INFO","fields":{"message":"value hunter2-secret"}}\n'
        "\n"
    )
    report = patches.audit_handler_log(log, {"hunter2-secret"})
    assert report["handlerLines"] == 3 and report["watcherLines"] == 6
    assert report["notJson"] == [
        {"line": 7, "start": "thread 'main' panicked at src/main.rs:1:1"}
    ]
    assert report["secretFound"] == [{"line": 8}]
    assert "hunter2" not in json.dumps(report)
    clean = patches.audit_handler_log(log, set())
    assert clean["secretFound"] == []
    # Only what was written before the stack killed the functions is audited.
    served = len(log.read_bytes())
    with open(log, "a") as tail:
        tail.write("thread 'tokio-rt-worker' panicked at tokio/src/runtime/...: shutting down\n")
    assert len(patches.audit_handler_log(log, set())["notJson"]) == 2
    assert len(patches.audit_handler_log(log, set(), limit=served)["notJson"]) == 1


def test_secure_string_values_and_kms_plaintexts_become_canaries(url: str) -> None:
    ssm = client(url, "ssm", WEST)
    secret = f"canary-{uid()}"
    ssm.put_parameter(Name=f"/canary/{uid()}", Value=secret, Type="SecureString")
    ssm.put_parameter(Name=f"/canary/{uid()}", Value=f"plain-{uid()}", Type="String")
    kms = client(url, "kms", WEST)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    plaintext = f"kms-plain-{uid()}"
    kms.encrypt(KeyId=key, Plaintext=plaintext.encode())
    # The stack's process holds the canaries: a log line with them is flagged by its audit.
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"canary-{uid()}.log"
    probe.write_text(f'{{"msg":"{secret}"}}\n{{"msg":"{plaintext}"}}\n{{"msg":"fine"}}\n')
    try:
        status, body = http("GET", f"{url}/pilot-light/log-audit?path={probe}")
        assert status == 200, body
        assert body["secretFound"] == [{"line": 1}, {"line": 2}], body
        assert body["notJson"] == []
    finally:
        probe.unlink()


def test_a_fault_rule_spares_the_user_agent_it_excepts(url: str) -> None:
    label = f"faults-{uid()}"
    http(
        "POST",
        f"{url}/pilot-light/faults",
        {"service": "sqs", "action": "ListQueues", "kind": "unavailable", "count": 1,
         "exceptUserAgent": "app/spared-harness", "label": label},
    )
    spared = boto3.client(
        "sqs", region_name=WEST, endpoint_url=url, aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(user_agent_appid="spared-harness", retries={"total_max_attempts": 1}),
    )
    spared.list_queues()
    assert code_and_status(error_of(single_attempt_client(url, "sqs", WEST).list_queues))[1] == 503
    http("DELETE", f"{url}/pilot-light/faults?label={label}")


def _built_handlers_run(tmp_path: Path, args: list[str], binary_newer: bool) -> str:
    """Runs built-handlers/cargo in a little workspace; returns what answered: "binary" or
    "cargo <args>"."""
    repo = tmp_path / "repo"
    (repo / "crates/handler/src").mkdir(parents=True)
    for name in ("Cargo.toml", "Cargo.lock", "crates/handler/Cargo.toml"):
        (repo / name).write_text("")
    source = repo / "crates/handler/src/main.rs"
    source.write_text("")
    binary = tmp_path / "target/debug/handler"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\necho binary\n")
    binary.chmod(0o755)
    real = tmp_path / "real-cargo"
    real.write_text('#!/bin/sh\necho "cargo $*"\n')
    real.chmod(0o755)
    old, new = time.time() - 100, time.time()
    os.utime(source, (new, new) if not binary_newer else (old, old))
    for name in ("Cargo.toml", "Cargo.lock", "crates/handler/Cargo.toml"):
        os.utime(repo / name, (old, old))
    os.utime(binary, (old, old) if not binary_newer else (new, new))
    answer = subprocess.run(
        [str(HERE / "built-handlers" / "cargo"), *args],
        env=dict(os.environ, PILOT_LIGHT_REAL_CARGO=str(real), PILOT_LIGHT_REPO=str(repo),
                 CARGO_TARGET_DIR=str(tmp_path / "target")),
        capture_output=True, text=True, check=True, timeout=30,
    )
    return answer.stdout.strip()


@pytest.mark.parametrize(
    ("args", "binary_newer", "answered_by"),
    [
        (["run", "--color", "auto", "--bin", "handler"], True, "binary"),
        (["run", "--color", "auto", "--bin", "handler"], False, "cargo run --color auto --bin handler"),
        (["run", "--bin", "handler", "--", "x"], True, "cargo run --bin handler -- x"),
        (["run", "--bin", "missing"], True, "cargo run --bin missing"),
        (["metadata", "--format-version", "1"], True, "cargo metadata --format-version 1"),
    ],
)
def test_built_handlers_runs_a_fresh_binary_and_leaves_the_rest_to_cargo(
    tmp_path: Path, args: list[str], binary_newer: bool, answered_by: str
) -> None:
    assert _built_handlers_run(tmp_path, args, binary_newer) == answered_by


# --------------------------------------------------------------------------------------------------
# EventBridge: a target's constant Input


def check_constant_input_replaces_the_event(url: str) -> None:
    events = client(url, "events", WEST)
    sqs = client(url, "sqs", WEST)
    u = uid()
    bus = f"bus-{u}"
    events.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=f"q-{u}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name=f"r-{u}",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["aws.autoscaling"]}),
    )
    constant = {"action": "recordPrimaryCapacity", "env": u}
    events.put_targets(
        Rule=f"r-{u}",
        EventBusName=bus,
        Targets=[{"Id": "t", "Arn": queue_arn, "Input": json.dumps(constant)}],
    )
    events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "aws.autoscaling",
                "DetailType": "EC2 Instance Launch Successful",
                "Detail": json.dumps({"AutoScalingGroupName": "g"}),
            }
        ]
    )
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    try:
        assert [json.loads(m["Body"]) for m in got] == [constant], got
    finally:
        events.remove_targets(Rule=f"r-{u}", EventBusName=bus, Ids=["t"])
        events.delete_rule(Name=f"r-{u}", EventBusName=bus)
        events.delete_event_bus(Name=bus)
        sqs.delete_queue(QueueUrl=queue)


def test_a_target_with_a_constant_input_receives_it(url: str) -> None:
    check_constant_input_replaces_the_event(url)


def test_constant_inputs_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_constant_input_replaces_the_event(plain_url))


# --------------------------------------------------------------------------------------------------
# Step Functions: StopExecution takes effect when it returns

TOKEN_WAIT_SECONDS = 20


def check_stop_is_immediate(url: str) -> None:
    """A run waiting for a task token (moto's evaluation thread is not woken there) is ABORTED as
    soon as StopExecution returns, and stays so once that thread has wound down (plain moto: RUNNING
    for the whole TimeoutSeconds, then FAILED with States.Timeout)."""
    sfn = client(url, "stepfunctions", WEST)
    sqs = client(url, "sqs", WEST)
    u = uid()
    queue = sqs.create_queue(QueueName=f"tokens-{u}")["QueueUrl"]
    definition = {
        "StartAt": "AwaitCallback",
        "States": {
            "AwaitCallback": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": TOKEN_WAIT_SECONDS,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"stop-{u}",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name=f"run-{u}")["executionArn"]

    def history_types() -> list[str]:
        return [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]

    wait_until(lambda: "TaskSubmitted" in history_types(), 10, "the message to be sent")
    sfn.stop_execution(executionArn=execution)
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "ABORTED", described["status"]
    assert "stopDate" in described and "error" not in described

    wait_until(lambda: "ExecutionAborted" in history_types(), TOKEN_WAIT_SECONDS + 15,
               "the evaluation to wind down")
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_stop_execution_aborts_at_once(url: str) -> None:
    check_stop_is_immediate(url)


def test_stop_execution_aborts_at_once_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_stop_is_immediate(plain_url))


# --------------------------------------------------------------------------------------------------
# SSM: DescribeParameters pages of MaxResults


def check_describe_parameters_pages(url: str) -> None:
    ssm = client(url, "ssm", WEST)
    root = f"/pages-{uid()}"
    for i in range(60):
        ssm.put_parameter(Name=f"{root}/p{i:02}", Value="v", Type="String")
    path = [{"Key": "Path", "Option": "Recursive", "Values": [root]}]
    pages, names, token = 0, [], None
    while True:
        args: dict[str, Any] = {"ParameterFilters": path, "MaxResults": 50}
        if token:
            args["NextToken"] = token
        page = ssm.describe_parameters(**args)
        pages += 1
        names += [p["Name"] for p in page["Parameters"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(names) == [f"{root}/p{i:02}" for i in range(60)]
    assert pages == 2, f"{pages} pages of at most 50"
    small = ssm.describe_parameters(ParameterFilters=path, MaxResults=5)
    assert len(small["Parameters"]) == 5 and "NextToken" in small


def test_describe_parameters_pages_of_max_results(url: str) -> None:
    check_describe_parameters_pages(url)


def test_describe_parameters_pages_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_describe_parameters_pages(plain_url))


# --------------------------------------------------------------------------------------------------
# Step Functions: GetExecutionHistory pages


def check_execution_history_pages(url: str) -> None:
    """A history of more than 100 events comes in pages: 100 by default, ``maxResults`` when
    given, forwards or newest first, with or without the events' data; a made-up token is
    refused (plain moto: the whole history in one page, whatever was asked)."""
    sfn = client(url, "stepfunctions", WEST)
    u = uid()
    steps = 70
    states: dict[str, Any] = {
        f"Step{i}": {"Type": "Pass", "Result": {"step": i}, "ResultPath": "$.last",
                     **({"Next": f"Step{i + 1}"} if i + 1 < steps else {"End": True})}
        for i in range(steps)
    }
    machine = sfn.create_state_machine(
        name=f"pages-{u}",
        definition=json.dumps({"StartAt": "Step0", "States": states}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input='{"a": 1}')["executionArn"]
    wait_until(
        lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", 30,
        "the run to end",
    )

    def pages(**asked: Any) -> list[list[dict[str, Any]]]:
        found, token = [], None
        while True:
            page = sfn.get_execution_history(
                executionArn=execution, **asked, **({"nextToken": token} if token else {})
            )
            found.append(page["events"])
            token = page.get("nextToken")
            if not token:
                return found

    default = sfn.get_execution_history(executionArn=execution)
    assert len(default["events"]) == 100 and "nextToken" in default
    forward = [e for page in pages(maxResults=40) for e in page]
    ids = [e["id"] for e in forward]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 2 * steps, ids[:5]
    assert [len(p) for p in pages(maxResults=1000)] == [len(ids)]
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=3)
    assert [e["id"] for e in newest["events"]] == [len(ids), len(ids) - 1, len(ids) - 2]
    assert newest["events"][0]["type"] == "ExecutionSucceeded"
    backwards = [e["id"] for page in pages(reverseOrder=True, maxResults=70) for e in page]
    assert backwards == list(reversed(ids))

    def carries_data(events: list[dict[str, Any]]) -> bool:
        return any(
            "input" in details or "output" in details
            for event in events
            for key, details in event.items()
            if key.endswith("EventDetails") and isinstance(details, dict)
        )

    assert carries_data(forward)
    lean = [e for page in pages(maxResults=1000, includeExecutionData=False) for e in page]
    assert [e["id"] for e in lean] == ids and not carries_data(lean)
    assert any(e.get("stateExitedEventDetails", {}).get("name") == "Step3" for e in lean)
    refused = error_of(
        lambda: sfn.get_execution_history(executionArn=execution, nextToken="made-up")
    )
    assert refused.response["Error"]["Code"] == "InvalidToken"


def test_execution_history_comes_in_pages(url: str) -> None:
    check_execution_history_pages(url)


def test_execution_history_pages_fail_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_execution_history_pages(plain_url))


def check_dns_change_duration(url: str) -> None:
    """A record change in a zone a rule names is PENDING (its own change ID) until its time has
    passed, then INSYNC; a change in another zone is INSYNC at once."""
    route53 = client(url, "route53", EAST)
    n = uid()
    seconds = 1.5
    http("POST", f"{url}/pilot-light/durations",
         {"operation": "route53.change_resource_record_sets", "seconds": seconds,
          "resourcePrefix": f"dns-{n}"})

    def change(zone_name: str, value: str) -> dict[str, Any]:
        zone = route53.create_hosted_zone(Name=zone_name, CallerReference=f"{zone_name}-{value}")
        return route53.change_resource_record_sets(
            HostedZoneId=zone["HostedZone"]["Id"],
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": f"app.{zone_name}", "Type": "CNAME", "TTL": 60,
                "ResourceRecords": [{"Value": value}]}}]},
        )["ChangeInfo"]

    first = change(f"dns-{n}.example.com", "a.example.net")
    second = change(f"dns-{n}b.example.com", "b.example.net")
    other = change(f"plain-{n}.example.com", "c.example.net")
    assert (first["Status"], second["Status"]) == ("PENDING", "PENDING")
    assert first["Id"] != second["Id"]
    assert route53.get_change(Id=first["Id"])["ChangeInfo"]["Status"] == "PENDING"
    assert other["Status"] == "INSYNC"
    assert route53.get_change(Id=other["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    time.sleep(seconds + 0.3)
    for info in (first, second):
        assert route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"] == "INSYNC"
    http("DELETE", f"{url}/pilot-light/durations?resourcePrefix=dns-{n}")


def test_dns_changes_are_pending_for_their_duration(url: str) -> None:
    check_dns_change_duration(url)


def test_dns_change_duration_fails_on_unpatched_moto(plain_url: str) -> None:
    fails_on_unpatched_moto(lambda: check_dns_change_duration(plain_url))


# --------------------------------------------------------------------------------------------------
# SSM: a listing walks the parameters as they were when it began


def adds_while_listing(walk: Callable[[Any], Any]) -> tuple[list[str], list[str]]:
    """Walks a region's parameter dictionary with ``walk`` and adds a parameter at every step, as a
    concurrent PutParameter would; the names there before, and the names walked."""
    from moto.ssm.models import ParameterDict

    parameters = ParameterDict("123456789012", WEST)
    for name in ("/a", "/b", "/c"):
        parameters[name].append(name)
    before = list(dict.keys(parameters))
    walked = []
    for name in walk(parameters):
        walked.append(name)
        parameters[f"/added-{len(walked)}"].append("new")
    return before, walked


def test_an_ssm_listing_is_not_broken_by_a_concurrent_put() -> None:
    import patches

    with pytest.raises(RuntimeError, match="changed size during iteration"):
        adds_while_listing(lambda parameters: dict.__iter__(parameters))  # moto 5.2.5's walk
    patches.ssm_parameter_listing_reads_a_snapshot()
    before, walked = adds_while_listing(iter)
    assert walked == before and len(before) == 3


def test_an_ssm_listing_leaves_out_a_parameter_deleted_while_it_runs() -> None:
    import types

    import patches
    from moto.ssm.exceptions import InvalidResourceId
    from moto.ssm.models import ssm_backends

    backend = ssm_backends["123456789012"][WEST]
    gone = types.SimpleNamespace(name="/deleted-while-listing")  # listed, then deleted by another request
    with pytest.raises(InvalidResourceId):
        backend._match_filters(gone, [])  # moto 5.2.5 fails the whole listing
    patches.ssm_listing_skips_parameters_deleted_meanwhile()
    assert backend._match_filters(gone, []) is False
    assert backend._match_filters(None, []) is False

