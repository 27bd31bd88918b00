"""Pairing what was read with what was expected.

AWS keys are matched by their keyplane tags (`keyplane:env`, `keyplane:key`,
`keyplane:generation`); multi-Region replicas by the primary's key id (a
multi-Region key keeps its id in every Region). Cloud KMS keys by their
`keyplane-*` labels, then by resource name. A key that could not be read, or a
Region that could not be listed, never makes an expected key "missing": it makes
it UNKNOWN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyplane.model.tags import (
    AWS_TAG_ENV,
    AWS_TAG_GENERATION,
    AWS_TAG_KEY,
    GCP_LABEL_ENV,
    GCP_LABEL_KEY,
    SERVICE_KEY_PREFIX,
)
from keyplane.postapply.collect import Observed, ObservedAwsKey, ObservedGcpKey
from keyplane.postapply.expected import ExpectedAwsKey, ExpectedGcpKey, ExpectedState


@dataclass
class Matched:
    """Expected and observed, paired; plus what is only on one side."""

    aws: list[tuple[ExpectedAwsKey, ObservedAwsKey]] = field(default_factory=list)
    replicas: dict[str, dict[str, ObservedAwsKey]] = field(default_factory=dict)  # id -> region
    aws_missing: list[ExpectedAwsKey] = field(default_factory=list)
    aws_unsure: list[ExpectedAwsKey] = field(default_factory=list)  # could not tell: unknown
    aws_undeclared: list[ObservedAwsKey] = field(default_factory=list)  # no keyplane tags
    aws_not_in_inventory: list[ObservedAwsKey] = field(default_factory=list)  # tagged, unknown
    gcp: list[tuple[ExpectedGcpKey, ObservedGcpKey]] = field(default_factory=list)
    gcp_missing: list[ExpectedGcpKey] = field(default_factory=list)
    gcp_unsure: list[ExpectedGcpKey] = field(default_factory=list)
    gcp_undeclared: list[ObservedGcpKey] = field(default_factory=list)


def match(state: ExpectedState, observed: Observed, *, resumed: set[str] | None = None
          ) -> Matched:
    """Pair `observed` with `state`; `resumed` holds declared key ids a resumed run had checked."""
    resumed = resumed or set()
    env = state.env.name
    out = Matched()
    home = state.env.aws.region if state.env.aws else None
    by_id: dict[str, ExpectedAwsKey] = {}
    primaries: dict[str, ExpectedAwsKey] = {}
    tags_unknown = False
    replica_candidates: list[ObservedAwsKey] = []
    for obs in sorted(observed.aws_keys, key=lambda o: o.key.arn):
        if obs.key.multi_region_role == "REPLICA":
            # paired by the primary's key id, so a replica whose tags could not be read is
            # still judged (and never reported missing)
            replica_candidates.append(obs)
            continue
        if obs.tags is None:
            tags_unknown = True
            continue
        tag_env = obs.tags.get(AWS_TAG_ENV)
        if tag_env is None:
            out.aws_undeclared.append(obs)
            continue
        if tag_env != env:
            continue  # another environment's key in a shared account: its own run checks it
        if AWS_TAG_KEY not in obs.tags or obs.tags[AWS_TAG_KEY].startswith(SERVICE_KEY_PREFIX):
            continue  # keyplane's own service key (audit trail, backup vault)
        gen_tag = obs.tags.get(AWS_TAG_GENERATION)
        gen = int(gen_tag) if gen_tag and gen_tag.isdigit() else None
        exp = state.aws_key(obs.tags.get(AWS_TAG_KEY, ""), gen)
        if exp is None or exp.id in by_id or obs.key.region != home:
            out.aws_not_in_inventory.append(obs)
            continue
        by_id[exp.id] = exp
        primaries[obs.key.key_id] = exp
        out.aws.append((exp, obs))
    for obs in replica_candidates:
        exp = primaries.get(obs.key.key_id)
        if exp is not None:
            out.replicas.setdefault(exp.id, {})[obs.key.region] = obs
        elif obs.tags is None:
            tags_unknown = True  # a replica of something: cannot tell what without its tags
        elif obs.tags.get(AWS_TAG_ENV) is None:
            out.aws_undeclared.append(obs)
    unsure = tags_unknown or bool(observed.unknown_regions and home in observed.unknown_regions)
    for exp in state.aws_keys:
        if exp.id in by_id or exp.id in resumed:
            continue
        (out.aws_unsure if unsure or observed.stopped else out.aws_missing).append(exp)

    gcp_by_name: dict[str, ExpectedGcpKey] = {k.name: k for k in state.gcp_keys}
    found: set[str] = set()
    for gobs in sorted(observed.gcp_keys, key=lambda o: o.key.name):
        labels = gobs.key.labels
        exp_g = None
        if labels.get(GCP_LABEL_ENV) == env and labels.get(GCP_LABEL_KEY):
            exp_g = next((k for k in state.gcp_keys if k.key.name == labels[GCP_LABEL_KEY]), None)
        exp_g = exp_g or gcp_by_name.get(gobs.key.name)
        if exp_g is None:
            if GCP_LABEL_ENV not in labels:
                out.gcp_undeclared.append(gobs)
            continue
        if exp_g.name in found:
            continue
        found.add(exp_g.name)
        out.gcp.append((exp_g, gobs))
    for exp_g in state.gcp_keys:
        if exp_g.name in found or exp_g.key.name in resumed:
            continue
        if exp_g.location in observed.unknown_locations or observed.stopped:
            out.gcp_unsure.append(exp_g)
        else:
            out.gcp_missing.append(exp_g)
    return out
