"""``patches.stepfunctions_definitions_parse_independently``: definitions parsed at the same time,
in threads, each get the query language they declare (moto shares one scope stack between all
parses, so a parse can pick up another's)."""

from __future__ import annotations

import concurrent.futures
import json

import patches


def definition(language: str) -> str:
    state = {"Type": "Pass", "End": True}
    if language == "JSONata":
        state["Output"] = "{% $states.input %}"
    return json.dumps({"QueryLanguage": language, "StartAt": "Only", "States": {"Only": state}})


def test_each_preprocessor_has_its_own_scope_stack() -> None:
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    patches.stepfunctions_definitions_parse_independently()
    first, second = Preprocessor(), Preprocessor()
    assert first._query_language_per_scope is not second._query_language_per_scope
    first._query_language_per_scope.append("scope")
    assert second._query_language_per_scope == []


def test_definitions_parsed_at_once_keep_their_own_query_language() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    patches.stepfunctions_definitions_parse_independently()

    def language_of(language: str) -> tuple[str, str]:
        program, _ = AmazonStateLanguageParser.parse(definition(language))
        return language, program.query_language.query_language_mode.name

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        parsed = list(pool.map(language_of, ["JSONata", "JSONPath"] * 40))
    assert parsed == [(language, language) for language, _ in parsed]
    assert {language for language, _ in parsed} == {"JSONata", "JSONPath"}
