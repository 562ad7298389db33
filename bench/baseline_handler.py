"""The Python/boto3 baseline of P1: what a handler written the usual Python way does before its
first event, for each pilot-light handler.

``python baseline_handler.py <handler>`` imports boto3, builds one client of every AWS service the
Rust handler of that name holds in its ``Clients`` (``crates/<handler>/src/lib.rs``), in the
function's region, then asks the Lambda Runtime API (``AWS_LAMBDA_RUNTIME_API``) for its first event,
as a Python runtime does after loading the function's module. ``bench/run.py`` times it with
``bench/runtime_stub.py`` exactly as it times the Rust binary.

The Rust handlers load the SDK configuration at start-up and make each client on first use (one per
region, ``pilot_light_core::clients::Regional``); the Python style builds them at module load. Both
are what the respective function does before it can take an event.
"""

from __future__ import annotations

import os
import sys
import urllib.request

# boto3 service names of each handler's clients.
HANDLER_SERVICES: dict[str, list[str]] = {
    "copy-ami": ["ec2", "autoscaling", "ssm"],
    "drill-resources": ["rds", "autoscaling", "ec2", "ssm", "stepfunctions"],
    "promote-replica": ["rds", "cloudwatch"],
    "readiness": [
        "rds",
        "cloudwatch",
        "ec2",
        "autoscaling",
        "ssm",
        "kms",
        "lambda",
        "events",
        "route53",
        "stepfunctions",
        "sns",
    ],
    "report": ["stepfunctions", "sns"],
    "resize-database": ["rds"],
    "run-state": ["ssm"],
    "scale-asg": ["autoscaling", "elbv2"],
    "snapshot-restore": ["rds"],
    "switch-replication": ["s3"],
    "switch-traffic": ["route53"],
    "sync-ssm": ["ssm"],
    "toggle-functions": ["lambda", "events"],
    "update-launch-template": ["ec2"],
}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in HANDLER_SERVICES:
        print(f"usage: {sys.argv[0]} <{'|'.join(HANDLER_SERVICES)}>", file=sys.stderr)
        return 2
    import boto3

    clients = {name: boto3.client(name) for name in HANDLER_SERVICES[sys.argv[1]]}
    runtime = os.environ["AWS_LAMBDA_RUNTIME_API"]
    # Ready: ask for the first event (the stub never answers; the bench ends the process).
    with urllib.request.urlopen(f"http://{runtime}/2018-06-01/runtime/invocation/next") as event:
        event.read()
    del clients
    return 0


if __name__ == "__main__":
    sys.exit(main())
