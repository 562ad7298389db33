"""SSM patches: DescribeParameters honours ``MaxResults``, a listing reads a snapshot of the
names."""

from __future__ import annotations

import functools
from typing import Any

from ._common import _once


@_once
def ssm_describe_parameters_max_results() -> None:
    """SSM ``DescribeParameters`` answers up to ``MaxResults`` parameters a page (1–50, as AWS);
    moto 5.2.5 answers 10 a page whatever ``MaxResults`` says, so a caller asking for 50 makes five
    times the calls it would make on AWS (and each page scans the whole region)."""
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse

    original = SimpleSystemManagerResponse.describe_parameters

    @functools.wraps(original)
    def describe_parameters(self: Any) -> Any:
        asked = self._get_param("MaxResults")
        if not isinstance(asked, int) or asked < 1:
            return original(self)
        page_size = min(asked, 50)
        token = str(self._get_param("NextToken") or "0").strip() or "0"
        start = int(token)
        found = self.ssm_backend.describe_parameters(
            self._get_param("Filters"), self._get_param("ParameterFilters")
        )
        page = found[start : start + page_size]
        response: dict[str, Any] = {
            "Parameters": [parameter.describe_response_object(False) for parameter in page]
        }
        if start + page_size < len(found):
            response["NextToken"] = str(start + page_size)
        return ActionResult(response)

    SimpleSystemManagerResponse.describe_parameters = describe_parameters


@_once
def ssm_parameter_listing_reads_a_snapshot() -> None:
    """SSM: a listing (``DescribeParameters``, ``GetParametersByPath``) walks the region's parameter
    dictionary while other requests may add to it; moto 5.2.5 walks the live dictionary, so a
    concurrent ``PutParameter`` of a new name fails the listing with "dictionary changed size during
    iteration" (a 500 AWS never gives). The walk reads the names as they are when it starts."""
    from moto.ssm.models import ParameterDict

    def names_now(self: Any) -> Any:
        return iter(list(dict.keys(self)))

    ParameterDict.__iter__ = names_now


@_once
def ssm_listing_skips_parameters_deleted_meanwhile() -> None:
    """SSM: a listing (``DescribeParameters``, ``GetParametersByPath``) that meets a parameter deleted
    since it began leaves it out, as AWS does; moto 5.2.5 looks the parameter's tags up again while
    filtering and fails the whole listing with ``InvalidResourceId`` when another request deleted it
    in between (worlds of one test binary share the emulator; one tears down while another lists)."""
    from moto.ssm.exceptions import InvalidResourceId
    from moto.ssm.models import SimpleSystemManagerBackend

    original = SimpleSystemManagerBackend._match_filters

    @functools.wraps(original)
    def match_filters(self: Any, parameter: Any, filters: Any = None) -> bool:
        if parameter is None:
            return False
        try:
            return bool(original(self, parameter, filters))
        except InvalidResourceId:
            return False

    SimpleSystemManagerBackend._match_filters = match_filters
