"""The backup drill: restore the latest recovery point into a scratch copy and prove it.

Order of a run, each side effect announced in the journal first:

1. adopt what an earlier run left open (a restore job still running, a scratch copy it
   did not delete, a forensic copy whose keep window has passed);
2. write a canary into the protected resource and record a manifest (SHA-256 per object
   or item, and the count) before the backup;
3. take an on-demand backup (the recovery point restored below is the latest one);
4. restore it in the drill account into a scratch resource named with the run id; wait
   with the tier's deadline (TIMED_OUT keeps the job id for the next run);
5. tag the copy with the run id, compare it with the manifest, report the result with
   PutRestoreValidationResult; measure RTO (restore start to validated) and RPO (age of
   the recovery point when the restore started);
6. delete the copy, or, when the data is wrong or partial, keep it for forensics within
   the validation window; a later run removes it.

Nothing is deleted unless it carries this drill's run-id tag; a restore never lands in
the environment's own account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from keyplane.cloudcall import CloudCallError
from keyplane.drills.base import TAG_DRILL_KIND, TAG_DRILL_RUN, DrillContext, DrillVerdict, classify
from keyplane.drills.deadlines import (
    FORENSIC_KEEP_HOURS,
    POLL_SECONDS,
    restore_deadline,
)
from keyplane.drills.errors import TargetRefusedError, WaitTimeout
from keyplane.drills.journal import DrillResource, Journal
from keyplane.drills.ports import BackupDrillPort, JobStatus
from keyplane.drills.waiter import Poll, Waiter
from keyplane.model.environment import BackedUpResource
from keyplane.model.limits import BACKUP_RESTORE_VALIDATION_WINDOW
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.model.tiers import Tier

CANARY_PREFIX = "keyplane-canary"


@dataclass(frozen=True, kw_only=True)
class BackupSettings:
    """Where the environment's backups live and how the drill treats a bad copy.

    vault: the backup vault (default: keyplane-<env>). role_arn: the role AWS Backup
    assumes (default: keyplane-<env>-backup-service in the account that runs the job).
    forensic_keep_hours: how long a wrong copy is kept (default 72, within 0-168 h).
    """

    vault: str
    backup_role_arn: str
    restore_role_arn: str
    forensic_keep_hours: int = FORENSIC_KEEP_HOURS

    def __post_init__(self) -> None:
        if not BACKUP_RESTORE_VALIDATION_WINDOW.contains(self.forensic_keep_hours):
            raise ValueError(f"forensic_keep_hours must be "
                             f"{BACKUP_RESTORE_VALIDATION_WINDOW.describe()}, got "
                             f"{self.forensic_keep_hours}")


def resource_type(arn: str) -> str:
    """AWS Backup's resource type for a protected resource ARN."""
    if arn.startswith("arn:aws:dynamodb:"):
        return "DynamoDB"
    if arn.startswith("arn:aws:s3:::"):
        return "S3"
    return arn.split(":")[2]


def scratch_name(run_id: str, resource: str) -> str:
    """`kp-drill-<run id>-<resource>`: lowercase, <= 63 characters (a valid bucket name)."""
    base = f"kp-drill-{run_id.lower()}-{re.sub(r'[^a-z0-9-]+', '-', resource.lower())}"
    return base[:63].rstrip("-")


def compare(manifest: dict[str, str], restored: dict[str, str]) -> tuple[bool, dict[str, Any]]:
    """Whether every manifest entry is restored unchanged; the counts and names that differ."""
    missing = sorted(k for k in manifest if k not in restored)
    altered = sorted(k for k in manifest if k in restored and restored[k] != manifest[k])
    return (not missing and not altered), {
        "manifest_count": len(manifest), "restored_count": len(restored),
        "missing": missing[:20], "altered": altered[:20],
        "missing_count": len(missing), "altered_count": len(altered)}


