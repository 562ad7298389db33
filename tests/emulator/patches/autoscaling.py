"""Auto Scaling patch: the desired capacity must lie within [min, max]."""

from __future__ import annotations

import functools
from typing import Any

from ._common import _bound_arguments, _once


# --------------------------------------------------------------------------------------------------
# 3. Auto Scaling: desired capacity must lie within [min, max]
# --------------------------------------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


@_once
def autoscaling_desired_within_bounds() -> None:
    """Desired capacity outside [min, max] is a ``ValidationError`` (AWS), not a launch (moto).

    CreateAutoScalingGroup and UpdateAutoScalingGroup (checked against the min and max the group
    will have after the update) fail with "Desired capacity:10 must be between the specified min
    size:0 and max size:4"; SetDesiredCapacity fails with "New SetDesiredCapacity value 10 is above
    max value 4 for the AutoScalingGroup." (or "below min value"). All HTTP 400, nothing changes.
    Deleting a group (which moto does by setting its desired capacity to 0) ignores its MinSize,
    as AWS does.
    """
    from moto.autoscaling.exceptions import ValidationError
    from moto.autoscaling.models import AutoScalingBackend

    def check_between(desired: int | None, min_size: int | None, max_size: int | None) -> None:
        if desired is None:
            return
        too_small = min_size is not None and desired < min_size
        too_big = max_size is not None and desired > max_size
        if too_small or too_big:
            raise ValidationError(
                f"Desired capacity:{desired} must be between the specified "
                f"min size:{min_size} and max size:{max_size}"
            )

    create_original = AutoScalingBackend.create_auto_scaling_group
    update_original = AutoScalingBackend.update_auto_scaling_group
    set_desired_original = AutoScalingBackend.set_desired_capacity

    @functools.wraps(create_original)
    def create_auto_scaling_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bound_arguments(create_original, (self, *args), kwargs)
        check_between(
            _int_or_none(arguments.get("desired_capacity")),
            _int_or_none(arguments.get("min_size")),
            _int_or_none(arguments.get("max_size")),
        )
        return create_original(self, *args, **kwargs)

    @functools.wraps(update_original)
    def update_auto_scaling_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bound_arguments(update_original, (self, *args), kwargs)
        group = self.autoscaling_groups.get(arguments.get("name"))
        if group is not None:
            new_min = _int_or_none(arguments.get("min_size"))
            new_max = _int_or_none(arguments.get("max_size"))
            check_between(
                _int_or_none(arguments.get("desired_capacity")),
                group.min_size if new_min is None else new_min,
                group.max_size if new_max is None else new_max,
            )
        return update_original(self, *args, **kwargs)

    @functools.wraps(set_desired_original)
    def set_desired_capacity(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = _bound_arguments(set_desired_original, (self, *args), kwargs)
        group = self.autoscaling_groups.get(arguments.get("group_name"))
        desired = _int_or_none(arguments.get("desired_capacity"))
        if group is not None and desired is not None:
            if group.max_size is not None and desired > group.max_size:
                raise ValidationError(
                    f"New SetDesiredCapacity value {desired} is above max value "
                    f"{group.max_size} for the AutoScalingGroup."
                )
            if group.min_size is not None and desired < group.min_size:
                raise ValidationError(
                    f"New SetDesiredCapacity value {desired} is below min value "
                    f"{group.min_size} for the AutoScalingGroup."
                )
        return set_desired_original(self, *args, **kwargs)

    delete_original = AutoScalingBackend.delete_auto_scaling_group

    @functools.wraps(delete_original)
    def delete_auto_scaling_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        # moto deletes by setting the desired capacity to 0 through set_desired_capacity; AWS
        # deletes a group whatever its MinSize, so the bound does not apply here.
        arguments = _bound_arguments(delete_original, (self, *args), kwargs)
        group = self.autoscaling_groups.get(arguments.get("group_name"))
        previous_min = group.min_size if group is not None else None
        if group is not None:
            group.min_size = 0
        try:
            return delete_original(self, *args, **kwargs)
        except Exception:
            if group is not None:
                group.min_size = previous_min
            raise

    AutoScalingBackend.create_auto_scaling_group = create_auto_scaling_group
    AutoScalingBackend.update_auto_scaling_group = update_auto_scaling_group
    AutoScalingBackend.set_desired_capacity = set_desired_capacity
    AutoScalingBackend.delete_auto_scaling_group = delete_auto_scaling_group
