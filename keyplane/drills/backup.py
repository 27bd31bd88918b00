"""The backup drill: copy the latest recovery point to the drill account, restore the copy there, prove it.

AWS Backup restores a recovery point only in the account that holds it, so the drill
copies it first (StartCopyJob from the environment's vault into the drill account's vault,
`<env>-aws-drill` stack) and restores that copy in the drill account.

Order of a run, each side effect announced in the journal first:

1. adopt what an earlier run left open (a copy or restore job still running, a copied
   recovery point or scratch copy it did not delete, a canary it did not remove, a
   forensic copy whose keep window has passed);
2. check that the drill account holds the drill vault (a missing one is a FAILED result
   coded ResourceNotFoundException, before anything is written);
3. write a canary into the protected resource and record a manifest (SHA-256 per object
   or item, and the count) before the backup;
4. take an on-demand backup (the recovery point copied below is the latest one), then
   delete the canary from the protected resource: the backup holds it, the resource no
   longer does (a versioned bucket's canary version is deleted, not hidden);
5. copy the recovery point into the drill account's vault and wait with the tier's
   deadline (TIMED_OUT keeps the copy job id for the next run); the copy carries the
   run's tags and expires by itself after the forensic window (`Lifecycle`);
6. restore the copy in the drill account, with the drill account's restore role, into a
   scratch resource named with the run id; wait with the tier's deadline;
7. tag the scratch resource with the run id, compare it with the manifest, report the
   result with PutRestoreValidationResult; measure RTO (restore start to validated: the
   copy is the drill's way into the other account, and a recovery from a copy already
   there starts at the restore; the copy's duration is reported as `copy_seconds`) and RPO
   (age of the source recovery point when the restore started);
8. delete the scratch resource and the copied recovery point, or, when the data is wrong
   or partial, keep both for forensics within the validation window; a later run removes
   them.

Nothing is deleted unless it carries this drill's run-id tag (the canary is the run's own
item, named with the run id); a restore never lands in the environment's own account.
"""

from __future__ import annotations

import math
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
from keyplane.drills.errors import DrillSetupError, TargetRefusedError, WaitTimeout
from keyplane.drills.journal import DrillResource, Journal, OpenEntry
from keyplane.drills.ports import BackupDrillPort, JobStatus, RecoveryPoint
from keyplane.drills.waiter import Poll, Waiter
from keyplane.model.environment import BackedUpResource
from keyplane.model.limits import BACKUP_RESTORE_VALIDATION_WINDOW
from keyplane.model.tags import AWS_TAG_ENV
from keyplane.model.tiers import Tier

CANARY_PREFIX = "keyplane-canary"
# Journal kinds of what the drill creates.
KIND_CANARY = "canary"
KIND_COPY_JOB = "copy-job"
KIND_COPY = "recovery-point"  # the copied recovery point in the drill account's vault
KIND_RESTORE_JOB = "restore-job"
KIND_SCRATCH = "scratch"


@dataclass(frozen=True, kw_only=True)
class BackupSettings:
    """Where the environment's backups live, where drills copy them, how a bad copy is kept.

    vault: the environment's backup vault (keyplane-<env>). backup_role_arn: the role AWS
    Backup assumes in the environment's account (backups and the copy to the drill account).
    restore_role_arn: the role AWS Backup assumes for the restore in the drill account.
    drill_vault / drill_vault_arn: the vault in the drill account copies land in
    (keyplane-<env>-drill). forensic_keep_hours: how long a wrong copy is kept (default 72,
    within 0-168 h).
    """

    vault: str
    backup_role_arn: str
    restore_role_arn: str
    drill_vault: str | None = None
    drill_vault_arn: str | None = None
    forensic_keep_hours: int = FORENSIC_KEEP_HOURS

    def __post_init__(self) -> None:
        if not BACKUP_RESTORE_VALIDATION_WINDOW.contains(self.forensic_keep_hours):
            raise ValueError(f"forensic_keep_hours must be "
                             f"{BACKUP_RESTORE_VALIDATION_WINDOW.describe()}, got "
                             f"{self.forensic_keep_hours}")

    @property
    def copy_delete_after_days(self) -> int:
        """Days after which a copy in the drill vault expires on its own (the copy job's
        Lifecycle): past the forensic window, so only a copy nobody removed ever reaches it."""
        return math.ceil(self.forensic_keep_hours / 24) + 1


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