class BackupDrill:
    """Runs the backup drill of one protected resource."""

    def __init__(self, ctx: DrillContext, port: BackupDrillPort, settings: BackupSettings,
                 tier: Tier) -> None:
        self.ctx = ctx
        self.port = port
        self.settings = settings
        self.tier = tier
        self.deadline = restore_deadline(tier, ctx.deadline_scale)
        self.poll = POLL_SECONDS["backup"] * ctx.deadline_scale

    # --- guards -------------------------------------------------------------------------------

    def refuse_production(self, drill_account_id: str | None) -> str:
        """The drill account, after proving it is not the environment's; TargetRefusedError."""
        env = self.ctx.env
        assert env.aws is not None
        if not drill_account_id:
            raise TargetRefusedError(f"environment {env.name} declares no "
                                     "aws.backup.drill_account_id; a restore drill never "
                                     "restores into the production account")
        if drill_account_id == env.aws.account_id:
            raise TargetRefusedError(f"drill_account_id {drill_account_id} is the account of "
                                     f"environment {env.name}; restores must land in a "
                                     "separate drill account")
        actual = self.port.drill_account_id()
        if actual != drill_account_id:
            raise TargetRefusedError(f"the drill credentials act in account {actual}, not the "
                                     f"declared drill account {drill_account_id}")
        if actual == self.port.account_id():
            raise TargetRefusedError(f"the drill credentials act in the environment's own "
                                     f"account {actual}; refused")
        return actual

    # --- cleanup ------------------------------------------------------------------------------

    def _delete_tagged(self, journal: Journal, res: DrillResource, run_id: str) -> str:
        """Delete a scratch copy only when it carries `run_id`'s tag."""
        tags = self.port.tags(res.id)
        if tags is None:
            journal.gone(res, run_id)
            return "gone"
        if tags.get(TAG_DRILL_RUN) != run_id:
            self.ctx.step("backup.cleanup", res.id, outcome="skipped",
                          reason="not tagged with the drill's run id; left alone")
            return "refused-untagged"
        self.port.delete(res.id)
        journal.deleted(res)
        self.ctx.step("backup.cleanup", res.id, run=run_id)
        return "deleted"

    def adopt(self, journal: Journal) -> list[dict[str, Any]]:
        """Finish or clean what earlier runs left open; what was done, one entry each."""
        done: list[dict[str, Any]] = []
        now = self.ctx.now()
        for entry in journal.open_entries():
            res = entry.resource
            action = "left"
            try:
                if res.kind == "restore-job" and entry.event == "created":
                    job = self.port.restore_job(res.id)
                    if not job.finished:
                        action = f"still {job.state}"
                    elif job.created_resource_arn:
                        # the job from the journal made this copy: it is the run's, tag it as
                        # such (a killed run may not have tagged it) before the guarded delete
                        copy = DrillResource(kind="scratch", id=job.created_resource_arn,
                                        account=res.account, region=res.region)
                        tags = self.port.tags(copy.id)
                        if tags is not None and TAG_DRILL_RUN not in tags:
                            self.port.tag(copy.id, {TAG_DRILL_RUN: entry.run_id})
                        done.append({"kind": "scratch", "id": copy.id, "run_id": entry.run_id,
                                     "action": self._delete_tagged(journal, copy,
                                                                   entry.run_id)})
                        journal.gone(res, entry.run_id)
                        action = "closed (COMPLETED)"
                    else:
                        journal.gone(res, entry.run_id)
                        action = f"closed ({job.state})"
                elif res.kind == "restore-job":  # intent only: the start call may not have run
                    journal.gone(res, entry.run_id)
                    action = "closed (never started)"
                elif res.kind == "scratch":
                    if entry.event == "kept" and entry.keep_until and entry.keep_until > now:
                        action = "kept for forensics"
                    else:
                        action = self._delete_tagged(journal, res, entry.run_id)
                else:
                    journal.gone(res, entry.run_id)
                    action = "closed"
            except CloudCallError as exc:
                action = f"error {exc.code}"
            done.append({"kind": res.kind, "id": res.id, "run_id": entry.run_id,
                         "action": action})
        return done

    # --- the drill ----------------------------------------------------------------------------

    def _wait(self, name: str, status: Any) -> JobStatus:
        waiter = Waiter(name=name, delay_seconds=self.poll, deadline_seconds=self.deadline,
                        timing=self.ctx.timing, heartbeat=self.ctx.heartbeat)

        def poll() -> Poll:
            job = status()
            return Poll(job.finished, job, f"state {job.state}")
        result: JobStatus = waiter.wait(poll)
        return result

    def run(self, item: BackedUpResource, drill_account_id: str | None) -> DrillVerdict:
        """The drill of one protected resource."""
        ctx, port, env = self.ctx, self.port, self.ctx.env
        assert env.aws is not None
        drill_account = self.refuse_production(drill_account_id)
        journal = ctx.journal(f"backup/{item.name}")
        adopted = self.adopt(journal)
        details: dict[str, Any] = {"resource": item.arn, "drill_account": drill_account,
                                   "deadline_seconds": self.deadline}
        if adopted:
            details["adopted"] = adopted
        region = env.aws.region
        try:
            # 2. canary + manifest, before the backup
            canary = f"{CANARY_PREFIX}/{ctx.run_id}"
            res_canary = DrillResource(kind="canary", id=f"{item.arn}#{canary}",
                                  account=env.aws.account_id, region=region)
            journal.intent(res_canary)
            port.write_canary(item.arn, canary, f"keyplane drill canary {ctx.run_id}")
            journal.created(res_canary)
            manifest = port.snapshot(item.arn)
            if canary not in manifest:
                return DrillVerdict(outcome="FAILED", reason=f"canary {canary} not readable in "
                                                             f"{item.name} after writing it",
                                    details=details)
            journal.kept(DrillResource(kind="manifest", id=f"{item.name}@{ctx.run_id}",
                                  details={"count": len(manifest), "sha256": manifest}),
                         keep_until=ctx.now(), reason="manifest written before the backup")
            ctx.step("backup.manifest", item.arn, count=len(manifest), canary=canary)
            details["manifest_count"] = len(manifest)
            # 3. on-demand backup
            tags = {TAG_DRILL_RUN: ctx.run_id, TAG_DRILL_KIND: "backup", AWS_TAG_ENV: env.name}
            res_job = DrillResource(kind="backup-job", id=f"pending:{ctx.run_id}",
                               account=env.aws.account_id, region=region)
            journal.intent(res_job)
            job_id = port.start_backup(vault=self.settings.vault, resource_arn=item.arn,
                                       role_arn=self.settings.backup_role_arn, tags=tags)
            journal.gone(res_job)
            res_job = DrillResource(kind="backup-job", id=job_id, account=env.aws.account_id,
                               region=region)
            journal.created(res_job)
            ctx.step("backup.start-backup", item.arn, job_id=job_id)
            try:
                bjob = self._wait(f"backup job {job_id}", lambda: port.backup_job(job_id))
            except WaitTimeout as exc:
                details.update(backup_job_id=job_id, last_state=_state(exc.last_response))
                return DrillVerdict(outcome="TIMED_OUT", reason=str(exc), details=details,
                                    deadline_seconds=self.deadline)
            journal.gone(res_job)
            if bjob.state != "COMPLETED":
                details.update(backup_job_id=job_id, state=bjob.state)
                return DrillVerdict(outcome="FAILED", details=details,
                                    reason=f"backup job {job_id} ended {bjob.state}: {bjob.message}")
            rp = port.latest_recovery_point(vault=self.settings.vault, resource_arn=item.arn)
            if rp is None:
                return DrillVerdict(outcome="FAILED", details=details,
                                    reason=f"no recovery point of {item.name} in vault "
                                           f"{self.settings.vault}")
            details["recovery_point"] = rp.arn
            # 4. restore into a scratch copy in the drill account
            name = scratch_name(ctx.run_id, item.name)
            intent = DrillResource(kind="restore-job", id=f"pending:{name}", account=drill_account,
                              region=region, details={"target_name": name,
                                                      "recovery_point": rp.arn})
            journal.intent(intent)
            started = ctx.now()
            restore_id = port.start_restore(recovery_point_arn=rp.arn,
                                            resource_type=resource_type(item.arn),
                                            target_name=name,
                                            role_arn=self.settings.restore_role_arn)
            journal.gone(intent)
            res_restore = DrillResource(kind="restore-job", id=restore_id, account=drill_account,
                                   region=region, details={"target_name": name})
            journal.created(res_restore)  # the job id persists: a later run adopts it
            ctx.step("backup.start-restore", name, restore_job_id=restore_id,
                     recovery_point=rp.arn)
            details.update(restore_job_id=restore_id, scratch_name=name)
            rpo = max(0.0, started - rp.created_at)
            try:
                rjob = self._wait(f"restore job {restore_id}",
                                  lambda: port.restore_job(restore_id))
            except WaitTimeout as exc:
                ctx.step("backup.restore-timeout", name, outcome="failed", reason=exc.reason,
                         restore_job_id=restore_id)
                self._cleanup_after_timeout(journal, exc.last_response)
                details["last_state"] = _state(exc.last_response)
                return DrillVerdict(outcome="TIMED_OUT", reason=str(exc), details=details,
                                    rpo_seconds=round(rpo, 3), deadline_seconds=self.deadline)
            if rjob.state != "COMPLETED" or not rjob.created_resource_arn:
                journal.gone(res_restore)
                return DrillVerdict(outcome="FAILED", details=details, rpo_seconds=round(rpo, 3),
                                    deadline_seconds=self.deadline,
                                    reason=f"restore job {restore_id} ended {rjob.state}: "
                                           f"{rjob.message}")
            # 5. tag, compare, report
            copy = DrillResource(kind="scratch", id=rjob.created_resource_arn, account=drill_account,
                            region=region)
            port.tag(copy.id, tags)
            journal.created(copy)
            journal.gone(res_restore)
            restored = port.snapshot(copy.id, drill=True)
            ok, diff = compare(manifest, restored)
            rto = ctx.now() - started
            details.update(diff, created_resource=copy.id)
            message = ("restored data matches the manifest" if ok else
                       f"restored data differs from the manifest: {diff['missing_count']} "
                       f"missing, {diff['altered_count']} altered")
            port.put_validation(restore_id, "SUCCESSFUL" if ok else "FAILED", message)
            ctx.step("backup.validate", copy.id, outcome="ok" if ok else "failed",
                     reason=message, **{k: v for k, v in diff.items() if k.endswith("count")})
            # 6. delete, or keep for forensics
            if ok:
                self._delete_tagged(journal, copy, ctx.run_id)
            else:
                keep_until = ctx.now() + self.settings.forensic_keep_hours * 3600
                journal.kept(copy, keep_until, "wrong or partial data: kept for forensics")
                details["kept_for_forensics_until_epoch"] = keep_until
            return DrillVerdict(outcome="PASSED" if ok else "FAILED", reason=message,
                                rto_seconds=round(rto, 3), rpo_seconds=round(rpo, 3),
                                deadline_seconds=self.deadline, details=details)
        except CloudCallError as exc:
            out = classify(exc, f"backup drill of {item.name}")
            out.details.update(details)
            return out

    def _cleanup_after_timeout(self, journal: Journal, last: Any) -> None:
        """A restore that did not finish: remove a copy it made (tagged), keep the job open."""
        if isinstance(last, JobStatus) and last.created_resource_arn:
            tags = self.port.tags(last.created_resource_arn)
            if tags is not None and tags.get(TAG_DRILL_RUN) == self.ctx.run_id:
                self._delete_tagged(journal, DrillResource(kind="scratch",
                                                      id=last.created_resource_arn),
                                    self.ctx.run_id)


def _state(last: Any) -> str | None:
    return last.state if isinstance(last, JobStatus) else None
