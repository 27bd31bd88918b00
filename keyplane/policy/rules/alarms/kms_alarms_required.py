"""The tier's required alarms exist for every key."""

from __future__ import annotations

import json
from typing import Any

from keyplane.model.tiers import BREAK_GLASS_ASSUMED, KMS_ACCESS_DENIED_BURST, SIGN_OUTSIDE_CEREMONY
from keyplane.policy.model import (
    UNKNOWN,
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

# Which of the tier table's alarm events exist on which cloud (GCP method names differ).
AWS_EVENTS = frozenset({
    "DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant", SIGN_OUTSIDE_CEREMONY,
    # evasion: aliases, rotation, imported material, the key store, the trail, the vault lock
    "UpdateAlias", "DeleteAlias", "DisableKeyRotation", "DeleteImportedKeyMaterial",
    "DisconnectCustomKeyStore", "DeleteCustomKeyStore", "StopLogging", "DeleteTrail",
    "UpdateTrail", "PutEventSelectors", "DeleteBackupVaultLockConfiguration",
    BREAK_GLASS_ASSUMED, KMS_ACCESS_DENIED_BURST})
GCP_EVENTS = frozenset({"DestroyCryptoKeyVersion", "SetIamPolicy",
                        "UpdateCryptoKeyPrimaryVersion", "UpdateCryptoKey", "DeleteSink",
                        "UpdateSink"})
AWS_ALARM_TYPES = ("aws_cloudwatch_log_metric_filter", "aws_cloudwatch_event_rule",
                   "aws_cloudwatch_metric_alarm")
GCP_ALARM_TYPES = ("google_logging_metric", "google_monitoring_alert_policy")
_PATTERN_ATTRS = ("pattern", "event_pattern", "filter", "conditions", "metric_query",
                  "alarm_description", "name")


def _text(value: Any) -> str | None:
    if value is UNKNOWN:
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str)


@rule(title="The tier's required key alarms exist", severity=Severity.HIGH, control=Control.AUDIT,
      types=("aws_kms_key", "aws_kms_external_key", "google_kms_crypto_key"))
def kms_alarms_required(res: Resource, ctx: RuleContext) -> Verdict | None:
    """Log metric filters, EventBridge rules or log-based metrics of the key's stack cover
    every event the tier alarms on, and a Sign-volume anomaly alarm exists where required.

    Why: DisableKey, ScheduleKeyDeletion, PutKeyPolicy, CreateGrant (AWS) and
    DestroyCryptoKeyVersion, SetIamPolicy (GCP) are how a key is taken away or widened; an
    alias moved (UpdateAlias/DeleteAlias, or a primary version moved on GCP), rotation turned
    off, imported material deleted, the key store disconnected, the trail stopped or narrowed,
    the vault lock removed, the audit sink deleted, the break-glass role assumed, or a burst of
    AccessDenied on KMS are how it is hijacked or its use hidden; ca keys also alarm on any
    use outside the ceremony role.

    Fix: let `keyplane synth` create the tier's alarms (or add metric filters / event rules
    whose pattern names each event).

    See: shared/TIERS.md (alarms)
    """
    assert ctx.policy is not None
    google = res.provider == "google"
    wanted = ctx.policy.alarms & (GCP_EVENTS if google else AWS_EVENTS)
    anomaly = ctx.policy.sign_volume_anomaly_alarm and not google
    if not wanted and not anomaly:
        return not_applicable("the tier requires no alarms on this cloud")
    memo_key = ("alarm_corpus", f"{res.source}|{res.stack}|{google}")
    cached = ctx.index.memo.get(memo_key)
    if cached is None:
        corpus: list[str] = []
        pending = False
        for other in ctx.index.of_type(*(GCP_ALARM_TYPES if google else AWS_ALARM_TYPES),
                                       like=res):
            for attr in _PATTERN_ATTRS:
                text = _text(other.get(attr))
                if text is None:
                    pending = True
                elif attr != "name":
                    corpus.append(text)
        cached = ctx.index.memo[memo_key] = ("\n".join(corpus), pending)
    blob, pending = cached
    missing = sorted(e for e in wanted if e not in blob)
    if SIGN_OUTSIDE_CEREMONY in missing and "Sign" in blob and "ceremony" in blob.lower():
        missing.remove(SIGN_OUTSIDE_CEREMONY)  # a Sign filter that excludes the ceremony role
    if anomaly and "ANOMALY_DETECTION_BAND" not in blob:
        missing.append("sign-volume anomaly")
    if not missing:
        return passed("every required alarm exists")
    if pending:
        return unknown(f"alarm patterns are known only after apply; not seen: "
                       f"{', '.join(missing)}")
    return failed(f"no alarm for {', '.join(missing)}")
