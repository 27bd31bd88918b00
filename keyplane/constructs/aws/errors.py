"""Errors raised while building AWS constructs from the model: eager, before any resource exists."""

from __future__ import annotations

from keyplane.errors import KeyplaneError


class ConstructConfigError(KeyplaneError):
    """A construct was given a configuration it cannot build; the code names the rule broken.

    Codes: KP301 key material/spec, KP302 rotation, KP303 deletion window, KP304 replicas,
    KP305 generations, KP306 principals, KP307 cloudhsm, KP308 audit, KP309 backup,
    KP310 provider/regions, KP311 alarms.
    """

    code = "KP300"