class _Stop(Exception):
    """A verdict reached before the end of the run (carried out of the nested steps)."""

    def __init__(self, verdict: DrillVerdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


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

    def _drill_vault(self, res: DrillResource) -> str:
        vault = res.details.get("vault") or self.settings.drill_vault
        if not vault:
            raise DrillSetupError("no drill vault configured for the backup drill")
        return str(vault)

    def _delete_tagged(self, journal: Journal, res: DrillResource, run_id: str) -> str:
        """Delete a scratch resource or a copied recovery point only when it carries `run_id`'s
        tag."""
        copy = res.kind == KIND_COPY
        tags = self.port.recovery_point_tags(res.id) if copy else self.port.tags(res.id)
        if tags is None:
            journal.gone(res, run_id)
            return "gone"
        if tags.get(TAG_DRILL_RUN) != run_id:
            self.ctx.step("backup.cleanup", res.id, outcome="skipped",
                          reason="not tagged with the drill's run id; left alone")
            return "refused-untagged"
        if copy:
            self.port.delete_recovery_point(vault=self._drill_vault(res),
                                            recovery_point_arn=res.id)
        else:
            self.port.delete(res.id)
        journal.deleted(res)
        self.ctx.step("backup.cleanup", res.id, run=run_id, kind=res.kind)
        return "deleted"

    def _adopt_tagged(self, res: DrillResource, run_id: str) -> None:
        """A resource a journaled job of `run_id` made is the run's: tag it as such (a killed
        run may not have tagged it) so the guarded delete can remove it."""
        copy = res.kind == KIND_COPY
        tags = self.port.recovery_point_tags(res.id) if copy else self.port.tags(res.id)
        if tags is not None and TAG_DRILL_RUN not in tags:
            if copy:
                self.port.tag_recovery_point(res.id, {TAG_DRILL_RUN: run_id})
            else:
                self.port.tag(res.id, {TAG_DRILL_RUN: run_id})

    def _remove_canary(self, journal: Journal, res: DrillResource, run_id: str) -> str:
        """Delete a run's canary from the protected resource (it is named with that run id)."""
        arn = str(res.details.get("resource") or res.id.split("#", 1)[0])
        name = str(res.details.get("name") or res.id.split("#", 1)[1])
        self.port.delete_canary(arn, name, res.details.get("version_id"))
        journal.deleted(res)
        self.ctx.step("backup.canary-removed", arn, canary=name, run=run_id)
        return "deleted"

    def _adopt_job(self, journal: Journal, entry: OpenEntry, made: str,
                   status: JobStatus) -> tuple[str, list[dict[str, Any]]]:
        """A copy or restore job from the journal: left open while running, else what it made
        is deleted (tagged first) and the job closed."""
        res = entry.resource
        if not status.finished:
            return f"still {status.state}", []
        done = []
        if status.state == "COMPLETED" and status.created_resource_arn:
            out = DrillResource(kind=made, id=status.created_resource_arn, account=res.account,
                                region=res.region, details=dict(res.details))
            self._adopt_tagged(out, entry.run_id)
            done.append({"kind": made, "id": out.id, "run_id": entry.run_id,
                         "action": self._delete_tagged(journal, out, entry.run_id)})
        journal.gone(res, entry.run_id)
        return f"closed ({status.state})", done

    def adopt(self, journal: Journal) -> list[dict[str, Any]]:
        """Finish or clean what earlier runs left open; what was done, one entry each.

        Copied recovery points come last, and stay while a restore of their run still runs.
        """
        done: list[dict[str, Any]] = []
        now = self.ctx.now()
        entries = journal.open_entries()
        busy: set[str] = set()  # runs whose restore job still runs from their copy
        for entry in sorted(entries, key=lambda e: e.resource.kind == KIND_COPY):
            res = entry.resource
            action = "left"
            try:
                if res.kind in (KIND_RESTORE_JOB, KIND_COPY_JOB) and entry.event == "created":
                    if res.kind == KIND_RESTORE_JOB:
                        status, made = self.port.restore_job(res.id), KIND_SCRATCH
                    else:
                        status, made = self.port.copy_job(res.id), KIND_COPY
                    action, extra = self._adopt_job(journal, entry, made, status)
                    if res.kind == KIND_RESTORE_JOB and not status.finished:
                        busy.add(entry.run_id)
                    done += extra
                elif res.kind in (KIND_RESTORE_JOB, KIND_COPY_JOB):
                    journal.gone(res, entry.run_id)  # intent only: the start may not have run
                    action = "closed (never started)"
                elif res.kind in (KIND_SCRATCH, KIND_COPY):
                    if entry.event == "kept" and entry.keep_until and entry.keep_until > now:
                        action = "kept for forensics"
                    elif res.kind == KIND_COPY and entry.run_id in busy:
                        action = "left (its restore is still running)"
                    else:
                        action = self._delete_tagged(journal, res, entry.run_id)
                elif res.kind == KIND_CANARY:
                    action = self._remove_canary(journal, res, entry.run_id)
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

    def _start(self, journal: Journal, kind: str, account: str, details: dict[str, Any],
               start: Any) -> DrillResource:
        """Journal the intent, start a job, journal the job id (a later run adopts it)."""
        region = self.ctx.env.aws.region if self.ctx.env.aws else None
        intent = DrillResource(kind=kind, id=f"pending:{self.ctx.run_id}", account=account,
                               region=region, details=details)
        journal.intent(intent)
        job_id = start()
        journal.gone(intent)
        job = DrillResource(kind=kind, id=job_id, account=account, region=region,
                            details=details)
        journal.created(job)
        return job

    def _canary_and_backup(self, journal: Journal, item: BackedUpResource,
                           details: dict[str, Any], tags: dict[str, str]
                           ) -> tuple[dict[str, str], RecoveryPoint]:
        """Steps 3 and 4: canary, manifest, backup, canary removed; (manifest, recovery point)."""
        ctx, port, env = self.ctx, self.port, self.ctx.env
        assert env.aws is not None
        canary = f"{CANARY_PREFIX}/{ctx.run_id}"
        res_canary = DrillResource(kind=KIND_CANARY, id=f"{item.arn}#{canary}",
                                   account=env.aws.account_id, region=env.aws.region,
                                   details={"resource": item.arn, "name": canary})
        journal.intent(res_canary)
        version = port.write_canary(item.arn, canary, f"keyplane drill canary {ctx.run_id}")
        if version:
            res_canary = DrillResource(kind=res_canary.kind, id=res_canary.id,
                                       account=res_canary.account, region=res_canary.region,
                                       details={**res_canary.details, "version_id": version})
        journal.created(res_canary)
        try:
            manifest = port.snapshot(item.arn)
            if canary not in manifest:
                raise _Stop(DrillVerdict(outcome="FAILED", details=details,
                                         reason=f"canary {canary} not readable in "
                                                f"{item.name} after writing it"))
            journal.kept(DrillResource(kind="manifest", id=f"{item.name}@{ctx.run_id}",
                                       details={"count": len(manifest), "sha256": manifest}),
                         keep_until=ctx.now(), reason="manifest written before the backup")
            ctx.step("backup.manifest", item.arn, count=len(manifest), canary=canary)
            details["manifest_count"] = len(manifest)
            job = self._start(journal, "backup-job", env.aws.account_id, {},
                              lambda: port.start_backup(
                                  vault=self.settings.vault, resource_arn=item.arn,
                                  role_arn=self.settings.backup_role_arn, tags=tags))
            ctx.step("backup.start-backup", item.arn, job_id=job.id)
            try:
                bjob = self._wait(f"backup job {job.id}", lambda: port.backup_job(job.id))
            except WaitTimeout as exc:
                details.update(backup_job_id=job.id, last_state=_state(exc.last_response))
                raise _Stop(DrillVerdict(outcome="TIMED_OUT", reason=str(exc), details=details,
                                         deadline_seconds=self.deadline)) from None
            journal.gone(job)
        finally:
            details["canary"] = self._canary_cleanup(journal, res_canary)
        if bjob.state != "COMPLETED":
            details.update(backup_job_id=job.id, state=bjob.state)
            raise _Stop(DrillVerdict(outcome="FAILED", details=details,
                                     reason=f"backup job {job.id} ended {bjob.state}: "
                                            f"{bjob.message}"))
        rp = port.latest_recovery_point(vault=self.settings.vault, resource_arn=item.arn)
        if rp is None:
            raise _Stop(DrillVerdict(outcome="FAILED", details=details,
                                     reason=f"no recovery point of {item.name} in vault "
                                            f"{self.settings.vault}"))
        details["recovery_point"] = rp.arn
        return manifest, rp

    def _canary_cleanup(self, journal: Journal, res: DrillResource) -> dict[str, Any]:
        """Remove this run's canary; a failure leaves it journaled for the next run."""
        name = str(res.details["name"])
        try:
            self._remove_canary(journal, res, self.ctx.run_id)
        except CloudCallError as exc:
            self.ctx.step("backup.canary-removed", res.details["resource"], outcome="failed",
                          reason=f"{exc.operation} {exc.code}: left for the next run",
                          canary=name)
            return {"name": name, "removed": False, "error": exc.code}
        return {"name": name, "removed": True}

    def _copy(self, journal: Journal, rp: RecoveryPoint, drill_account: str,
              details: dict[str, Any], tags: dict[str, str]) -> DrillResource:
        """Step 5: the recovery point copied into the drill account's vault, tagged."""
        ctx, port, settings, env = self.ctx, self.port, self.settings, self.ctx.env
        assert env.aws is not None and settings.drill_vault and settings.drill_vault_arn
        vault_arn = settings.drill_vault_arn
        copy_details = {"vault": settings.drill_vault, "source_recovery_point": rp.arn}
        started = ctx.now()
        job = self._start(journal, KIND_COPY_JOB, env.aws.account_id, copy_details,
                          lambda: port.start_copy(
                              source_vault=settings.vault, recovery_point_arn=rp.arn,
                              destination_vault_arn=vault_arn, role_arn=settings.backup_role_arn,
                              delete_after_days=settings.copy_delete_after_days))
        ctx.step("backup.start-copy", rp.arn, copy_job_id=job.id,
                 destination=settings.drill_vault_arn)
        details["copy_job_id"] = job.id
        try:
            cjob = self._wait(f"copy job {job.id}", lambda: port.copy_job(job.id))
        except WaitTimeout as exc:
            ctx.step("backup.copy-timeout", rp.arn, outcome="failed", reason=exc.reason,
                     copy_job_id=job.id)
            details["last_state"] = _state(exc.last_response)
            raise _Stop(DrillVerdict(outcome="TIMED_OUT", reason=str(exc), details=details,
                                     deadline_seconds=self.deadline)) from None
        if cjob.state != "COMPLETED" or not cjob.created_resource_arn:
            journal.gone(job)
            details["state"] = cjob.state
            raise _Stop(DrillVerdict(outcome="FAILED", details=details,
                                     deadline_seconds=self.deadline,
                                     reason=f"copy job {job.id} to {settings.drill_vault_arn} "
                                            f"ended {cjob.state}: {cjob.message}"))
        copy = DrillResource(kind=KIND_COPY, id=cjob.created_resource_arn, account=drill_account,
                             region=job.region, details={"vault": settings.drill_vault})
        port.tag_recovery_point(copy.id, tags)
        journal.created(copy)
        journal.gone(job)
        details.update(copied_recovery_point=copy.id,
                       copy_seconds=round(ctx.now() - started, 3))
        ctx.step("backup.copied", copy.id, copy_job_id=job.id, vault=settings.drill_vault)
        return copy

    def run(self, item: BackedUpResource, drill_account_id: str | None) -> DrillVerdict:
        """The drill of one protected resource."""
        ctx, env = self.ctx, self.ctx.env
        assert env.aws is not None
        drill_account = self.refuse_production(drill_account_id)
        if not self.settings.drill_vault or not self.settings.drill_vault_arn:
            raise DrillSetupError("no drill vault configured for the backup drill")
        journal = ctx.journal(f"backup/{item.name}")
        adopted = self.adopt(journal)
        details: dict[str, Any] = {"resource": item.arn, "drill_account": drill_account,
                                   "drill_vault": self.settings.drill_vault_arn,
                                   "deadline_seconds": self.deadline}
        if adopted:
            details["adopted"] = adopted
        copies: list[DrillResource] = []  # this run's copy, while it is to be removed here
        try:
            verdict = self._drill(journal, item, drill_account, details, copies)
        except _Stop as stop:
            verdict = stop.verdict
        except CloudCallError as exc:
            verdict = classify(exc, f"backup drill of {item.name}")
            verdict.details.update(details)
        # a run killed before this point leaves its copy journaled: the next run removes it
        for copy in copies:
            self._remove_copy(journal, copy, verdict.details)
        return verdict

    def _drill(self, journal: Journal, item: BackedUpResource, drill_account: str,
               details: dict[str, Any], copies: list[DrillResource]) -> DrillVerdict:
        """Steps 2 to 8; `copies` holds the run's copy while the run is to remove it."""
        ctx, port, env = self.ctx, self.port, self.ctx.env
        assert env.aws is not None and self.settings.drill_vault is not None
        # 2. the drill vault copies land in
        if port.drill_vault(self.settings.drill_vault) is None:
            details.update(error="ResourceNotFoundException", operation="DescribeBackupVault")
            return DrillVerdict(
                outcome="FAILED", details=details,
                reason=f"drill vault {self.settings.drill_vault} does not exist in drill "
                       f"account {drill_account}: apply the {env.name}-aws-drill stack")
        # 3-4. canary, manifest, backup, canary removed
        tags = {TAG_DRILL_RUN: ctx.run_id, TAG_DRILL_KIND: "backup", AWS_TAG_ENV: env.name}
        manifest, rp = self._canary_and_backup(journal, item, details, tags)
        # 5. copy into the drill account's vault
        copy = self._copy(journal, rp, drill_account, details, tags)
        copies.append(copy)
        # 6. restore the copy into a scratch resource in the drill account
        name = scratch_name(ctx.run_id, item.name)
        started = ctx.now()
        job = self._start(journal, KIND_RESTORE_JOB, drill_account,
                          {"target_name": name, "recovery_point": copy.id},
                          lambda: port.start_restore(
                              recovery_point_arn=copy.id, resource_type=resource_type(item.arn),
                              target_name=name, role_arn=self.settings.restore_role_arn))
        restore_id = job.id
        ctx.step("backup.start-restore", name, restore_job_id=restore_id, recovery_point=copy.id)
        details.update(restore_job_id=restore_id, scratch_name=name)
        rpo = max(0.0, started - rp.created_at)
        try:
            rjob = self._wait(f"restore job {restore_id}", lambda: port.restore_job(restore_id))
        except WaitTimeout as exc:
            ctx.step("backup.restore-timeout", name, outcome="failed", reason=exc.reason,
                     restore_job_id=restore_id)
            self._cleanup_after_timeout(journal, exc.last_response)
            details["last_state"] = _state(exc.last_response)
            copies.clear()  # the restore still reads the copy: the next run removes it
            return DrillVerdict(outcome="TIMED_OUT", reason=str(exc), details=details,
                                rpo_seconds=round(rpo, 3), deadline_seconds=self.deadline)
        if rjob.state != "COMPLETED" or not rjob.created_resource_arn:
            journal.gone(job)
            return DrillVerdict(outcome="FAILED", details=details, rpo_seconds=round(rpo, 3),
                                deadline_seconds=self.deadline,
                                reason=f"restore job {restore_id} ended {rjob.state}: "
                                       f"{rjob.message}")
        # 7. tag, compare, report
        scratch = DrillResource(kind=KIND_SCRATCH, id=rjob.created_resource_arn,
                                account=drill_account, region=env.aws.region)
        port.tag(scratch.id, tags)
        journal.created(scratch)
        journal.gone(job)
        restored = port.snapshot(scratch.id, drill=True)
        ok, diff = compare(manifest, restored)
        rto = ctx.now() - started
        details.update(diff, created_resource=scratch.id)
        message = ("restored data matches the manifest" if ok else
                   f"restored data differs from the manifest: {diff['missing_count']} "
                   f"missing, {diff['altered_count']} altered")
        port.put_validation(restore_id, "SUCCESSFUL" if ok else "FAILED", message)
        ctx.step("backup.validate", scratch.id, outcome="ok" if ok else "failed",
                 reason=message, **{k: v for k, v in diff.items() if k.endswith("count")})
        # 8. delete, or keep for forensics
        if ok:
            self._delete_tagged(journal, scratch, ctx.run_id)
        else:
            keep_until = ctx.now() + self.settings.forensic_keep_hours * 3600
            reason = "wrong or partial data: kept for forensics"
            journal.kept(scratch, keep_until, reason)
            journal.kept(copy, keep_until, reason)
            copies.clear()
            details["kept_for_forensics_until_epoch"] = keep_until
        return DrillVerdict(outcome="PASSED" if ok else "FAILED", reason=message,
                            rto_seconds=round(rto, 3), rpo_seconds=round(rpo, 3),
                            deadline_seconds=self.deadline, details=details)

    def _remove_copy(self, journal: Journal, copy: DrillResource, details: dict[str, Any]) -> None:
        """Delete this run's copied recovery point; a failure leaves it for the next run."""
        try:
            details["copy_cleanup"] = self._delete_tagged(journal, copy, self.ctx.run_id)
        except CloudCallError as exc:
            details["copy_cleanup"] = f"error {exc.code}"

    def _cleanup_after_timeout(self, journal: Journal, last: Any) -> None:
        """A restore that did not finish: remove a copy it made (tagged), keep the job open."""
        if isinstance(last, JobStatus) and last.created_resource_arn:
            tags = self.port.tags(last.created_resource_arn)
            if tags is not None and tags.get(TAG_DRILL_RUN) == self.ctx.run_id:
                self._delete_tagged(journal, DrillResource(kind=KIND_SCRATCH,
                                                           id=last.created_resource_arn),
                                    self.ctx.run_id)


def _state(last: Any) -> str | None:
    return last.state if isinstance(last, JobStatus) else None
