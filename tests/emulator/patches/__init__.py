"""Named monkeypatches that close the moto fidelity gaps pilot-light's flows depend on.

Every patch is a function that changes one behaviour of moto (pinned in requirements.txt) so
that it matches AWS, says which behaviour in its docstring, and is idempotent. ``apply_all()``
applies them all; ``stack.py`` calls it before it starts the server. ``test_emulator.py`` checks
each patch against the patched server and shows that the same check fails against a plain
``moto_server``.

The patches reach into moto's internals (model and response classes), so they are written against
one moto version: ``apply_all()`` refuses any other.

The package, one module per concern; every name is also an attribute of the package itself
(``patches.apply_all``, ``patches.TRANSITIONS`` …), which is what ``data_plane.install`` is given:

* ``_common``            ``_once`` (each patch applied once), ``applied()``, ``_log``, helpers
* ``server``             the one wrap of moto's WSGI dispatcher: control routes, request hooks,
  intercepts, reset hooks, and the helpers of the control routes
* ``rds``                RDS patches, and ``rds_data_plane`` (the model lives in ``data_plane.py``)
* ``ec2``                ``ec2_launch_template_source_version``
* ``autoscaling``        ``autoscaling_desired_within_bounds``
* ``transitions``        the durations model: ``OPERATIONS``, ``Transitions``, ``TRANSITIONS``
* ``durations``          ``operation_durations``
* ``lambda_invoke``      ``lambda_invoke_forwarding``
* ``recorded_requests``  ``request_log``: ``RequestLog``, ``REQUESTS``, request parsing
* ``faults``             ``fault_injection``: ``Faults``, ``FAULTS``, ``fault_answer``
* ``log_audit``          ``secret_canaries`` and ``audit_handler_log``
* ``s3``, ``stepfunctions``, ``ssm``, ``events``   one service's patches each

Control endpoints (served by the same server, see ``request_log`` and ``operation_durations``):

* ``POST   /pilot-light/durations``   one rule or ``{"rules": [...]}``, appended
* ``GET    /pilot-light/durations``   ``{"rules": [...], "pending": N}``
* ``DELETE /pilot-light/durations[?resourcePrefix=P]``   drops that prefix's rules (no P: all)
* ``GET    /pilot-light/requests?since=N&region=R&service=S&action=A``
  ``{"requests": [{"seq", "service", "action", "region", "time", "status"}], "lastSeq": N}``
* ``POST   /pilot-light/faults``   one fault rule or ``{"rules": [...]}`` (see ``fault_injection``)
* ``GET    /pilot-light/faults``   ``{"rules": [...]}`` with how many faults each has served
* ``DELETE /pilot-light/faults[?label=L]``   drops that label's rules (no L: all)
* ``GET    /pilot-light/log-audit?path=P``   audits a handler log against the secrets seen so far
* ``/pilot-light/data/{writes,log,snapshot,instances,lag,outage,metrics}``   the RDS data plane
  (``rds_data_plane``, ``data_plane.py``)
"""

from __future__ import annotations

from collections.abc import Callable

from ._common import _applied, _apply_lock, _bound_arguments, _log, _once, applied
from .autoscaling import _int_or_none, autoscaling_desired_within_bounds
from .durations import _result, _status_transition, _wrap_after, operation_durations
from .ec2 import ec2_launch_template_source_version
from .events import events_target_constant_input
from .faults import (
    _FAULT_KINDS,
    _JSON_SERVICES,
    _REST_JSON_SERVICES,
    _THROTTLE,
    FAULTS,
    Faults,
    _faults_route,
    fault_answer,
    fault_injection,
)
from .lambda_invoke import _forward_invoke, bare_function_name, lambda_invoke_forwarding
from .log_audit import (
    _MIN_SECRET_LENGTH,
    _SECRETS_LOCK,
    _WATCHER_LINE,
    SECRETS,
    _remember_secret,
    audit_handler_log,
    secret_canaries,
)
from .rds import (
    _detach_replica,
    _find_db_instance,
    _rds_error,
    names_already_taken_are_refused,
    rds_automated_backup_never_blocks_a_create,
    rds_cross_region_replica_own_parameter_group,
    rds_data_plane,
    rds_promote_read_replica_detaches,
)
from .recorded_requests import (
    _APP_NAME,
    _CREDENTIAL_SCOPE,
    _SIGNING_TO_MODEL,
    REQUESTS,
    RequestLog,
    _requests_route,
    _rest_operation,
    caller_app_name,
    describe_request,
    request_log,
    request_params,
)
from .s3 import _S3_OUTPUT_ROOTS, s3_output_xml_roots
from .server import (
    _BEFORE_REQUEST,
    _INTERCEPT,
    _ON_RESET,
    _REASONS,
    _ROUTES,
    _Answer,
    _ControlError,
    _install_server_hooks,
    _json_response,
    _posted_rules,
    _query,
    _read_body,
)
from .ssm import (
    ssm_describe_parameters_max_results,
    ssm_listing_skips_parameters_deleted_meanwhile,
    ssm_parameter_listing_reads_a_snapshot,
)
from .stepfunctions import (
    stepfunctions_definitions_parse_independently,
    stepfunctions_execution_history_pages,
    stepfunctions_stop_is_immediate,
)
from .transitions import OPERATIONS, TRANSITIONS, Transitions, _durations_route, _Pending


