"""What the AWS constructs share while rendering a plan: the resources made so far, by path.

A plan record names other resources by reference (`keyplane.desired.aws.ref`); `Rendered`
turns each reference into the Terraform expression of the resource rendered at that path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cdktn import TerraformProvider, TerraformResourceLifecycle

from keyplane.desired.aws import resolve


class Rendered:
    """The resources (and providers) rendered so far, keyed by their plan path."""

    def __init__(self) -> None:
        self._by_path: dict[str, Any] = {}
        self.replica_providers: dict[str, TerraformProvider] = {}

    def add(self, path: str, resource: Any) -> Any:
        """Record `resource` as the one planned at `path`; returns it."""
        if path in self._by_path:
            raise ValueError(f"two resources rendered at '{path}'")
        self._by_path[path] = resource
        return resource

    def __getitem__(self, path: str) -> Any:
        return self._by_path[path]

    def lookup(self, path: str, attribute: str) -> str:
        """The Terraform expression of `attribute` of the resource at `path`."""
        return str(getattr(self._by_path[path], attribute))

    def resolve(self, value: Any) -> Any:
        """`value` with every plan reference replaced by its Terraform expression."""
        return resolve(value, self.lookup)

    def depends(self, paths: Iterable[str]) -> list[Any] | None:
        """The resources at `paths`, for `depends_on` (None when there are none)."""
        return [self._by_path[p] for p in paths] or None

    def provider(self, region: str | None) -> TerraformProvider | None:
        """The provider of a replica Region; None (the default provider) for the home Region."""
        return None if region is None else self.replica_providers[region]


def lifecycle(prevent_destroy: bool) -> TerraformResourceLifecycle | None:
    """`prevent_destroy` as a lifecycle block, or none at all."""
    return TerraformResourceLifecycle(prevent_destroy=True) if prevent_destroy else None


def child_id(scope: str, path: str) -> str:
    """The construct id of `path` directly below the construct at `scope`."""
    prefix = f"{scope}/"
    if not path.startswith(prefix) or "/" in path[len(prefix):]:
        raise ValueError(f"'{path}' is not directly below '{scope}'")
    return path[len(prefix):]


def is_below(scope: str, path: str) -> bool:
    """Whether `path` is directly below `scope`."""
    return path.startswith(f"{scope}/") and "/" not in path[len(scope) + 1:]
