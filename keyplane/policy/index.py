"""The index of every resource of a run: cross-resource lookups and inherited tier context."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from keyplane.policy.model import Resource

# Attributes that tie an untagged resource (alias, policy, lock, attachment) to the
# resource it belongs to, most telling first: its tier is the owner's.
_OWNER_ATTRS = ("target_key_id", "key_id", "crypto_key_id", "primary_key_arn", "bucket",
                "backup_vault_name", "target_vault_name", "role", "key_ring", "log_group_name",
                "kms_key_id", "kms_key_arn", "plan_id")


class Index:
    """All resources of one run, by address, base address and type, with their references."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources: list[Resource] = list(resources)
        self.by_address: dict[str, Resource] = {}
        self.by_base: dict[str, list[Resource]] = defaultdict(list)
        self.by_type: dict[str, list[Resource]] = defaultdict(list)
        for res in self.resources:
            self.by_address[res.address] = res
            self.by_base[res.base_address].append(res)
            self.by_type[res.type].append(res)
        self._referrers: dict[str, list[tuple[str, Resource]]] | None = None
        # Derived facts several rules need (a parsed key policy): computed once per run.
        self.memo: dict[tuple[str, str], Any] = {}

    def _scope_match(self, a: Resource, b: Resource) -> bool:
        # Stacks of one cdktf.out are separate configurations: references stay in their stack.
        return a.stack == b.stack and a.source == b.source if a.input_kind == "synth" \
            else a.source == b.source

    def targets(self, res: Resource, *attrs: str, types: Iterable[str] | None = None
                ) -> list[Resource]:
        """The resources `res` references through `attrs` (all attributes when none given)."""
        wanted = set(types) if types is not None else None
        out: list[Resource] = []
        for attr in attrs or tuple(res.refs):
            for addr in res.refs.get(attr, ()):
                for target in self.by_base.get(addr, ()):
                    if target is res or not self._scope_match(res, target):
                        continue
                    if (wanted is None or target.type in wanted) and target not in out:
                        out.append(target)
        return out

    def referrers(self, res: Resource, *, types: Iterable[str] | None = None,
                  attrs: Iterable[str] | None = None) -> list[Resource]:
        """The resources that reference `res` (through `attrs`, when given)."""
        if self._referrers is None:
            self._referrers = defaultdict(list)
            for other in self.resources:
                for attr, addrs in other.refs.items():
                    for addr in addrs:
                        self._referrers[addr].append((attr, other))
        wanted = set(types) if types is not None else None
        attr_set = set(attrs) if attrs is not None else None
        out: list[Resource] = []
        for attr, other in self._referrers.get(res.base_address, ()):
            if other is res or not self._scope_match(res, other):
                continue
            if wanted is not None and other.type not in wanted:
                continue
            if attr_set is not None and attr not in attr_set:
                continue
            if other not in out:
                out.append(other)
        return out

    def of_type(self, *types: str, like: Resource | None = None) -> list[Resource]:
        """Every resource of `types` (in the same stack/file as `like`, when given)."""
        out: list[Resource] = []
        for t in types:
            out.extend(r for r in self.by_type.get(t, ())
                       if like is None or self._scope_match(like, r))
        return out


def inherit_context(index: Index) -> None:
    """Give an untagged resource the tier context of the resource it belongs to."""
    for res in index.resources:
        if res.context.tier is not None or res.context.tier_raw is not None:
            continue
        attrs = [a for a in _OWNER_ATTRS if a in res.refs] + sorted(
            a for a in res.refs if a not in _OWNER_ATTRS)
        for attr in attrs:
            owners = [t for t in index.targets(res, attr) if t.context.tier is not None]
            if owners:
                owner = max(owners, key=lambda o: o.context.tier.rank if o.context.tier else -1)
                res.context = dataclasses.replace(owner.context, role=res.context.role,
                                                  generation=None, created_on=None,
                                                  inherited_from=owner.address)
                break
