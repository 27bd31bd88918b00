"""AWS Backup configuration moto lacks: backup selections, restore testing, vault policies.

moto keeps backup vaults and plans but has no backup selections, no restore testing
(`CreateRestoreTestingPlan` answered 404 HTML) and no vault access policies, and
Terraform's hashicorp/aws provider creates and reads all three. This fake answers them on
the front's port in AWS Backup's REST-JSON shapes (the AWS Backup API reference):
CreateBackupSelection, GetBackupSelection, ListBackupSelections, DeleteBackupSelection;
Create/Get/Update/Delete/List RestoreTestingPlan(s) and RestoreTestingSelection(s); the
tags of the restore testing plans it holds (ListTags, TagResource, UntagResource); and
Put/Get/DeleteBackupVaultAccessPolicy of the vaults moto holds, which cross-account copies
(`backup_fake`) are judged by. As AWS does, it refuses a plan deleted while selections
remain, a duplicate name, and values outside the documented ranges.

It is a test bed and a playground, not AWS Backup.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from keyplane.sandbox.backup_fake import BackupApiError, SandboxClock

_NAME = re.compile(r"^[A-Za-z0-9_]{1,50}$")
ALGORITHMS = ("LATEST_WITHIN_WINDOW", "RANDOM_WITHIN_WINDOW")
RECOVERY_POINT_TYPES = ("CONTINUOUS", "SNAPSHOT")
PROTECTED_RESOURCE_TYPES = ("Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx",
                            "Neptune", "RDS", "S3")
# Defaults and ranges from the AWS Backup API reference (RestoreTestingPlanForCreate,
# RestoreTestingRecoveryPointSelection, RestoreTestingSelectionForCreate).
SELECTION_WINDOW_DAYS = (1, 365, 30)  # min, max, default
START_WINDOW_HOURS = (1, 168, 24)
VALIDATION_WINDOW_HOURS = (1, 168, 24)
DEFAULT_TIMEZONE = "Etc/UTC"
MAX_RESULTS = (1, 1000)


@dataclass
class RestoreTestingPlan:
    """One restore testing plan."""

    name: str
    arn: str
    account: str
    region: str
    created: float
    creator_request_id: str | None
    selection: dict[str, Any]
    schedule: str
    timezone: str
    start_window_hours: int
    updated: float | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RestoreTestingSelection:
    """One restore testing selection of a plan."""

    plan: str
    name: str
    created: float
    creator_request_id: str | None
    spec: dict[str, Any]  # IamRoleArn, ProtectedResourceType, ..., ValidationWindowHours


@dataclass
class BackupSelection:
    """One backup selection of a backup plan (its body as AWS returns it)."""

    id: str
    plan_id: str
    created: float
    creator_request_id: str | None
    spec: dict[str, Any]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]


def _names_action(statement: dict[str, Any], action: str) -> bool:
    service = action.split(":", 1)[0]
    return any(a.lower() in (action.lower(), f"{service}:*", "*")
               for a in _listed(statement.get("Action")))


def _names_account(statement: dict[str, Any], account: str) -> bool:
    principal = statement.get("Principal")
    if principal == "*":
        return True
    values = _listed(principal.get("AWS")) if isinstance(principal, dict) else []
    return any(v in ("*", account) or v.startswith(f"arn:aws:iam::{account}:")
               or (v.startswith("arn:") and v.split(":")[4:5] == [account]) for v in values)


def _in_range(name: str, value: Any, bounds: tuple[int, int, int]) -> int:
    low, high, default = bounds
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BackupApiError("InvalidParameterValueException",
                             f"{name} must be between {low} and {high}, got {value}")
    return value


def _name(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise BackupApiError("InvalidParameterValueException",
                             f"{kind} must be 1 to 50 letters, digits or underscores, got {value!r}")
    return value


def _page(items: list[dict[str, Any]], query: dict[str, str], key: str) -> dict[str, Any]:
    """One page of `items` by `MaxResults` / `NextToken` (query `maxResults`, `nextToken`)."""
    raw = query.get("MaxResults") or query.get("maxResults")
    try:
        limit = int(raw) if raw else MAX_RESULTS[1]
    except ValueError:
        limit = -1
    if not MAX_RESULTS[0] <= limit <= MAX_RESULTS[1]:
        raise BackupApiError("InvalidParameterValueException",
                             f"MaxResults must be between {MAX_RESULTS[0]} and {MAX_RESULTS[1]}, "
                             f"got {raw}")
    token = query.get("NextToken") or query.get("nextToken")
    try:
        start = int(token.removeprefix("kp-")) if token else 0
    except ValueError:
        raise BackupApiError("InvalidParameterValueException",
                             "the next token is not valid") from None
    out: dict[str, Any] = {key: items[start:start + limit]}
    if start + limit < len(items):
        out["NextToken"] = f"kp-{start + limit}"
    return out


class BackupConfigFake:
    """Backup selections and restore testing, per account and Region.

    plan_exists: asks moto whether a backup plan id exists in (account, Region);
    vault_exists: whether a backup vault exists there. None skips the check (a fake without
    an endpoint, in unit tests).
    """

    def __init__(self, clock: SandboxClock,
                 plan_exists: Callable[[str, str, str], bool] | None = None,
                 vault_exists: Callable[[str, str, str], bool] | None = None) -> None:
        self.clock = clock
        self.plan_exists = plan_exists
        self.vault_exists = vault_exists
        self._lock = threading.RLock()
        self.plans: dict[tuple[str, str, str], RestoreTestingPlan] = {}
        self.selections: dict[tuple[str, str, str, str], RestoreTestingSelection] = {}
        self.backup_selections: dict[tuple[str, str, str], BackupSelection] = {}
        self.vault_policies: dict[tuple[str, str, str], str] = {}  # (account, region, vault)

    # --- backup selections ----------------------------------------------------------------------

    def _require_plan(self, account: str, region: str, plan_id: str) -> None:
        if self.plan_exists is not None and not self.plan_exists(account, region, plan_id):
            raise BackupApiError("InvalidParameterValueException",
                                 f"Cannot find Backup plan with ID {plan_id}")

    def create_backup_selection(self, account: str, region: str, plan_id: str,
                                body: dict[str, Any]) -> dict[str, Any]:
        """PUT /backup/plans/{id}/selections/."""
        spec = body.get("BackupSelection")
        if not isinstance(spec, dict):
            raise BackupApiError("MissingParameterValueException", "BackupSelection is required")
        for name in ("SelectionName", "IamRoleArn"):
            if not spec.get(name):
                raise BackupApiError("MissingParameterValueException", f"{name} is required")
        if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/", spec["IamRoleArn"]):
            raise BackupApiError("InvalidParameterValueException",
                                 f"IamRoleArn must be an iam role arn, got {spec['IamRoleArn']}")
        self._require_plan(account, region, plan_id)
        with self._lock:
            if any(s.spec["SelectionName"] == spec["SelectionName"]
                   for (a, r, _), s in self.backup_selections.items()
                   if (a, r) == (account, region) and s.plan_id == plan_id):
                raise BackupApiError("AlreadyExistsException",
                                     f"backup selection {spec['SelectionName']} already exists "
                                     f"in plan {plan_id}")
            sel = BackupSelection(id=str(uuid.uuid4()), plan_id=plan_id,
                                  created=self.clock.now(),
                                  creator_request_id=body.get("CreatorRequestId"),
                                  spec={"Resources": [], "NotResources": [], "ListOfTags": [],
                                        "Conditions": {}, **spec})
            for kind in ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike"):
                sel.spec["Conditions"].setdefault(kind, [])
            self.backup_selections[(account, region, sel.id)] = sel
        return {"SelectionId": sel.id, "BackupPlanId": plan_id, "CreationDate": sel.created}

    def _backup_selection(self, account: str, region: str, plan_id: str, selection_id: str
                          ) -> BackupSelection:
        sel = self.backup_selections.get((account, region, selection_id))
        if sel is None or sel.plan_id != plan_id:
            self._require_plan(account, region, plan_id)
            raise BackupApiError("ResourceNotFoundException",
                                 f"backup selection {selection_id} not found in plan {plan_id}",
                                 404)
        return sel

    def get_backup_selection(self, account: str, region: str, plan_id: str, selection_id: str
                             ) -> dict[str, Any]:
        """GET /backup/plans/{id}/selections/{selectionId}."""
        with self._lock:
            sel = self._backup_selection(account, region, plan_id, selection_id)
            return {"BackupSelection": dict(sel.spec), "SelectionId": sel.id,
                    "BackupPlanId": plan_id, "CreationDate": sel.created,
                    "CreatorRequestId": sel.creator_request_id}

    def list_backup_selections(self, account: str, region: str, plan_id: str,
                               query: dict[str, str]) -> dict[str, Any]:
        """GET /backup/plans/{id}/selections/."""
        self._require_plan(account, region, plan_id)
        with self._lock:
            items = [{"SelectionId": s.id, "SelectionName": s.spec["SelectionName"],
                      "BackupPlanId": plan_id, "CreationDate": s.created,
                      "CreatorRequestId": s.creator_request_id,
                      "IamRoleArn": s.spec["IamRoleArn"]}
                     for (a, r, _), s in sorted(self.backup_selections.items(),
                                                key=lambda kv: kv[1].created)
                     if (a, r) == (account, region) and s.plan_id == plan_id]
        return _page(items, query, "BackupSelectionsList")

    def delete_backup_selection(self, account: str, region: str, plan_id: str,
                                selection_id: str) -> dict[str, Any]:
        """DELETE /backup/plans/{id}/selections/{selectionId}."""
        with self._lock:
            self._backup_selection(account, region, plan_id, selection_id)
            del self.backup_selections[(account, region, selection_id)]
        return {}

    def check_plan_deletable(self, account: str, region: str, plan_id: str) -> None:
        """AWS refuses to delete a backup plan that still has selections."""
        with self._lock:
            if any(s.plan_id == plan_id for (a, r, _), s in self.backup_selections.items()
                   if (a, r) == (account, region)):
                raise BackupApiError("InvalidRequestException",
                                     "Related backup plan selections must be deleted prior to "
                                     "backup plan deletion")

    # --- restore testing plans ------------------------------------------------------------------

    @staticmethod
    def _recovery_point_selection(raw: Any, old: dict[str, Any] | None = None) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise BackupApiError("MissingParameterValueException",
                                 "RecoveryPointSelection is required")
        sel = {**(old or {}), **raw}
        if sel.get("Algorithm") not in ALGORITHMS:
            raise BackupApiError("InvalidParameterValueException",
                                 f"Algorithm must be one of {', '.join(ALGORITHMS)}, "
                                 f"got {sel.get('Algorithm')}")
        types = sel.get("RecoveryPointTypes")
        if not types or not isinstance(types, list) \
                or any(t not in RECOVERY_POINT_TYPES for t in types):
            raise BackupApiError("InvalidParameterValueException",
                                 f"RecoveryPointTypes must be a non-empty list of "
                                 f"{', '.join(RECOVERY_POINT_TYPES)}, got {types}")
        if not sel.get("IncludeVaults") or not isinstance(sel["IncludeVaults"], list):
            raise BackupApiError("InvalidParameterValueException",
                                 "IncludeVaults must list at least one vault arn or *")
        sel["ExcludeVaults"] = list(sel.get("ExcludeVaults") or [])
        sel["SelectionWindowDays"] = _in_range("SelectionWindowDays",
                                               sel.get("SelectionWindowDays"),
                                               SELECTION_WINDOW_DAYS)
        return sel

    @staticmethod
    def _schedule(value: Any) -> str:
        if not isinstance(value, str) or not re.match(r"^(cron|rate|at)\(.+\)$", value):
            raise BackupApiError("InvalidParameterValueException",
                                 f"ScheduleExpression must be a cron(), rate() or at() "
                                 f"expression, got {value!r}")
        return value

    def _plan(self, account: str, region: str, name: str) -> RestoreTestingPlan:
        plan = self.plans.get((account, region, name))
        if plan is None:
            raise BackupApiError("ResourceNotFoundException",
                                 f"restore testing plan {name} not found", 404)
        return plan

    def create_restore_testing_plan(self, account: str, region: str, body: dict[str, Any]
                                    ) -> dict[str, Any]:
        """PUT /restore-testing/plans."""
        spec = body.get("RestoreTestingPlan")
        if not isinstance(spec, dict):
            raise BackupApiError("MissingParameterValueException",
                                 "RestoreTestingPlan is required")
        name = _name("RestoreTestingPlanName", spec.get("RestoreTestingPlanName"))
        plan = RestoreTestingPlan(
            name=name, account=account, region=region, created=self.clock.now(),
            arn=f"arn:aws:backup:{region}:{account}:restore-testing-plan:{name}-{uuid.uuid4()}",
            creator_request_id=body.get("CreatorRequestId"),
            selection=self._recovery_point_selection(spec.get("RecoveryPointSelection")),
            schedule=self._schedule(spec.get("ScheduleExpression")),
            timezone=spec.get("ScheduleExpressionTimezone") or DEFAULT_TIMEZONE,
            start_window_hours=_in_range("StartWindowHours", spec.get("StartWindowHours"),
                                         START_WINDOW_HOURS),
            tags=dict(body.get("Tags") or {}))
        with self._lock:
            if (account, region, name) in self.plans:
                raise BackupApiError("AlreadyExistsException",
                                     f"restore testing plan {name} already exists")
            self.plans[(account, region, name)] = plan
        return {"CreationTime": plan.created, "RestoreTestingPlanArn": plan.arn,
                "RestoreTestingPlanName": name}

    def get_restore_testing_plan(self, account: str, region: str, name: str) -> dict[str, Any]:
        """GET /restore-testing/plans/{name}."""
        with self._lock:
            p = self._plan(account, region, name)
            out: dict[str, Any] = {
                "CreationTime": p.created, "RecoveryPointSelection": dict(p.selection),
                "RestoreTestingPlanArn": p.arn, "RestoreTestingPlanName": p.name,
                "ScheduleExpression": p.schedule, "ScheduleExpressionTimezone": p.timezone,
                "StartWindowHours": p.start_window_hours}
            if p.creator_request_id:
                out["CreatorRequestId"] = p.creator_request_id
            if p.updated is not None:
                out["LastUpdateTime"] = p.updated
            return {"RestoreTestingPlan": out}

    def update_restore_testing_plan(self, account: str, region: str, name: str,
                                    body: dict[str, Any]) -> dict[str, Any]:
        """PUT /restore-testing/plans/{name}."""
        spec = body.get("RestoreTestingPlan")
        if not isinstance(spec, dict):
            raise BackupApiError("MissingParameterValueException",
                                 "RestoreTestingPlan is required")
        with self._lock:
            p = self._plan(account, region, name)
            selection = p.selection
            if "RecoveryPointSelection" in spec:
                selection = self._recovery_point_selection(spec["RecoveryPointSelection"],
                                                           p.selection)
            schedule = self._schedule(spec["ScheduleExpression"]) \
                if "ScheduleExpression" in spec else p.schedule
            hours = _in_range("StartWindowHours", spec["StartWindowHours"], START_WINDOW_HOURS) \
                if "StartWindowHours" in spec else p.start_window_hours
            p.selection, p.schedule, p.start_window_hours = selection, schedule, hours
            p.timezone = spec.get("ScheduleExpressionTimezone") or p.timezone
            p.updated = self.clock.now()
            return {"CreationTime": p.created, "RestoreTestingPlanArn": p.arn,
                    "RestoreTestingPlanName": p.name, "UpdateTime": p.updated}

    def delete_restore_testing_plan(self, account: str, region: str, name: str
                                    ) -> dict[str, Any]:
        """DELETE /restore-testing/plans/{name}: only once its selections are gone."""
        with self._lock:
            self._plan(account, region, name)
            if any(k[:3] == (account, region, name) for k in self.selections):
                raise BackupApiError("InvalidRequestException",
                                     f"restore testing plan {name} still has selections; "
                                     "delete them first")
            del self.plans[(account, region, name)]
        return {}

    def list_restore_testing_plans(self, account: str, region: str, query: dict[str, str]
                                   ) -> dict[str, Any]:
        """GET /restore-testing/plans."""
        with self._lock:
            items = []
            for (a, r, _), p in sorted(self.plans.items(), key=lambda kv: kv[1].created):
                if (a, r) != (account, region):
                    continue
                item: dict[str, Any] = {
                    "CreationTime": p.created, "RestoreTestingPlanArn": p.arn,
                    "RestoreTestingPlanName": p.name, "ScheduleExpression": p.schedule,
                    "ScheduleExpressionTimezone": p.timezone,
                    "StartWindowHours": p.start_window_hours}
                if p.updated is not None:
                    item["LastUpdateTime"] = p.updated
                items.append(item)
        return _page(items, query, "RestoreTestingPlans")

    # --- restore testing selections -------------------------------------------------------------

    @staticmethod
    def _selection_spec(raw: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = {**(old or {}), **raw}
        if not spec.get("IamRoleArn"):
            raise BackupApiError("MissingParameterValueException", "IamRoleArn is required")
        if spec.get("ProtectedResourceType") not in PROTECTED_RESOURCE_TYPES:
            raise BackupApiError("InvalidParameterValueException",
                                 f"ProtectedResourceType must be one of "
                                 f"{', '.join(PROTECTED_RESOURCE_TYPES)}, "
                                 f"got {spec.get('ProtectedResourceType')}")
        conditions = spec.get("ProtectedResourceConditions") or {}
        has_conditions = bool(conditions.get("StringEquals") or conditions.get("StringNotEquals"))
        if bool(spec.get("ProtectedResourceArns")) == has_conditions:
            raise BackupApiError("InvalidParameterValueException",
                                 "give either ProtectedResourceArns or "
                                 "ProtectedResourceConditions, not both and not neither")
        # AWS returns the conditions with both lists, empty when not given
        spec["ProtectedResourceConditions"] = {
            "StringEquals": list(conditions.get("StringEquals") or []),
            "StringNotEquals": list(conditions.get("StringNotEquals") or [])}
        spec["ValidationWindowHours"] = _in_range("ValidationWindowHours",
                                                  spec.get("ValidationWindowHours"),
                                                  VALIDATION_WINDOW_HOURS)
        return spec

    def _selection(self, account: str, region: str, plan: str, name: str
                   ) -> RestoreTestingSelection:
        self._plan(account, region, plan)
        sel = self.selections.get((account, region, plan, name))
        if sel is None:
            raise BackupApiError("ResourceNotFoundException",
                                 f"restore testing selection {name} not found in plan {plan}",
                                 404)
        return sel

    def create_restore_testing_selection(self, account: str, region: str, plan: str,
                                         body: dict[str, Any]) -> dict[str, Any]:
        """PUT /restore-testing/plans/{plan}/selections."""
        raw = body.get("RestoreTestingSelection")
        if not isinstance(raw, dict):
            raise BackupApiError("MissingParameterValueException",
                                 "RestoreTestingSelection is required")
        name = _name("RestoreTestingSelectionName", raw.get("RestoreTestingSelectionName"))
        spec = self._selection_spec({k: v for k, v in raw.items()
                                     if k != "RestoreTestingSelectionName"})
        with self._lock:
            p = self._plan(account, region, plan)
            if (account, region, plan, name) in self.selections:
                raise BackupApiError("AlreadyExistsException",
                                     f"restore testing selection {name} already exists in "
                                     f"plan {plan}")
            sel = RestoreTestingSelection(plan=plan, name=name, created=self.clock.now(),
                                          creator_request_id=body.get("CreatorRequestId"),
                                          spec=spec)
            self.selections[(account, region, plan, name)] = sel
            return {"CreationTime": sel.created, "RestoreTestingPlanArn": p.arn,
                    "RestoreTestingPlanName": plan, "RestoreTestingSelectionName": name}

    def get_restore_testing_selection(self, account: str, region: str, plan: str, name: str
                                      ) -> dict[str, Any]:
        """GET /restore-testing/plans/{plan}/selections/{name}."""
        with self._lock:
            sel = self._selection(account, region, plan, name)
            out = {"CreationTime": sel.created, "RestoreTestingPlanName": plan,
                   "RestoreTestingSelectionName": name, **sel.spec}
            if sel.creator_request_id:
                out["CreatorRequestId"] = sel.creator_request_id
            return {"RestoreTestingSelection": out}

    def update_restore_testing_selection(self, account: str, region: str, plan: str, name: str,
                                         body: dict[str, Any]) -> dict[str, Any]:
        """PUT /restore-testing/plans/{plan}/selections/{name}."""
        raw = body.get("RestoreTestingSelection")
        if not isinstance(raw, dict):
            raise BackupApiError("MissingParameterValueException",
                                 "RestoreTestingSelection is required")
        with self._lock:
            sel = self._selection(account, region, plan, name)
            sel.spec = self._selection_spec(raw, sel.spec)
            now = self.clock.now()
            return {"CreationTime": sel.created,
                    "RestoreTestingPlanArn": self._plan(account, region, plan).arn,
                    "RestoreTestingPlanName": plan, "RestoreTestingSelectionName": name,
                    "UpdateTime": now}

    def delete_restore_testing_selection(self, account: str, region: str, plan: str, name: str
                                         ) -> dict[str, Any]:
        """DELETE /restore-testing/plans/{plan}/selections/{name}."""
        with self._lock:
            self._selection(account, region, plan, name)
            del self.selections[(account, region, plan, name)]
        return {}

    def list_restore_testing_selections(self, account: str, region: str, plan: str,
                                        query: dict[str, str]) -> dict[str, Any]:
        """GET /restore-testing/plans/{plan}/selections."""
        with self._lock:
            self._plan(account, region, plan)
            items = [{"CreationTime": s.created, "IamRoleArn": s.spec["IamRoleArn"],
                      "ProtectedResourceType": s.spec["ProtectedResourceType"],
                      "RestoreTestingPlanName": plan, "RestoreTestingSelectionName": s.name,
                      "ValidationWindowHours": s.spec["ValidationWindowHours"]}
                     for k, s in sorted(self.selections.items(), key=lambda kv: kv[1].created)
                     if k[:3] == (account, region, plan)]
        return _page(items, query, "RestoreTestingSelections")

    # --- vault access policies ------------------------------------------------------------------

    def _require_vault(self, account: str, region: str, vault: str) -> None:
        if self.vault_exists is not None and not self.vault_exists(account, region, vault):
            self.vault_policies.pop((account, region, vault), None)  # gone with its vault
            raise BackupApiError("ResourceNotFoundException",
                                 f"Backup vault {vault} does not exist", 404)

    def put_vault_access_policy(self, account: str, region: str, vault: str,
                                body: dict[str, Any]) -> dict[str, Any]:
        """PUT /backup-vaults/{name}/access-policy."""
        policy = body.get("Policy")
        if not isinstance(policy, str) or not policy:
            raise BackupApiError("MissingParameterValueException", "Policy is required")
        try:
            doc = json.loads(policy)
        except ValueError:
            raise BackupApiError("InvalidParameterValueException",
                                 "Policy is not valid JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("Statement"), (list, dict)):
            raise BackupApiError("InvalidParameterValueException",
                                 "Policy has no Statement")
        with self._lock:
            self._require_vault(account, region, vault)
            self.vault_policies[(account, region, vault)] = policy
        return {}

    def get_vault_access_policy(self, account: str, region: str, vault: str) -> dict[str, Any]:
        """GET /backup-vaults/{name}/access-policy."""
        with self._lock:
            self._require_vault(account, region, vault)
            policy = self.vault_policies.get((account, region, vault))
            if policy is None:
                raise BackupApiError("ResourceNotFoundException",
                                     f"Backup vault {vault} has no access policy", 404)
            return {"BackupVaultName": vault, "Policy": policy,
                    "BackupVaultArn": f"arn:aws:backup:{region}:{account}:backup-vault:{vault}"}

    def delete_vault_access_policy(self, account: str, region: str, vault: str
                                   ) -> dict[str, Any]:
        """DELETE /backup-vaults/{name}/access-policy."""
        with self._lock:
            self._require_vault(account, region, vault)
            self.vault_policies.pop((account, region, vault), None)
        return {}

    def allows_copy_into(self, account: str, region: str, vault: str, source_account: str
                         ) -> bool:
        """Whether the vault's access policy lets `source_account` copy into it: an Allow of
        `backup:CopyIntoBackupVault` to that account (root, account id or `*`) and no Deny of
        it (conditions are not evaluated)."""
        with self._lock:
            policy = self.vault_policies.get((account, region, vault))
        if policy is None:
            return False
        statements = json.loads(policy).get("Statement")
        if isinstance(statements, dict):
            statements = [statements]
        allowed = False
        for st in statements or []:
            if not _names_action(st, "backup:CopyIntoBackupVault") \
                    or not _names_account(st, source_account):
                continue
            if st.get("Effect") == "Deny":
                return False
            allowed = allowed or st.get("Effect") == "Allow"
        return allowed

    # --- tags of the plans held here ------------------------------------------------------------

    def _plan_by_arn(self, arn: str) -> RestoreTestingPlan | None:
        return next((p for p in self.plans.values() if p.arn == arn), None)

    def tags(self, method: str, verb: str, arn: str, body: dict[str, Any]
             ) -> dict[str, Any] | None:
        """ListTags / TagResource / UntagResource of a restore testing plan; None for any
        other ARN (moto's)."""
        with self._lock:
            plan = self._plan_by_arn(arn)
            if plan is None:
                return None
            if verb == "tags" and method == "GET":
                return {"Tags": dict(plan.tags)}
            if verb == "tags" and method == "POST":
                plan.tags.update(body.get("Tags") or {})
                return {}
            if verb == "untag" and method == "POST":
                for key in body.get("TagKeyList") or []:
                    plan.tags.pop(key, None)
                return {}
        return None

    # --- routing --------------------------------------------------------------------------------

    def handle(self, method: str, parts: list[str], query: dict[str, str], account: str,
               region: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """Answer one call (HTTP status, body); None when it is not one of the fake's."""
        if parts[:2] == ["restore-testing", "plans"]:
            return self._restore_testing(method, parts[2:], query, account, region, body)
        if parts[:2] == ["backup", "plans"] and len(parts) >= 4 and parts[3] == "selections":
            plan_id = parts[2]
            if len(parts) == 4 and method == "PUT":
                return 200, self.create_backup_selection(account, region, plan_id, body)
            if len(parts) == 4 and method == "GET":
                return 200, self.list_backup_selections(account, region, plan_id, query)
            if len(parts) == 5 and method == "GET":
                return 200, self.get_backup_selection(account, region, plan_id, parts[4])
            if len(parts) == 5 and method == "DELETE":
                return 200, self.delete_backup_selection(account, region, plan_id, parts[4])
        if parts[:2] == ["backup", "plans"] and len(parts) == 3 and method == "DELETE":
            self.check_plan_deletable(account, region, parts[2])
            return None  # moto deletes the plan
        if parts[:1] in (["tags"], ["untag"]) and len(parts) == 2:
            got = self.tags(method, parts[0], parts[1], body)
            return None if got is None else (200, got)
        if parts[:1] == ["backup-vaults"] and len(parts) == 3 and parts[2] == "access-policy":
            if method == "PUT":
                return 200, self.put_vault_access_policy(account, region, parts[1], body)
            if method == "GET":
                return 200, self.get_vault_access_policy(account, region, parts[1])
            if method == "DELETE":
                return 200, self.delete_vault_access_policy(account, region, parts[1])
        return None

    def _restore_testing(self, method: str, rest: list[str], query: dict[str, str],
                         account: str, region: str, body: dict[str, Any]
                         ) -> tuple[int, dict[str, Any]]:
        if not rest and method == "PUT":
            return 201, self.create_restore_testing_plan(account, region, body)
        if not rest and method == "GET":
            return 200, self.list_restore_testing_plans(account, region, query)
        plan = rest[0] if rest else ""
        if len(rest) == 1:
            if method == "GET":
                return 200, self.get_restore_testing_plan(account, region, plan)
            if method == "PUT":
                return 200, self.update_restore_testing_plan(account, region, plan, body)
            if method == "DELETE":
                return 204, self.delete_restore_testing_plan(account, region, plan)
        if rest[1:2] == ["selections"] and len(rest) == 2:
            if method == "PUT":
                return 201, self.create_restore_testing_selection(account, region, plan, body)
            if method == "GET":
                return 200, self.list_restore_testing_selections(account, region, plan, query)
        if rest[1:2] == ["selections"] and len(rest) == 3:
            name = rest[2]
            if method == "GET":
                return 200, self.get_restore_testing_selection(account, region, plan, name)
            if method == "PUT":
                return 200, self.update_restore_testing_selection(account, region, plan, name,
                                                                  body)
            if method == "DELETE":
                return 204, self.delete_restore_testing_selection(account, region, plan, name)
        raise BackupApiError("InvalidRequestException",
                             f"{method} /restore-testing/plans/{'/'.join(rest)} is not "
                             "implemented by the keyplane sandbox")
