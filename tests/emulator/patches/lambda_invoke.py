"""Lambda patch: Invoke runs the function in ``cargo lambda watch``."""

from __future__ import annotations

import functools
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ._common import _log, _once


# --------------------------------------------------------------------------------------------------
# 5. Lambda Invoke → cargo lambda watch
# --------------------------------------------------------------------------------------------------


def bare_function_name(function_name: str) -> str:
    """``arn:aws:lambda:r:a:function:name:qual``, ``a:function:name``, ``name:qual`` → ``name``."""
    name = urllib.parse.unquote(function_name)
    if ":function:" in name:
        name = name.split(":function:", 1)[1]
    return name.split(":", 1)[0]


def _forward_invoke(url: str, name: str, payload: bytes, timeout: float) -> tuple[int, bytes]:
    target = f"{url.rstrip('/')}/2015-03-31/functions/{urllib.parse.quote(name)}/invocations"
    request = urllib.request.Request(
        target, data=payload, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@_once
def lambda_invoke_forwarding() -> None:
    """Lambda Invoke runs the function in ``cargo lambda watch`` (AWS: runs it) instead of echoing.

    With ``lambda.use_docker=false`` moto answers Invoke from ``LambdaSimpleBackend``, which echoes
    the payload. When the environment variable ``LAMBDA_FORWARD_URL`` is set, the payload is
    POSTed to ``{url}/2015-03-31/functions/{name}/invocations`` (``name`` = bare function name: ARN
    prefix and ``:qualifier`` stripped, since cargo lambda knows only binary names).

    * HTTP 200 → the result.
    * HTTP 500 (cargo lambda's answer to a handler error, body ``{"errorType", "errorMessage"}``)
      → a Lambda *function error*: ``X-Amz-Function-Error: Unhandled`` with that body as payload,
      which is what AWS returns, so Step Functions reports ``Error`` = the handler's ``errorType``
      and ASL Retry/Catch match on it.
    * HTTP 404 (no such binary) → ``ResourceNotFoundException``; an unreachable runtime or any
      other status → ``ServiceException`` (HTTP 500).

    ``Event`` invocations are forwarded in the background and answered 202 at once; ``DryRun`` is
    not forwarded. The function does not need to exist in moto (the simple backend never looks it
    up). ``LAMBDA_FORWARD_TIMEOUT`` (seconds, default 900) bounds one invocation.
    """
    from moto.awslambda.exceptions import LambdaClientError, UnknownFunctionException
    from moto.awslambda_simple.models import LambdaSimpleBackend

    class LambdaServiceException(LambdaClientError):
        code = 500

        def __init__(self, message: str):
            super().__init__("ServiceException", message)

    original = LambdaSimpleBackend.invoke

    @functools.wraps(original)
    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        url = os.environ.get("LAMBDA_FORWARD_URL")
        if not url:
            return original(self, function_name, qualifier, body, headers, response_headers)
        name = bare_function_name(function_name)
        payload = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        if not payload.strip():
            payload = b"{}"
        timeout = float(os.environ.get("LAMBDA_FORWARD_TIMEOUT", "900"))
        invocation_type = (headers.get("X-Amz-Invocation-Type") or "RequestResponse").strip()

        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":

            def run() -> None:
                try:
                    status, _ = _forward_invoke(url, name, payload, timeout)
                    if status != 200:
                        _log(f"async invoke of {name} answered HTTP {status}")
                except Exception as error:
                    _log(f"async invoke of {name} failed: {error!r}")

            threading.Thread(target=run, name=f"invoke-{name}", daemon=True).start()
            return b""

        try:
            status, result = _forward_invoke(url, name, payload, timeout)
        except Exception as error:
            raise LambdaServiceException(
                f"Lambda runtime at {url} did not answer for {name}: {error}"
            ) from error
        if status == 200:
            return result
        if status == 500:
            try:
                parsed = json.loads(result)
                if not isinstance(parsed, dict) or "errorType" not in parsed:
                    raise ValueError("not an error object")
            except ValueError:
                result = json.dumps(
                    {"errorType": "Unhandled", "errorMessage": result.decode("utf-8", "replace")}
                ).encode("utf-8")
            response_headers["x-amz-function-error"] = "Unhandled"
            return result
        if status == 404:
            raise UnknownFunctionException(function_name)
        raise LambdaServiceException(
            f"Lambda runtime at {url} answered HTTP {status} for {name}: "
            f"{result[:500].decode('utf-8', 'replace')}"
        )

    LambdaSimpleBackend.invoke = invoke
