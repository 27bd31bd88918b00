"""Errors raised while building AWS constructs from the model: eager, before any resource exists."""

from __future__ import annotations

from keyplane.errors import KeyplaneError


class ConstructConfigError(KeyplaneError):
    """A construct was given a configuration it cannot build; the code names the rule broken.

    Codes: KP501 key material/spec, KP502 rotation, KP503 deletion window, KP504 replicas,
    KP505 generations, KP506 principals, KP507 cloudhsm, KP508 audit, KP509 backup,
    KP510 provider/regions, KP511 alarms.
    """

    code = "KP500"
