"""Alarms on KMS events: metric filters on the audit log group, alarms to an encrypted topic.

Which events alarm is decided in `keyplane.desired.aws` from the tier (`TierPolicy.alarms`);
GCP-only events (DestroyCryptoKeyVersion, SetIamPolicy) are left to the GCP constructs.
"""

from __future__ import annotations

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

from keyplane.constructs.aws.rendered import Rendered, child_id
from keyplane.desired import policy as pol
from keyplane.desired.aws import AlarmPlan, AlarmsPlan, MetricQueryPlan


class KeyAlarms(Construct):
    """An encrypted SNS topic, and per alarm a metric filter plus a CloudWatch alarm."""

    def __init__(self, scope: Construct, id_: str, *, plan: AlarmsPlan,
                 rendered: Rendered) -> None:
        super().__init__(scope, id_)
        self.plan = plan
        topic = plan.topic
        self.topic = rendered.add(topic.path, SnsTopic(
            self, child_id(id_, topic.path), name=topic.name,
            kms_master_key_id=rendered.resolve(topic.kms_master_key_id), tags=dict(topic.tags)))
        rendered.add(topic.policy_path, SnsTopicPolicy(
            self, child_id(id_, topic.policy_path), arn=self.topic.arn,
            policy=pol.to_json(rendered.resolve(topic.policy))))
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}
        for alarm in plan.alarms:
            cid = child_id(id_, alarm.path)
            self.alarms[cid.removeprefix("alarm-")] = self._alarm(id_, alarm, rendered)

    def _alarm(self, scope_path: str, alarm: AlarmPlan, rendered: Rendered) -> CloudwatchMetricAlarm:
        mf = alarm.metric_filter
        rendered.add(mf.path, CloudwatchLogMetricFilter(
            self, child_id(scope_path, mf.path), name=mf.name, log_group_name=mf.log_group_name,
            pattern=rendered.resolve(mf.pattern),
            metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                name=mf.metric_name, namespace=mf.metric_namespace, value=mf.metric_value,
                default_value=mf.default_value)))
        return rendered.add(alarm.path, CloudwatchMetricAlarm(
            self, child_id(scope_path, alarm.path), alarm_name=alarm.alarm_name,
            alarm_description=alarm.description, namespace=alarm.namespace,
            metric_name=alarm.metric_name, statistic=alarm.statistic, period=alarm.period,
            evaluation_periods=alarm.evaluation_periods, threshold=alarm.threshold,
            comparison_operator=alarm.comparison_operator,
            threshold_metric_id=alarm.threshold_metric_id,
            treat_missing_data=alarm.treat_missing_data,
            alarm_actions=rendered.resolve(list(alarm.alarm_actions)), tags=dict(alarm.tags),
            metric_query=[_query(q) for q in alarm.metric_queries] or None))


def _query(query: MetricQueryPlan) -> CloudwatchMetricAlarmMetricQuery:
    metric = None
    if query.metric is not None:
        metric = CloudwatchMetricAlarmMetricQueryMetric(
            metric_name=query.metric.metric_name, namespace=query.metric.namespace,
            period=query.metric.period, stat=query.metric.stat)
    return CloudwatchMetricAlarmMetricQuery(id=query.id, return_data=query.return_data,
                                            metric=metric, expression=query.expression,
                                            label=query.label)
