"""The CloudHSM drill of the `ca` tier: the backups can rebuild the cluster.

Checks: the environment's cluster exists and keeps backups as long as the tier asks;
its latest backup is READY, from this cluster and younger than 24 h plus slack. Then
the full drill: a cluster is created from that backup in the drill account (tagged with
the run id, announced in the journal), waited on with the tier's deadline, given an HSM
in each Availability Zone of the inventory, checked for at least two ACTIVE HSMs in
distinct AZs (what a custom key store needs to reconnect), and torn down.
"""

from __future__ import annotations

from typing import Any

from keyplane.cloudcall import CloudCallError
from keyplane.drills.base import TAG_DRILL_KIND, TAG_DRILL_RUN, DrillContext, DrillVerdict, classify
from keyplane.drills.deadlines import (
    CLOUDHSM_BACKUP_AGE_SLACK_SECONDS,
    CLOUDHSM_BACKUP_MAX_AGE_SECONDS,
    POLL_SECONDS,
    restore_deadline,
)
from keyplane.drills.errors import TargetRefusedError, WaitTimeout
from keyplane.drills.journal import DrillResource, Journal
from keyplane.drills.ports import CloudHsmDrillPort, HsmCluster
from keyplane.drills.waiter import Poll, Waiter
from keyplane.model.limits import CLOUDHSM_MIN_HSMS_FOR_KEY_STORE
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.model.tiers import TIERS, Tier


def expected_retention(declared: int | None) -> int:
    """The retention the cluster must keep: the declared value, never below the ca floor."""
    floor = TIERS[Tier.CA].cloudhsm_backup_retention_in_days or 0
    return max(declared or floor, floor)


