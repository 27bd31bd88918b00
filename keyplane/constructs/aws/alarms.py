"""Alarms on KMS events: metric filters on the audit log group, alarms to an encrypted topic.

Which events alarm comes from the tier (`TierPolicy.alarms`); GCP-only events
(DestroyCryptoKeyVersion, SetIamPolicy) are left to the GCP constructs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktn_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter,
    CloudwatchLogMetricFilterMetricTransformation,
)
from cdktn_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktn_provider_aws.sns_topic import SnsTopic
from cdktn_provider_aws.sns_topic_policy import SnsTopicPolicy
from constructs import Construct

from keyplane.constructs.aws import policy as pol
from keyplane.constructs.aws.errors import ConstructConfigError
from keyplane.model.tags import ROLE_BREAK_GLASS, aws_tags
from keyplane.model.tiers import (
    BREAK_GLASS_ASSUMED,
    KMS_ACCESS_DENIED_BURST,
    SIGN_OUTSIDE_CEREMONY,
    Tier,
    policy_for,
)

# Which service records each AWS API call the tier table alarms on (CloudTrail eventSource).
AWS_EVENT_SOURCES: dict[str, str] = {
    **{e: "kms.amazonaws.com" for e in (
        "DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy", "CreateGrant", "UpdateAlias",
        "DeleteAlias", "DisableKeyRotation", "DeleteImportedKeyMaterial",
        "DisconnectCustomKeyStore", "DeleteCustomKeyStore")},
    **{e: "cloudtrail.amazonaws.com" for e in (
        "StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors")},
    "DeleteBackupVaultLockConfiguration": "backup.amazonaws.com",
}
AWS_EVENTS = frozenset(AWS_EVENT_SOURCES)
# AccessDenied on KMS this many times in one period is a burst worth a page.
ACCESS_DENIED_BURST_THRESHOLD = 5
# What "use of a ca key" means in CloudTrail: every cryptographic operation.
CEREMONY_EVENTS = ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
                   "GenerateMac", "ReEncrypt", "Sign")
# Alarm tuning (not tier controls): one event in five minutes is enough to page;
# the sign-volume band is two standard deviations wide and must be breached twice.
EVENT_PERIOD_IN_SECONDS = 300
ANOMALY_BAND_WIDTH = 2
ANOMALY_EVALUATION_PERIODS = 2
# CloudWatch Logs rejects longer filter patterns.
METRIC_FILTER_PATTERN_MAX = 1024
_KEY_ARN_LENGTH = len("arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/") + 36


def event_pattern(event: str) -> str:
    """The CloudTrail JSON filter pattern for one API call the tier alarms on."""
    source = AWS_EVENT_SOURCES[event]
    return f'{{ ($.eventSource = "{source}") && ($.eventName = "{event}") }}'


def break_glass_pattern(role_arn: str) -> str:
    """Any AssumeRole of the break-glass role (a human taking the emergency path)."""
    return ('{ ($.eventSource = "sts.amazonaws.com") && ($.eventName = "AssumeRole") && '
            f'($.requestParameters.roleArn = "{role_arn}") }}')


def access_denied_pattern() -> str:
    """KMS calls refused for lack of permission."""
    return ('{ ($.eventSource = "kms.amazonaws.com") && (($.errorCode = "AccessDenied*") || '
            '($.errorCode = "*UnauthorizedOperation")) }')


def ceremony_pattern(ceremony_role_arn: str, key_arns: Sequence[str]) -> str:
    """Any cryptographic use of these keys by a session not issued by the ceremony role."""
    names = " || ".join(f'($.eventName = "{e}")' for e in CEREMONY_EVENTS)
    keys = " || ".join(f'($.resources[0].ARN = "{a}")' for a in key_arns)
    return (f'{{ ($.eventSource = "kms.amazonaws.com") && ({names}) && '
            f'($.userIdentity.sessionContext.sessionIssuer.arn != "{ceremony_role_arn}") '
            f"&& ({keys}) }}")


def sign_pattern(key_arns: Sequence[str]) -> str:
    """Sign calls on any of these keys: every live generation of a signing key and each of
    its multi-Region replicas (a multi-Region trail delivers every Region to one group)."""
    keys = " || ".join(f'($.resources[0].ARN = "{a}")' for a in key_arns)
    return (f'{{ ($.eventSource = "kms.amazonaws.com") && ($.eventName = "Sign") && '
            f"({keys}) }}")


@dataclass(frozen=True, kw_only=True)
class KeyAlarmsConfig:
    """The alarms of one environment.

    `ceremony_keys` maps each ca key to its key ARNs (one per generation);
    `sign_volume_keys` maps each production signing key to the ARNs of every live generation
    and its replicas (default: none of either).
    """

    env_name: str
    tier: Tier
    log_group_name: str
    topic_kms_key_arn: str
    principals: pol.AccountPrincipals
    ceremony_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    sign_volume_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tier = policy_for(self.tier)
        if self.ceremony_keys and SIGN_OUTSIDE_CEREMONY not in tier.alarms:
            raise ConstructConfigError(f"the {self.tier.value} tier has no "
                                       f"{SIGN_OUTSIDE_CEREMONY} alarm; ceremony_keys apply to "
                                       "ca only", code="KP311")
        if self.ceremony_keys and not self.principals.has_ceremony:
            raise ConstructConfigError(f"{SIGN_OUTSIDE_CEREMONY} needs principals.ceremony.aws",
                                       code="KP311")
        for name, arns in self.ceremony_keys.items():
            if not arns:
                raise ConstructConfigError(f"ca key '{name}' has no key arns to watch",
                                           code="KP311")
            # ARNs are tokens here; size the pattern with full-length key ARNs.
            longest = ceremony_pattern(self.principals.role_arn("ceremony"),
                                       [_KEY_ARN_LENGTH * "x"] * len(arns))
            if len(longest) > METRIC_FILTER_PATTERN_MAX:
                raise ConstructConfigError(
                    f"ca key '{name}' has {len(arns)} key arns; the ceremony filter pattern "
                    f"would exceed {METRIC_FILTER_PATTERN_MAX} characters", code="KP311")
        for name, arns in self.sign_volume_keys.items():
            longest = sign_pattern([_KEY_ARN_LENGTH * "x"] * len(arns))
            if not arns or len(longest) > METRIC_FILTER_PATTERN_MAX:
                raise ConstructConfigError(
                    f"signing key '{name}' has {len(arns)} key arns to watch; the sign-volume "
                    f"filter pattern must name 1 to fit {METRIC_FILTER_PATTERN_MAX} characters",
                    code="KP311")

    @property
    def events(self) -> list[str]:
        """The AWS KMS events the tier alarms on, sorted."""
        return sorted(policy_for(self.tier).alarms & AWS_EVENTS)


class KeyAlarms(Construct):
    """An encrypted SNS topic, and per alarm a metric filter plus a CloudWatch alarm."""

    def __init__(self, scope: Construct, id_: str, *, config: KeyAlarmsConfig) -> None:
        super().__init__(scope, id_)
        env = config.env_name
        tags = aws_tags(env, config.tier)
        namespace = f"keyplane/{env}"
        acct = config.principals.account_id
        self._group = config.log_group_name
        self.topic = SnsTopic(self, "topic", name=f"keyplane-{env}-alarms",
                              kms_master_key_id=config.topic_kms_key_arn, tags=tags)
        SnsTopicPolicy(self, "topic-policy", arn=self.topic.arn, policy=pol.to_json(
            pol.document([{
                "Sid": "CloudWatchAlarmsPublish", "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish", "Resource": self.topic.arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": acct}}}])))
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        for event in config.events:
            service = AWS_EVENT_SOURCES[event].split(".")[0]
            self._event_alarm(event, event, event_pattern(event), namespace, tags,
                              f"{service} {event} was called")
        alarms = policy_for(config.tier).alarms
        if BREAK_GLASS_ASSUMED in alarms:
            self._event_alarm(BREAK_GLASS_ASSUMED, BREAK_GLASS_ASSUMED,
                              break_glass_pattern(config.principals.role_arn(ROLE_BREAK_GLASS)),
                              namespace, tags,
                              f"{BREAK_GLASS_ASSUMED}: the break-glass role was assumed")
        if KMS_ACCESS_DENIED_BURST in alarms:
            self._event_alarm(KMS_ACCESS_DENIED_BURST, KMS_ACCESS_DENIED_BURST,
                              access_denied_pattern(), namespace, tags,
                              f"{KMS_ACCESS_DENIED_BURST}: kms refused at least "
                              f"{ACCESS_DENIED_BURST_THRESHOLD} calls in "
                              f"{EVENT_PERIOD_IN_SECONDS // 60} minutes",
                              threshold=ACCESS_DENIED_BURST_THRESHOLD)
        for key, arns in sorted(config.ceremony_keys.items()):
            pattern = ceremony_pattern(config.principals.role_arn("ceremony"), arns)
            self._event_alarm(f"{SIGN_OUTSIDE_CEREMONY}-{key}", f"{SIGN_OUTSIDE_CEREMONY}-{key}",
                              pattern, namespace, tags,
                              f"ca key {key} was used outside the ceremony role")
        for key, arns in sorted(config.sign_volume_keys.items()):
            self._sign_volume(key, arns, namespace, tags)

    def _event_alarm(self, cid: str, metric: str, pattern: str, namespace: str,
                     tags: dict[str, str], description: str, threshold: int = 1) -> None:
        CloudwatchLogMetricFilter(
            self, f"filter-{cid}", name=f"keyplane-{metric}", log_group_name=self._group,
            pattern=pattern,
            metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                name=metric, namespace=namespace, value="1", default_value="0"))
        self.alarms[cid] = CloudwatchMetricAlarm(
            self, f"alarm-{cid}", alarm_name=f"{namespace}/{metric}".replace("/", "-"),
            alarm_description=description, namespace=namespace, metric_name=metric,
            statistic="Sum", period=EVENT_PERIOD_IN_SECONDS, evaluation_periods=1,
            threshold=threshold, comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching", alarm_actions=[self.topic.arn], tags=tags)

    def _sign_volume(self, key: str, arns: Sequence[str], namespace: str,
                     tags: dict[str, str]) -> None:
        metric = f"SignVolume-{key}"
        CloudwatchLogMetricFilter(
            self, f"filter-sign-volume-{key}", name=f"keyplane-{metric}",
            log_group_name=self._group, pattern=sign_pattern(arns),
            metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                name=metric, namespace=namespace, value="1", default_value="0"))
        self.alarms[f"sign-volume-{key}"] = CloudwatchMetricAlarm(
            self, f"alarm-sign-volume-{key}",
            alarm_name=f"{namespace}/{metric}".replace("/", "-"),
            alarm_description=f"sign volume of {key} is outside its expected band",
            comparison_operator="GreaterThanUpperThreshold",
            evaluation_periods=ANOMALY_EVALUATION_PERIODS, threshold_metric_id="band",
            treat_missing_data="notBreaching", alarm_actions=[self.topic.arn], tags=tags,
            metric_query=[
                CloudwatchMetricAlarmMetricQuery(
                    id="signs", return_data=True,
                    metric=CloudwatchMetricAlarmMetricQueryMetric(
                        metric_name=metric, namespace=namespace,
                        period=EVENT_PERIOD_IN_SECONDS, stat="Sum")),
                CloudwatchMetricAlarmMetricQuery(
                    id="band", label=f"{metric} (expected)", return_data=True,
                    expression=f"ANOMALY_DETECTION_BAND(signs, {ANOMALY_BAND_WIDTH})"),
            ])
