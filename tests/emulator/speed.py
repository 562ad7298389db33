"""Speed-ups of the emulator that change no answer it gives.

The local AWS is one Python process: every test binary's worlds, their application and their
handlers share one core through it, so its per-request cost bounds how fast ``make test`` runs.
A profile of a crash-and-rerun run (py-spy, 30 s) put a fifth of that core in the Step Functions
definition parser at ``CreateStateMachine`` and a tenth in the access log. (A twelfth went to
finding the backend for a request's host, under a lock; keeping the backend it found let more
requests into moto's models at once, and moto's models are not all thread-safe: SSM's
DescribeParameters then failed on a dictionary changed by a concurrent PutParameter. That answer is
still looked up each time; only the list of moto's modules it reads, a directory listing, is kept.) Each function here
removes one such cost and keeps every response the same; ``apply_speedups()`` applies them all (``patches.apply_all`` calls it), and
``test_speed.py`` shows that each keeps its answers.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import threading
from typing import Any

_applied: set[str] = set()
_lock = threading.Lock()

#: keys of ASL objects whose values are a payload template: a value is parsed (path, intrinsic
#: function) only when its key ends with ``.$``; every other string in them is a literal.
_PAYLOAD_TEMPLATES = ("Parameters", "ResultSelector", "ItemSelector", "Arguments")


def _once(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper() -> None:
        with _lock:
            if fn.__name__ in _applied:
                return
            fn()
            _applied.add(fn.__name__)

    return wrapper


def _without_literals(node: Any, in_template: bool = False) -> Any:
    """``node`` with every literal string of a payload template replaced by ``""``."""
    if isinstance(node, dict):
        shaped = {}
        for key, value in node.items():
            if in_template and isinstance(value, str) and not key.endswith(".$"):
                shaped[key] = ""
            else:
                shaped[key] = _without_literals(value, in_template or key in _PAYLOAD_TEMPLATES)
        return shaped
    if isinstance(node, list):
        return [_without_literals(item, in_template) for item in node]
    return node


def definition_shape(definition: str) -> str | None:
    """What the ASL parser's verdict on ``definition`` depends on: the definition with the literal
    strings of its payload templates blanked (a topic ARN, a message). None when it is not JSON."""
    try:
        return json.dumps(_without_literals(json.loads(definition)), sort_keys=True)
    except (TypeError, ValueError):
        return None


@_once
def state_machine_validation_memo() -> None:
    """``CreateStateMachine`` / ``UpdateStateMachine`` parse a definition to validate it; a
    definition whose shape (``definition_shape``) already parsed is not parsed again. Only
    successes are remembered: an invalid definition is parsed, and refused, every time. Worlds
    deploy the same machines with their own topic ARN, so each machine parses once per process."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    validate = StepFunctionsParserBackend._validate_definition
    valid_shapes: set[str] = set()
    shapes_lock = threading.Lock()

    def _validate_definition(definition: str) -> None:
        shape = definition_shape(definition)
        if shape is not None:
            with shapes_lock:
                if shape in valid_shapes:
                    return
        validate(definition=definition)
        if shape is not None:
            with shapes_lock:
                valid_shapes.add(shape)

    StepFunctionsParserBackend._validate_definition = staticmethod(_validate_definition)


#: parse trees kept by definition text (a world runs each of its machines several times)
_TREES_KEPT = 64


@_once
def state_machine_parse_cache() -> None:
    """Every execution parses its machine's definition (ANTLR, pure Python: about a second for the
    failover machine on this hardware). The parse tree of a definition text is kept (the last
    ``_TREES_KEPT`` texts) and each execution still builds its own evaluation components from it;
    a new text is parsed first in ANTLR's SLL prediction mode, which gives the same tree when it
    succeeds and is about twice as fast, and any definition SLL cannot parse is parsed exactly as
    moto does (same tree, same errors)."""
    from antlr4 import CommonTokenStream, InputStream
    from antlr4.atn.PredictionMode import PredictionMode
    from antlr4.error.ErrorStrategy import BailErrorStrategy
    from antlr4.error.Errors import ParseCancellationException
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    parse = AmazonStateLanguageParser.parse
    trees: collections.OrderedDict[str, Any] = collections.OrderedDict()
    trees_lock = threading.Lock()

    def sll_tree(definition: str) -> Any:
        parser = ASLParser(CommonTokenStream(ASLLexer(InputStream(definition))))
        parser.removeErrorListeners()
        parser._interp.predictionMode = PredictionMode.SLL
        parser._errHandler = BailErrorStrategy()
        try:
            return parser.state_machine()
        except ParseCancellationException:
            return None

    def parse_kept(definition: str) -> tuple[Any, Any]:
        with trees_lock:
            tree = trees.get(definition)
            if tree is not None:
                trees.move_to_end(definition)
        if tree is None:
            tree = sll_tree(definition)
            if tree is None:
                program, tree = parse(definition)  # moto's own parse, errors included
            else:
                program = Preprocessor().visit(tree)
            with trees_lock:
                trees[definition] = tree
                while len(trees) > _TREES_KEPT:
                    trees.popitem(last=False)
            return program, tree
        return Preprocessor().visit(tree), tree

    AmazonStateLanguageParser.parse = staticmethod(parse_kept)


@_once
def one_sns_signing_key() -> None:
    """moto makes a 2048-bit RSA key for every subscription to sign its HTTP deliveries; one key
    signs them all (a test never checks who signed)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from moto.sns.models import Subscription

    key: list[Any] = []
    key_lock = threading.Lock()

    def private_key(self: Any) -> Any:
        with key_lock:
            if not key:
                key.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            return key[0]

    Subscription.private_key = private_key


@_once
def no_access_log() -> None:
    """The HTTP server's access log line per request: the request log (``/pilot-light/requests``)
    records every AWS call already, with its caller and status."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


@_once
def moto_module_list_kept() -> None:
    """moto's dispatcher asks, for every request and under its lock, whether the request's host
    names one of moto's modules: ``list_of_moto_modules()`` lists moto's package directory and
    checks each entry with ``isdir`` every time (a tenth of the emulator's CPU in a failover
    profile). The installed package does not change while the server runs: the list is read once."""
    from moto import backends

    listed = backends.list_of_moto_modules
    kept: list[tuple[str, ...]] = []

    @functools.wraps(listed)
    def list_of_moto_modules() -> tuple[str, ...]:
        if not kept:
            kept.append(tuple(listed()))
        return kept[0]

    backends.list_of_moto_modules = list_of_moto_modules


ALL_SPEEDUPS = (
    state_machine_validation_memo,
    state_machine_parse_cache,
    one_sns_signing_key,
    no_access_log,
    moto_module_list_kept,
)


def apply_speedups() -> None:
    """Apply every speed-up (idempotent)."""
    for speedup in ALL_SPEEDUPS:
        speedup()


def applied() -> list[str]:
    return sorted(_applied)
