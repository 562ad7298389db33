"""Step Functions patches: definitions parse independently, StopExecution is immediate,
GetExecutionHistory answers in pages."""

from __future__ import annotations

import copy
import functools
from typing import Any

from ._common import _once


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
