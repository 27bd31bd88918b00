"""Cloud KMS Data Access audit logs are on where the tier requires them."""

from __future__ import annotations

from keyplane.policy.model import (
    Control,
    Resource,
    Severity,
    Verdict,
    failed,
    not_applicable,
    passed,
    unknown,
)
from keyplane.policy.registry import RuleContext, rule

REQUIRED_LOG_TYPES = frozenset({"DATA_READ", "DATA_WRITE", "ADMIN_READ"})
_SERVICES = ("cloudkms.googleapis.com", "allServices")


@rule(title="Cloud KMS Data Access audit logs are enabled", severity=Severity.HIGH, control=Control.AUDIT,
      types=("google_kms_crypto_key",))
def gcp_kms_data_access_logs(res: Resource, ctx: RuleContext) -> Verdict | None:
    """A `google_project_iam_audit_config` for `cloudkms.googleapis.com` (or allServices)
    enables DATA_READ, DATA_WRITE and ADMIN_READ where the tier requires Data Access logs.

    Why: Cloud KMS logs only admin activity by default; without Data Access logs no record
    shows who signed or decrypted with a CA or production key.

    Fix: add a `google_project_iam_audit_config` for `cloudkms.googleapis.com` with the
    three log types (keyplane synthesizes it for ca and production estates).

    See: https://cloud.google.com/kms/docs/audit-logging
    """
    assert ctx.policy is not None
    if not ctx.policy.gcp_data_access_logs:
        return not_applicable("the tier requires admin activity logs only")
    found: set[str] = set()
    for cfg in ctx.index.of_type("google_project_iam_audit_config", like=res):
        service = cfg.get("service")
        if not isinstance(service, str):
            return unknown(f"{cfg.address} service is known only after apply")
        if service not in _SERVICES:
            continue
        for block in cfg.blocks("audit_log_config"):
            if isinstance(block, dict) and isinstance(block.get("log_type"), str):
                found.add(block["log_type"])
    missing = sorted(REQUIRED_LOG_TYPES - found)
    if missing:
        return failed(f"cloudkms data access logs are missing {', '.join(missing)}")
    return passed("cloudkms data access logs are enabled")
