"""Hand-made environments for the GCP construct tests, loaded through the real model loader."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyplane.errors import Problem
from keyplane.model import Environment
from keyplane.model.loader import load_document
from keyplane.model.source import SourceDoc

REPO = Path(__file__).resolve().parents[3]

MEMBERS = {
    "signer": "serviceAccount:signer@acme-pki.iam.gserviceaccount.com",
    "mac-user": "serviceAccount:mac@acme-pki.iam.gserviceaccount.com",
    "decrypter": "serviceAccount:decrypter@acme-pki.iam.gserviceaccount.com",
    "encrypter": "serviceAccount:encrypter@acme-pki.iam.gserviceaccount.com",
}


def base_env(name: str, kind: str, location: str = "us-east1") -> dict[str, Any]:
    """An environment document with every principal role on GCP and one workload per usage."""
    return {
        "name": name,
        "kind": kind,
        "gcp": {"project_id": f"acme-{name}-kms", "location": location},
        "principals": {
            "key_admins": {"gcp": ["group:admins@acme.example"]},
            "backup_operators": {"gcp": ["group:backup@acme.example"]},
            "auditors": {"gcp": ["group:auditors@acme.example"]},
            "break_glass": {"gcp": ["user:breakglass@acme.example"]},
            "ceremony": {"gcp": ["user:ceremony@acme.example"]},
        },
        "workloads": [{"name": n, "gcp": {"member": m}} for n, m in MEMBERS.items()],
        "keys": [],
    }


def load(data: dict[str, Any]) -> tuple[Environment | None, list[Problem]]:
    """Load one environment document exactly as `keyplane validate` would."""
    return load_document(SourceDoc(file=f"{data['name']}.yaml", data=copy.deepcopy(data)),
                         data["name"])


def build(data: dict[str, Any]) -> Environment:
    """Load a document that must be valid."""
    env, problems = load(data)
    assert env is not None, [p.render() for p in problems]
    return env




def gen(n: int, created: str, **extra: Any) -> dict[str, Any]:
    """One generation entry."""
    return {"generation": n, "created_on": created, **extra}


def ca_production_env() -> dict[str, Any]:
    """ca and production keys of every GCP usage: sign, mac, asymmetric decrypt, symmetric."""
    data = base_env("pki", "production")
    data["keys"] = [
        {"name": "root-ca", "tier": "ca", "cloud": "gcp", "usage": "sign",
         "spec": "EC_SIGN_P384_SHA384", "generation": 1,
         "generations": [gen(1, "2025-01-01")], "owner": "pki-team"},
        {"name": "webhook-mac", "tier": "production", "cloud": "gcp", "usage": "mac",
         "spec": "HMAC_SHA256", "users": ["mac-user"], "generation": 2,
         "generations": [gen(2, "2026-01-01"), gen(1, "2025-01-01", verify_until="2026-01-31")],
         "owner": "pki-team"},
        {"name": "records-unwrap", "tier": "production", "cloud": "gcp", "usage": "encrypt",
         "spec": "RSA_DECRYPT_OAEP_3072_SHA256", "users": ["decrypter"], "generation": 1,
         "generations": [gen(1, "2026-02-01")], "owner": "pki-team"},
        {"name": "release-sign", "tier": "production", "cloud": "gcp", "usage": "sign",
         "spec": "EC_SIGN_P256_SHA256", "users": ["signer"], "generation": 1,
         "generations": [gen(1, "2026-02-01")], "owner": "pki-team"},
    ]
    return data


def non_production_env() -> dict[str, Any]:
    """non-production keys: HSM symmetric with a tightened period, an imported escrowed key."""
    data = base_env("partner-test", "non-production", location="europe-west1")
    data["keys"] = [
        {"name": "escrow-wrap", "tier": "non-production", "cloud": "gcp", "usage": "encrypt",
         "protection_level": "HSM", "rotation_period_in_days": 30,
         "deletion_window_in_days": 10, "users": ["encrypter"]},
        {"name": "partner-signing", "tier": "non-production", "cloud": "gcp", "usage": "sign",
         "spec": "RSA_SIGN_PSS_3072_SHA256", "origin": "external", "users": ["signer"],
         "escrow": {"location": "gs://acme-partner-escrow/partner-signing/",
                    "wrapping_key": "escrow-wrap"},
         "generation": 3, "generations": [gen(3, "2026-06-30"),
                                          gen(2, "2025-06-30", verify_until="2026-07-07",
                                              enabled=False)]},
    ]
    return data


def ephemeral_env() -> dict[str, Any]:
    """Only ephemeral keys: no sink, no data-access logs, no alerts."""
    data = base_env("ci", "non-production")
    data["keys"] = [
        {"name": "job-data", "tier": "ephemeral", "cloud": "gcp", "usage": "encrypt",
         "users": ["encrypter"], "rotation_period_in_days": 30},
        {"name": "job-mac", "tier": "ephemeral", "cloud": "gcp", "usage": "mac",
         "users": ["mac-user"], "generation": 1, "generations": [gen(1, "2026-11-01")]},
    ]
    return data


HAND_MADE: dict[str, Callable[[], dict[str, Any]]] = {
    "pki": ca_production_env,
    "partner-test": non_production_env,
    "ci": ephemeral_env,
}
