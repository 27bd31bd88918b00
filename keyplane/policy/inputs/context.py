"""Tier context from tags (AWS) and labels (GCP), read the same way for every input format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keyplane.model import tags as T
from keyplane.model.tiers import Tier
from keyplane.policy.model import SENSITIVE, TierContext

_TIERS = {t.value: t for t in Tier}


def _as_map(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items() if isinstance(v, str) and v is not SENSITIVE}
    return {}


def tag_map(values: Mapping[str, Any], provider: str,
            defaults: Mapping[str, str] | None = None) -> dict[str, str]:
    """The effective tags/labels: provider defaults, then the resource's own, then `*_all`."""
    merged: dict[str, str] = dict(defaults or {})
    if provider == "google":
        for attr in ("labels", "terraform_labels", "effective_labels"):
            merged.update(_as_map(values.get(attr)))
    else:
        # tags_all (plans) already includes provider default_tags: preferred when present.
        merged.update(_as_map(values.get("tags")))
        merged.update(_as_map(values.get("tags_all")))
    return merged


def context_from(tags: Mapping[str, str], provider: str) -> TierContext:
    """The TierContext a resource's tags or labels declare (empty when it carries none)."""
    if provider == "google":
        env, tier, key = T.GCP_LABEL_ENV, T.GCP_LABEL_TIER, T.GCP_LABEL_KEY
        gen, created, role = T.GCP_LABEL_GENERATION, T.GCP_LABEL_CREATED_ON, None
    else:
        env, tier, key = T.AWS_TAG_ENV, T.AWS_TAG_TIER, T.AWS_TAG_KEY
        gen, created, role = T.AWS_TAG_GENERATION, T.AWS_TAG_CREATED_ON, T.AWS_TAG_ROLE
    raw = tags.get(tier)
    return TierContext(
        env=tags.get(env), tier=_TIERS.get(raw) if raw else None, tier_raw=raw,
        key=tags.get(key), generation=tags.get(gen), created_on=tags.get(created),
        role=tags.get(role) if role else None,
        declared_accounts=frozenset(tags.get(T.AWS_TAG_DECLARED_ACCOUNTS, "").split())
        if provider != "google" else frozenset())
