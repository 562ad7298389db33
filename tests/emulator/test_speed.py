"""The emulator's speed-ups (``speed.py``) change no answer: definitions are still validated, each
state machine keeps its own definition, every subscription still signs, requests still reach their
service."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import speed
from test_emulator import EAST, WEST, client, error_of, uid

ROLE = "arn:aws:iam::123456789012:role/pilot-light-test"


def machine(topic_arn: str, state_type: str = "Task") -> str:
    return json.dumps(
        {
            "StartAt": "Notify",
            "States": {
                "Notify": {
                    "Type": state_type,
                    "Resource": "arn:aws:states:::sns:publish",
                    "Parameters": {"TopicArn": topic_arn, "Message.$": "$.message"},
                    "End": True,
                }
            },
        }
    )


@pytest.mark.parametrize(
    ("definition", "shape"),
    [
        (
            {"Parameters": {"TopicArn": "arn:a", "Message.$": "$.m"}, "Type": "Task"},
            {"Parameters": {"TopicArn": "", "Message.$": "$.m"}, "Type": "Task"},
        ),
        (
            {"ItemSelector": {"deep": {"x": "literal", "y.$": "$$.Map.Item.Value"}}},
            {"ItemSelector": {"deep": {"x": "", "y.$": "$$.Map.Item.Value"}}},
        ),
        ({"Next": "Somewhere", "Comment": "kept"}, {"Next": "Somewhere", "Comment": "kept"}),
        ({"Parameters": {"n": 3, "b": True}}, {"Parameters": {"n": 3, "b": True}}),
    ],
)
def test_a_definitions_shape_blanks_only_the_literal_strings_of_payload_templates(
    definition: dict[str, Any], shape: dict[str, Any]
) -> None:
    assert speed.definition_shape(json.dumps(definition)) == json.dumps(shape, sort_keys=True)


def test_a_definition_that_is_not_json_has_no_shape() -> None:
    assert speed.definition_shape("{not json") is None


def test_machines_differing_in_a_literal_are_both_created_with_their_own_definition(
    url: str,
) -> None:
    sfn = client(url, "stepfunctions", WEST)
    first, second = machine(f"arn:aws:sns:{WEST}:123456789012:a-{uid()}"), machine(
        f"arn:aws:sns:{WEST}:123456789012:b-{uid()}"
    )
    arns = [
        sfn.create_state_machine(name=f"speed-{uid()}", definition=d, roleArn=ROLE)[
            "stateMachineArn"
        ]
        for d in (first, second)
    ]
    described = [sfn.describe_state_machine(stateMachineArn=a)["definition"] for a in arns]
    assert described == [first, second]


def test_an_invalid_definition_is_refused_even_after_valid_ones(url: str) -> None:
    sfn = client(url, "stepfunctions", WEST)
    topic = f"arn:aws:sns:{WEST}:123456789012:c-{uid()}"
    sfn.create_state_machine(name=f"speed-{uid()}", definition=machine(topic), roleArn=ROLE)
    for _ in range(2):  # refused each time: failures are never remembered
        error = error_of(
            lambda: sfn.create_state_machine(
                name=f"speed-{uid()}", definition=machine(topic, "Taks"), roleArn=ROLE
            )
        )
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "ASLParserException" in error.response["Error"]["Message"], error.response


def test_every_service_still_answers_from_its_own_backend(url: str) -> None:
    for _ in range(2):
        assert client(url, "sts", EAST).get_caller_identity()["Account"] == "123456789012"
        assert "DBInstances" in client(url, "rds", WEST).describe_db_instances()
        assert "AutoScalingGroups" in client(url, "autoscaling", EAST).describe_auto_scaling_groups()
        assert "HostedZones" in client(url, "route53", EAST).list_hosted_zones()


def test_the_kept_module_list_is_the_listing_of_motos_package() -> None:
    import os

    import moto
    from moto import backends

    speed.moto_module_list_kept()
    package = os.path.dirname(moto.__file__)
    listed = sorted(
        entry
        for entry in os.listdir(package)
        if os.path.isdir(os.path.join(package, entry)) and not entry.startswith("__")
    )
    assert list(backends.list_of_moto_modules()) == listed
    assert backends.list_of_moto_modules() is backends.list_of_moto_modules()
    assert "stepfunctions" in backends.list_of_moto_modules()

def test_every_subscription_signs_with_one_key() -> None:
    from moto.sns.models import Subscription

    speed.one_sns_signing_key()
    first = Subscription.__new__(Subscription)
    second = Subscription.__new__(Subscription)
    assert first.private_key() is second.private_key()
    assert first.private_key().key_size == 2048


def substituted(path: Path) -> str:
    """A machine of ``state-machines/`` with each ``${Name}`` replaced by a Lambda function ARN."""
    return re.sub(
        r"\$\{(\w+)\}",
        lambda m: f"arn:aws:lambda:{WEST}:123456789012:function:{m.group(1)}",
        path.read_text(),
    )


MACHINES = sorted((Path(__file__).resolve().parents[2] / "state-machines").glob("*.asl.json"))


@pytest.mark.parametrize("path", MACHINES, ids=[p.name for p in MACHINES])
def test_the_kept_parse_gives_the_tree_moto_gives(path: Path) -> None:
    from antlr4 import CommonTokenStream, InputStream
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    speed.state_machine_parse_cache()
    definition = substituted(path)
    moto_parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(definition))))
    moto_parser.removeErrorListeners()
    expected = moto_parser.state_machine().toStringTree(recog=moto_parser)
    for _ in range(2):  # parsed, then kept
        program, tree = AmazonStateLanguageParser.parse(definition)
        assert tree.toStringTree(recog=moto_parser) == expected
        assert type(program).__name__ == "Program"


def test_a_machine_runs_twice_from_one_kept_parse(url: str) -> None:
    sfn = client(url, "stepfunctions", WEST)
    definition = json.dumps(
        {
            "StartAt": "Count",
            "States": {
                "Count": {
                    "Type": "Pass",
                    "Parameters": {"seen.$": "States.ArrayLength($.items)"},
                    "End": True,
                }
            },
        }
    )
    arn = sfn.create_state_machine(name=f"speed-{uid()}", definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]
    outputs = []
    for items in ([1, 2], [1, 2, 3]):
        execution = sfn.start_execution(
            stateMachineArn=arn, name=f"run-{uid()}", input=json.dumps({"items": items})
        )
        for _ in range(100):
            described = sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                break
            time.sleep(0.1)
        assert described["status"] == "SUCCEEDED", described
        outputs.append(json.loads(described["output"]))
    assert outputs == [{"seen": 2}, {"seen": 3}]