class CloudHsmDrill:
    """Runs the CloudHSM drill of one environment."""

    def __init__(self, ctx: DrillContext, port: CloudHsmDrillPort) -> None:
        self.ctx = ctx
        self.port = port
        self.deadline = restore_deadline(Tier.CA, ctx.deadline_scale)
        self.poll = POLL_SECONDS["cloudhsm"] * ctx.deadline_scale

    def _teardown(self, journal: Journal, cluster_id: str, run_id: str) -> str:
        """Delete the HSMs and the cluster, only when the cluster carries `run_id`'s tag."""
        cluster = self.port.cluster(cluster_id)
        res = DrillResource(kind="cluster", id=cluster_id)
        if cluster is None or cluster.state in ("DELETED", "DELETE_IN_PROGRESS"):
            journal.gone(res, run_id)
            return "gone"
        if cluster.tags.get(TAG_DRILL_RUN) != run_id:
            self.ctx.step("cloudhsm.teardown", cluster_id, outcome="skipped",
                          reason="not tagged with the drill's run id; left alone")
            return "refused-untagged"
        for h in cluster.hsms:
            self.port.delete_hsm(cluster_id, h.hsm_id)
        self.port.delete_cluster(cluster_id)
        journal.deleted(res)
        self.ctx.step("cloudhsm.teardown", cluster_id, run=run_id)
        return "deleted"

    def adopt(self, journal: Journal) -> list[dict[str, Any]]:
        """Tear down clusters an earlier run created and did not remove."""
        done = []
        for entry in journal.open_entries():
            if entry.resource.kind != "cluster" or entry.resource.id.startswith("pending:"):
                journal.gone(entry.resource, entry.run_id)
                continue
            try:
                action = self._teardown(journal, entry.resource.id, entry.run_id)
            except CloudCallError as exc:
                action = f"error {exc.code}"
            done.append({"kind": "cluster", "id": entry.resource.id, "run_id": entry.run_id,
                         "action": action})
        return done

    def check_backups(self) -> tuple[DrillVerdict | None, dict[str, Any], str | None]:
        """The backup checks; (failure or None, details, the backup id to restore)."""
        env = self.ctx.env
        assert env.aws is not None and env.aws.cloudhsm is not None
        details: dict[str, Any] = {}
        mine = [c for c in self.port.clusters() if c.tags.get(AWS_TAG_ENV) == env.name
                and c.state not in ("DELETED", "DELETE_IN_PROGRESS")]
        if not mine:
            return DrillVerdict(outcome="FAILED", reason=f"no cloudhsm cluster of {env.name} "
                                                         f"(tag {AWS_TAG_ENV})"), details, None
        cluster = mine[0]
        details["cluster_id"] = cluster.cluster_id
        want = expected_retention(env.aws.cloudhsm.backup_retention_in_days)
        details["backup_retention_in_days"] = cluster.backup_retention_in_days
        if cluster.backup_retention_in_days != want:
            return DrillVerdict(outcome="FAILED", details=details,
                                reason=f"cluster {cluster.cluster_id} keeps backups "
                                       f"{cluster.backup_retention_in_days} days; the ca tier and the "
                                       f"inventory ask for {want}"), details, None
        backups = self.port.backups()
        if not backups:
            return DrillVerdict(outcome="FAILED", details=details,
                                reason=f"no backup of cluster {cluster.cluster_id}"), details, None
        latest = max(backups, key=lambda b: b.created_at)
        age = self.ctx.now() - latest.created_at
        details.update(backup_id=latest.backup_id, backup_state=latest.state,
                       backup_age_seconds=round(age, 1))
        limit = CLOUDHSM_BACKUP_MAX_AGE_SECONDS + CLOUDHSM_BACKUP_AGE_SLACK_SECONDS
        if latest.cluster_id != cluster.cluster_id:
            reason = (f"latest backup {latest.backup_id} is from cluster {latest.cluster_id}, "
                      f"not {cluster.cluster_id}")
        elif latest.state != "READY":
            reason = f"latest backup {latest.backup_id} is {latest.state}, not READY"
        elif age > limit:
            reason = (f"latest backup {latest.backup_id} is {age / 3600:.1f} h old, above "
                      f"{limit / 3600:.0f} h (24 h plus slack)")
        else:
            return None, details, latest.backup_id
        return DrillVerdict(outcome="FAILED", reason=reason, details=details), details, None

    def run(self, drill_account_id: str | None, *, full: bool = True) -> DrillVerdict:
        """The checks, then (when `full`) the restore in the drill account."""
        env = self.ctx.env
        assert env.aws is not None and env.aws.cloudhsm is not None
        journal = self.ctx.journal("cloudhsm/cluster")
        try:
            adopted = self.adopt(journal)
            failure, details, backup_id = self.check_backups()
            if adopted:
                details["adopted"] = adopted
            self.ctx.step("cloudhsm.backup-check", details.get("cluster_id"),
                          outcome="failed" if failure else "ok",
                          reason=failure.reason if failure else "", **details)
            if failure is not None or backup_id is None:
                return failure or DrillVerdict(outcome="FAILED", reason="no backup")
            if not full:
                return DrillVerdict(outcome="PASSED", details=details,
                                    reason=f"backup {backup_id} is READY, recent and from this "
                                           "cluster (restore not run)")
            return self._restore(journal, backup_id, drill_account_id, details)
        except CloudCallError as exc:
            return classify(exc, "cloudhsm drill")

    def _restore(self, journal: Journal, backup_id: str, drill_account_id: str | None,
                 details: dict[str, Any]) -> DrillVerdict:
        ctx, env, port = self.ctx, self.ctx.env, self.port
        assert env.aws is not None and env.aws.cloudhsm is not None
        if not drill_account_id or drill_account_id == env.aws.account_id:
            raise TargetRefusedError(f"environment {env.name}: the cloudhsm restore needs "
                                     "aws.backup.drill_account_id, a different account from "
                                     f"{env.aws.account_id}")
        actual = port.drill_account_id()
        if actual != drill_account_id or actual == port.account_id():
            raise TargetRefusedError(f"the drill credentials act in account {actual}, not the "
                                     f"declared drill account {drill_account_id}")
        hsms = env.aws.cloudhsm.hsms
        subnets = list(ctx.drill_subnets) or [h.subnet_id for h in hsms]
        azs = sorted({h.availability_zone for h in hsms})
        tags = {TAG_DRILL_RUN: ctx.run_id, TAG_DRILL_KIND: "cloudhsm", AWS_TAG_ENV: env.name}
        start = ctx.now()
        intent = DrillResource(kind="cluster", id=f"pending:{ctx.run_id}", account=actual)
        journal.intent(intent)
        cluster_id = port.restore_cluster(backup_id=backup_id, subnet_ids=subnets, tags=tags)
        journal.gone(intent)
        res = DrillResource(kind="cluster", id=cluster_id, account=actual,
                       details={"backup_id": backup_id})
        journal.created(res)
        ctx.step("cloudhsm.restore-cluster", cluster_id, backup_id=backup_id)
        details.update(restored_cluster_id=cluster_id, deadline_seconds=self.deadline)
        remaining = self.deadline
        try:
            cluster = self._wait(f"cluster {cluster_id}", cluster_id, remaining,
                                 lambda c: c.state == "ACTIVE")
            for az in azs:
                port.create_hsm(cluster_id, az)
            remaining = max(self.deadline - (ctx.now() - start), 0.0)
            cluster = self._wait(f"hsms of cluster {cluster_id}", cluster_id, remaining,
                                 lambda c: bool(c.hsms) and all(
                                     h.state != "CREATE_IN_PROGRESS" for h in c.hsms))
        except WaitTimeout as exc:
            ctx.step("cloudhsm.timeout", cluster_id, outcome="failed", reason=exc.reason)
            details["teardown"] = self._safe_teardown(journal, cluster_id)
            return DrillVerdict(outcome="TIMED_OUT", reason=str(exc), details=details,
                                deadline_seconds=self.deadline)
        rto = ctx.now() - start
        active_azs = sorted({h.availability_zone for h in cluster.hsms if h.state == "ACTIVE"})
        details.update(active_hsm_azs=active_azs,
                       hsm_states={h.hsm_id: h.state for h in cluster.hsms})
        details["teardown"] = self._safe_teardown(journal, cluster_id)
        if len(active_azs) < CLOUDHSM_MIN_HSMS_FOR_KEY_STORE:
            return DrillVerdict(outcome="FAILED", rto_seconds=round(rto, 3),
                                deadline_seconds=self.deadline, details=details,
                                reason=f"restored cluster has {len(active_azs)} active hsm(s) in "
                                       f"distinct availability zones; a custom key store needs "
                                       f"{CLOUDHSM_MIN_HSMS_FOR_KEY_STORE}")
        return DrillVerdict(outcome="PASSED", rto_seconds=round(rto, 3),
                            deadline_seconds=self.deadline, details=details,
                            reason=f"cluster restored from {backup_id} with active hsms in "
                                   f"{', '.join(active_azs)}; torn down")

    def _safe_teardown(self, journal: Journal, cluster_id: str) -> str:
        try:
            return self._teardown(journal, cluster_id, self.ctx.run_id)
        except CloudCallError as exc:
            return f"error {exc.code}: left for the next run"

    def _wait(self, name: str, cluster_id: str, deadline: float, ready: Any) -> HsmCluster:
        waiter = Waiter(name=name, delay_seconds=self.poll, deadline_seconds=deadline,
                        timing=self.ctx.timing, heartbeat=self.ctx.heartbeat)

        def poll() -> Poll:
            c = self.port.cluster(cluster_id)
            if c is None:
                return Poll(False, None, "cluster not found")
            states = ",".join(sorted({h.state for h in c.hsms})) or "no hsms"
            return Poll(bool(ready(c)), c, f"cluster {c.state}, hsms {states}")
        cluster: HsmCluster = waiter.wait(poll)
        return cluster