# Everything the modules define is also the package's own (``data_plane.install(host)`` and the
# tests read these as ``patches.<name>``).
__all__ = [
    "ALL_PATCHES",
    "FAULTS",
    "Faults",
    "MOTO_VERSION",
    "OPERATIONS",
    "REQUESTS",
    "RequestLog",
    "SECRETS",
    "TRANSITIONS",
    "Transitions",
    "_APP_NAME",
    "_Answer",
    "_BEFORE_REQUEST",
    "_CREDENTIAL_SCOPE",
    "_ControlError",
    "_FAULT_KINDS",
    "_INTERCEPT",
    "_JSON_SERVICES",
    "_MIN_SECRET_LENGTH",
    "_ON_RESET",
    "_Pending",
    "_REASONS",
    "_REST_JSON_SERVICES",
    "_ROUTES",
    "_S3_OUTPUT_ROOTS",
    "_SECRETS_LOCK",
    "_SIGNING_TO_MODEL",
    "_THROTTLE",
    "_WATCHER_LINE",
    "_applied",
    "_apply_lock",
    "_bound_arguments",
    "_detach_replica",
    "_durations_route",
    "_faults_route",
    "_find_db_instance",
    "_forward_invoke",
    "_install_server_hooks",
    "_int_or_none",
    "_json_response",
    "_log",
    "_once",
    "_posted_rules",
    "_query",
    "_rds_error",
    "_read_body",
    "_remember_secret",
    "_requests_route",
    "_rest_operation",
    "_result",
    "_status_transition",
    "_wrap_after",
    "applied",
    "apply_all",
    "audit_handler_log",
    "autoscaling_desired_within_bounds",
    "bare_function_name",
    "caller_app_name",
    "describe_request",
    "ec2_launch_template_source_version",
    "events_target_constant_input",
    "fault_answer",
    "fault_injection",
    "lambda_invoke_forwarding",
    "names_already_taken_are_refused",
    "operation_durations",
    "rds_automated_backup_never_blocks_a_create",
    "rds_cross_region_replica_own_parameter_group",
    "rds_data_plane",
    "rds_promote_read_replica_detaches",
    "request_log",
    "request_params",
    "s3_output_xml_roots",
    "secret_canaries",
    "ssm_describe_parameters_max_results",
    "ssm_listing_skips_parameters_deleted_meanwhile",
    "ssm_parameter_listing_reads_a_snapshot",
    "stepfunctions_definitions_parse_independently",
    "stepfunctions_execution_history_pages",
    "stepfunctions_stop_is_immediate",
]

MOTO_VERSION = "5.2.5"

ALL_PATCHES: tuple[Callable[[], None], ...] = (
    stepfunctions_definitions_parse_independently,
    stepfunctions_stop_is_immediate,
    stepfunctions_execution_history_pages,
    rds_promote_read_replica_detaches,
    rds_cross_region_replica_own_parameter_group,
    names_already_taken_are_refused,
    rds_automated_backup_never_blocks_a_create,
    ec2_launch_template_source_version,
    autoscaling_desired_within_bounds,
    events_target_constant_input,
    ssm_describe_parameters_max_results,
    ssm_parameter_listing_reads_a_snapshot,
    ssm_listing_skips_parameters_deleted_meanwhile,
    operation_durations,
    rds_data_plane,
    lambda_invoke_forwarding,
    request_log,
    fault_injection,
    secret_canaries,
    s3_output_xml_roots,
)


def apply_all() -> None:
    """Apply every patch (idempotent). Refuses a moto other than the pinned one."""
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"tests/emulator/patches/ is written against moto {MOTO_VERSION}, found "
            f"{moto.__version__}: re-check each patch against the new source before moving the pin"
        )
    for patch in ALL_PATCHES:
        patch()
    import speed  # the same directory: what makes the one emulator process faster, no answer changed

    speed.apply_speedups()
