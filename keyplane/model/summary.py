"""The per-key summary that `keyplane validate` prints and the report reuses."""

from __future__ import annotations

from typing import Any

from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.specs import Cloud, Origin
from keyplane.model.tiers import RotationMode


def protection(key: KeyDecl) -> str:
    """Where the key material lives, in the cloud's words."""
    if key.cloud is Cloud.GCP:
        text = f"Cloud KMS {key.protection_level}"
    elif key.origin is Origin.CLOUDHSM:
        text = "CloudHSM key store"
    elif key.origin is Origin.EXTERNAL:
        text = "KMS, imported (escrowed)"
    else:
        text = "KMS HSM"
    if key.replica_regions:
        text += f" + {', '.join(key.replica_regions)}"
    return text


def rotation(key: KeyDecl) -> str:
    """How the key rotates: automatic with period, generations or ceremony with max age."""
    if key.rotation_mode is RotationMode.AUTOMATIC:
        return f"automatic every {key.rotation_period_in_days}d"
    return f"{key.rotation_mode.value} g{key.generation}, max age {key.max_key_age_in_days}d"


def next_due(key: KeyDecl) -> str:
    """When the next rotation is due, as far as the inventory alone can tell."""
    due = key.next_rotation_due()
    if due is not None:
        return due.isoformat()
    return f"cloud-managed, <= {key.rotation_period_in_days}d"


def certificate_sources(key: KeyDecl) -> list[str]:
    """Where the key's certificates are declared to live, one entry per source."""
    certs = key.certificates
    if certs is None:
        return []
    out = []
    if certs.acm is not None:
        out += [f"acm {arn}" for arn in certs.acm.arns]
        if certs.acm.tags:
            out.append("acm tags " + ",".join(f"{k}={v}" for k, v in sorted(certs.acm.tags.items())))
    out += [f"acm-pca {p.authority_arn} (+{len(p.issued)} issued)" for p in certs.acm_pca]
    out += [f"gcp-cas {c.ca_pool}" for c in certs.gcp_cas]
    out += [f"file {f}" for f in certs.files]
    return out


def key_row(key: KeyDecl) -> dict[str, Any]:
    """One key as a flat record (the JSON form of a table row)."""
    cur = key.current_generation()
    due = key.next_rotation_due()
    return {
        "name": key.name,
        "tier": key.tier.value,
        "owner": key.owner,
        "cloud": key.cloud.value,
        "usage": key.usage.value,
        "spec": key.spec,
        "origin": key.origin.value if key.origin else None,
        "protection": protection(key),
        "rotation_mode": key.rotation_mode.value,
        "rotation": rotation(key),
        "rotation_period_in_days": key.rotation_period_in_days,
        "max_key_age_in_days": key.max_key_age_in_days,
        "generation": key.generation,
        "current_generation_created_on": cur.created_on.isoformat() if cur else None,
        "generations": [
            {"generation": g.generation, "state": key.generation_state(g).value,
             "created_on": g.created_on.isoformat(),
             "verify_until": g.verify_until.isoformat() if g.verify_until else None}
            for g in key.generations],
        "next_rotation_due": due.isoformat() if due else None,
        "next_rotation": next_due(key),
        "deletion_window_in_days": key.deletion_window_in_days,
        "replica_regions": list(key.replica_regions or ()),
        "users": list(key.users),
        "certificates": certificate_sources(key),
    }


def environment_summary(env: Environment) -> dict[str, Any]:
    """One environment as a record: where it lives and its keys."""
    return {
        "name": env.name,
        "kind": env.kind.value,
        "file": env.source_file,
        "aws_account_id": env.aws.account_id if env.aws else None,
        "aws_region": env.aws.region if env.aws else None,
        "gcp_project_id": env.gcp.project_id if env.gcp else None,
        "tiers": [t.value for t in env.tiers()],
        "keys": [key_row(k) for k in env.keys],
    }
