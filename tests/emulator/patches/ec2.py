"""EC2 patch: CreateLaunchTemplateVersion honours ``SourceVersion``."""

from __future__ import annotations

import copy
import functools
from typing import Any

from ._common import _once


# --------------------------------------------------------------------------------------------------
# 2. EC2: CreateLaunchTemplateVersion honours SourceVersion
# --------------------------------------------------------------------------------------------------


@_once
def ec2_launch_template_source_version() -> None:
    """CreateLaunchTemplateVersion with ``SourceVersion`` inherits that version's data (AWS).

    moto ignores ``SourceVersion``: the new version holds only the ``LaunchTemplateData`` of the
    request, so an update of the AMI loses the instance type, user data, tags... On AWS the new
    version starts from the source version's data and the top-level keys given in the request's
    ``LaunchTemplateData`` replace the inherited ones. ``SourceVersion`` may be a version number,
    ``$Latest`` or ``$Default``; an unknown version fails with
    ``InvalidLaunchTemplateId.VersionNotFound``.
    """
    from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound
    from moto.ec2.responses.launch_templates import LaunchTemplates

    original = LaunchTemplates.create_launch_template_version

    @functools.wraps(original)
    def create_launch_template_version(self: Any) -> Any:
        source_version = self._get_param("SourceVersion")
        if source_version is None or str(source_version) == "":
            return original(self)

        from moto.core.responses import ActionResult

        name = self._get_param("LaunchTemplateName")
        template_id = self._get_param("LaunchTemplateId")
        if template_id:
            template = self.ec2_backend.get_launch_template(template_id)
        else:
            template = self.ec2_backend.get_launch_template_by_name(name)

        wanted = str(source_version)
        if wanted.lower() not in ("$latest", "$default") and (
            not wanted.isdigit() or int(wanted) < 1
        ):
            raise InvalidLaunchTemplateVersionNotFound(template_id=template.id, version=wanted)
        source = template.get_version(wanted)

        data = copy.deepcopy(source.data)
        data.update(self._get_param("LaunchTemplateData", {}) or {})
        description = self._get_param("VersionDescription")

        self.error_on_dryrun()

        version = template.create_version(data, description)
        return ActionResult(
            {
                "LaunchTemplateVersion": {
                    "CreateTime": version.create_time,
                    "CreatedBy": f"arn:{self.partition}:iam::{self.current_account}:root",
                    "DefaultVersion": template.is_default(version),
                    "LaunchTemplateData": version.data,
                    "LaunchTemplateId": template.id,
                    "LaunchTemplateName": template.name,
                    "VersionDescription": version.description,
                    "VersionNumber": version.number,
                }
            }
        )

    LaunchTemplates.create_launch_template_version = create_launch_template_version
