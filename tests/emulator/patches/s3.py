"""S3 patch: output XML roots as S3 sends them."""

from __future__ import annotations

from typing import Any

from ._common import _once


# --------------------------------------------------------------------------------------------------
# S3: GetBucketVersioning's XML root is VersioningConfiguration
# --------------------------------------------------------------------------------------------------

# S3 operations whose output has no payload member and whose real XML root is not
# ``<Operation>Response`` (moto's serializer's default). Only the ones pilot-light reads.
_S3_OUTPUT_ROOTS = {"GetBucketVersioning": "VersioningConfiguration"}


@_once
def s3_output_xml_roots() -> None:
    """GetBucketVersioning answers ``<VersioningConfiguration>`` as S3 does, not moto's
    ``<GetBucketVersioningResponse>``: botocore ignores the root element, the Rust SDK (strictly, as
    S3's model says) refuses the answer."""
    from moto.core.serialize import S3Serializer

    original = S3Serializer._serialized_result_to_response

    def serialized_result_to_response(self: Any, resp: Any, *args: Any, **kwargs: Any) -> Any:
        resp = original(self, resp, *args, **kwargs)
        name = self.operation_model.name
        root = _S3_OUTPUT_ROOTS.get(name)
        body = resp.get("body")
        if root and isinstance(body, str):
            wrong = f"{name}Response"
            body = body.replace(f"<{wrong}", f"<{root}", 1)
            head, sep, tail = body.rpartition(f"</{wrong}>")
            resp["body"] = f"{head}</{root}>{tail}" if sep else body
        return resp

    S3Serializer._serialized_result_to_response = serialized_result_to_response
