"""EventBridge patch: a target's constant ``Input`` is what it receives."""

from __future__ import annotations

import functools
from typing import Any

from ._common import _once


@_once
def events_target_constant_input() -> None:
    """EventBridge: a target's ``Input`` (constant JSON text) is what the target receives, in place of
    the matched event. moto 5.2.5 ignores ``Input`` and delivers the event itself."""
    from moto.events.models import Rule

    send = Rule.send_to_targets

    @functools.wraps(send)
    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        constant = [t for t in self.targets if "Input" in t]
        if not constant or not transform_input:
            return send(self, original_event, transform_input)
        targets = self.targets
        try:
            self.targets = [t for t in targets if "Input" not in t]
            send(self, original_event, transform_input)
            for target in constant:
                # A template without placeholders is the constant itself.
                as_template = {k: v for k, v in target.items() if k != "Input"}
                as_template["InputTransformer"] = {"InputTemplate": target["Input"]}
                self.targets = [as_template]
                send(self, original_event, transform_input)
        finally:
            self.targets = targets

    Rule.send_to_targets = send_to_targets
