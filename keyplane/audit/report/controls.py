"""The control matrix: which evidence speaks to which control of which key, and the verdict.

A control is `met` only when evidence says so (a passing check, drift, rotation or
access-review result for that key, or a passed drill within the tier's cadence) and no
evidence says otherwise; `not met` when any evidence fails; `unknown` when evidence is
missing or could not be judged. Nothing is `met` by default. `n/a` is reserved for a
control the tier table does not ask of the key (no backup for `ephemeral` keys).

Which control a piece of evidence speaks to is the finding's `control` field (a drill
record's `control`, or for older records its kind); nothing here maps ids to controls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from keyplane.audit.evidence import DRILL_CONTROL, DrillResult
from keyplane.findings import Control
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.specs import Cloud, Origin
from keyplane.model.stacks import split_stack_name
from keyplane.model.tiers import TIERS, Tier


class Mark(StrEnum):
    """The verdict on one control of one key."""

    MET = "met"
    NOT_MET = "not met"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "n/a"

    @property
    def css(self) -> str:
        """The CSS class of the mark."""
        return {"met": "met", "not met": "notmet", "unknown": "unknown", "n/a": "na"}[self.value]

    @property
    def symbol(self) -> str:
        """A glyph that reads without colour."""
        return {"met": "\u2713", "not met": "\u2717", "unknown": "?", "n/a": "\u2013"}[self.value]


# The four columns of the matrix: backup and rotation share one, as in the tier table's
# "backup/rotation" row of the product brief; the cell shows both parts.
COLUMNS: tuple[tuple[str, tuple[Control, ...]], ...] = (
    ("protection", (Control.PROTECTION,)),
    ("access", (Control.ACCESS,)),
    ("audit", (Control.AUDIT,)),
    ("backup/rotation", (Control.BACKUP, Control.ROTATION)),
)


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence about one control of one key."""

    control: Control
    mark: Mark  # MET (passed), NOT_MET (failed) or UNKNOWN (could not be judged)
    source: str  # check, post-apply, drift, rotation, access-review, drill, inventory
    ref: str  # rule id, check id or drill kind
    message: str
    when: str | None = None  # the date the evidence was produced, yyyy-mm-dd
    note: str | None = None  # waived by / acknowledged by
    scope: str = "key"  # key: about this key; environment: about a shared resource


@dataclass(frozen=True)
class ControlResult:
    """The verdict on one control, with the evidence behind it."""

    control: Control
    mark: Mark
    reason: str
    evidence: tuple[Evidence, ...]

    @property
    def failing(self) -> list[Evidence]:
        """The evidence that makes the control not met."""
        return [e for e in self.evidence if e.mark is Mark.NOT_MET]

    @property
    def last_proven(self) -> str | None:
        """The newest date of passing evidence."""
        dates = [e.when for e in self.evidence if e.mark is Mark.MET and e.when]
        return max(dates) if dates else None


def verdict(control: Control, evidence: Sequence[Evidence], *, applicable: bool = True,
            not_applicable_reason: str = "") -> ControlResult:
    """Fold evidence into a mark: any failure wins, then any unknown, then a pass."""
    ev = tuple(evidence)
    failed = [e for e in ev if e.mark is Mark.NOT_MET]
    if not applicable and not failed:
        # Passing results of rules that do not bear on this tier prove nothing here; a
        # failure is still shown, since it points at something deployed that should not be.
        return ControlResult(control, Mark.NOT_APPLICABLE, not_applicable_reason, ev)
    unknown = [e for e in ev if e.mark is Mark.UNKNOWN]
    passed = [e for e in ev if e.mark is Mark.MET]
    if failed:
        return ControlResult(control, Mark.NOT_MET, f"{len(failed)} failing: {failed[0].ref}",
                             ev)
    if unknown:
        return ControlResult(control, Mark.UNKNOWN,
                             f"{len(unknown)} not judged: {unknown[0].ref}", ev)
    if passed:
        sources = sorted({e.source for e in passed})
        return ControlResult(control, Mark.MET,
                             f"{len(passed)} passed ({', '.join(sources)})", ev)
    return ControlResult(control, Mark.UNKNOWN, "no evidence", ev)


def combine(results: Iterable[ControlResult]) -> Mark:
    """The mark of a column made of several controls (backup/rotation)."""
    marks = [r.mark for r in results if r.mark is not Mark.NOT_APPLICABLE]
    if not marks:
        return Mark.NOT_APPLICABLE
    for m in (Mark.NOT_MET, Mark.UNKNOWN):
        if m in marks:
            return m
    return Mark.MET


# ---- where a check finding belongs ---------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """Where a finding belongs: an environment, and a key, workload or shared component."""

    env: str | None
    cloud: Cloud | None
    key: str | None = None
    workload: str | None = None
    component: str = ""


_HASH = re.compile(r"_[0-9A-F]{8}$")


def _match_key(rest: str, names: Iterable[str]) -> str | None:
    """The longest key name that `rest` is, or starts with followed by `-`/`_`/`/`."""
    best = None
    for name in names:
        if (rest == name or rest.startswith((f"{name}-", f"{name}/", f"{name}_"))) and \
                (best is None or len(name) > len(best)):
            best = name
    return best


def place_of_path(path: str, envs: dict[str, Environment]) -> Place | None:
    """Place a construct path (`prod-aws/aws/keys/code-signing/g4/key`, `prod-gcp/gcp/key-x`)."""
    parts = path.split("/")
    if parts:
        parts[0] = split_stack_name(parts[0])[0]  # the stack `prod-aws` is environment `prod`
    if len(parts) < 3 or parts[0] not in envs or parts[1] not in ("aws", "gcp"):
        return None
    env = envs[parts[0]]
    cloud = Cloud(parts[1])
    names = [k.name for k in env.keys if k.cloud is cloud]
    if cloud is Cloud.AWS:
        comp = parts[2]
        if comp == "keys" and len(parts) > 3:
            return Place(env.name, cloud, key=_match_key(parts[3], names), component="keys")
        if comp == "iam" and len(parts) > 3 and parts[3].startswith("user-"):
            wl = _match_key(parts[3][len("user-"):], [w.name for w in env.workloads])
            return Place(env.name, cloud, workload=wl, component="iam")
        if comp == "alarms" and len(parts) > 3:
            m = re.match(r"^(?:alarm|filter)-(?:sign-volume|SignOutsideCeremony)-(.+)$", parts[3])
            if m:
                return Place(env.name, cloud, key=_match_key(m.group(1), names),
                             component="alarms")
        return Place(env.name, cloud, component=comp)
    leaf = parts[2]
    if leaf.startswith("key-"):
        key = _match_key(leaf[len("key-"):], names)
        if key:
            return Place(env.name, cloud, key=key, component="keys")
    if leaf.startswith("alert-"):
        key = _match_key(leaf[len("alert-"):], names)
        if key and leaf[len("alert-") + len(key):].startswith("-sign-volume"):
            return Place(env.name, cloud, key=key, component="alert")
    return Place(env.name, cloud, component=leaf)


def place_of_address(address: str, env: Environment) -> Place:
    """Place a Terraform address when there is no construct path (plan JSON)."""
    name = address.rsplit(".", 1)[-1]
    name = _HASH.sub("", name)
    rtype = address.rsplit(".", 1)[0].rsplit(".", 1)[-1]
    cloud = Cloud.GCP if rtype.startswith("google_") else Cloud.AWS
    names = [k.name for k in env.keys if k.cloud is cloud]
    if cloud is Cloud.AWS and name.startswith("aws_"):
        comp, _, rest = name[len("aws_"):].partition("_")
        if comp == "keys":
            return Place(env.name, cloud, key=_match_key(rest, names), component="keys")
        if comp == "iam" and rest.startswith("user-"):
            wl = _match_key(rest[len("user-"):], [w.name for w in env.workloads])
            return Place(env.name, cloud, workload=wl, component="iam")
        return Place(env.name, cloud, component=comp)
    if name.startswith("gcp_key-"):
        key = _match_key(name[len("gcp_key-"):], names)
        if key:
            return Place(env.name, cloud, key=key, component="keys")
    comp = name[len("gcp_"):] if name.startswith("gcp_") else name
    return Place(env.name, cloud, component=comp)


_STACK_DIR = re.compile(r"(?:^|/)stacks/([a-z0-9][a-z0-9-]*)/")


def env_of_source(source: str | None, envs: dict[str, Environment]) -> str | None:
    """The environment a synth file belongs to (`cdktf.out/stacks/<env>-<cloud>/cdk.tf.json`)."""
    m = _STACK_DIR.search(source or "")
    env = split_stack_name(m.group(1))[0] if m else None
    return env if env in envs else None


def base_key(key_id: str) -> str:
    """`code-signing@g4` or `code-signing@us-west-2` -> `code-signing`.

    Key names never hold `@` (NAME_PATTERN), so whatever follows it qualifies the key: a
    generation in post-apply reports, a Region in replica drill records.
    """
    return key_id.split("@", 1)[0]


# ---- what a drill proves, and for which keys ------------------------------------------------

def drill_control(drill: DrillResult) -> Control | None:
    """The control `drill` proves: the record's `control`, else (a record written before
    records named it) the one of its kind (keyplane.audit.evidence.DRILL_CONTROL).

    A sign canary shows the key is enabled and its material signs, verifies or decrypts as
    declared (protection); it recovers nothing, so it never proves backup.
    """
    if drill.control:
        return Control(drill.control)
    return DRILL_CONTROL.get(drill.kind)


# What a passing drill of each kind shows, for the reader of the report.
DRILL_PROVES: dict[str, str] = {
    "sign-canary": "protection of that key: it is enabled and its material signs, verifies or "
                   "decrypts as declared",
    "replica": "recovery of that key through its replica in the Region named",
    "cloudhsm": "backup of the CloudHSM cluster: it restores, so the ca keys in its custom key "
                "store can be recovered",
    "backup": "backup of what AWS Backup protects: the resource restored, and the keys declared "
              "backed_up (in the environment's backup plan)",
    "escrow": "recovery of that imported key from its escrow copy",
}


def drill_covers(drill: DrillResult, key: KeyDecl, env: Environment) -> bool:
    """Whether `drill` is evidence about `key`, read from the record's kind and key fields.

    A cloudhsm record is about the environment's cluster, so about every key in its custom
    key store. A backup record names a key, or a resource of the backup plan; a resource's
    restore proves the plan for the keys declared `backed_up`. Every other kind names its
    key (`name`, `name@gN` or `name@region`).
    """
    if drill.kind == "cloudhsm":
        return key.cloud is Cloud.AWS and key.origin is Origin.CLOUDHSM
    target = base_key(drill.key) if drill.key else None
    if target == key.name:
        return True
    if drill.kind != "backup" or target is None or key.cloud is not Cloud.AWS:
        return False
    plan = env.aws.backup.resources if env.aws and env.aws.backup else ()
    return key.backed_up and any(r.name == target for r in plan)


# ---- what the tier asks of a key -----------------------------------------------------------

def backup_applicable(key: KeyDecl) -> tuple[bool, str]:
    """Whether the tier table asks a backup/recovery control of `key`, and why not."""
    pol = TIERS[key.tier]
    if key.tier is Tier.EPHEMERAL:
        return False, "ephemeral keys are re-issued, not backed up"
    if key.cloud is Cloud.GCP:
        return False, "the tier table sets no backup control for Cloud KMS keys"
    if pol.vault_lock_mode or pol.cloudhsm_backup_retention_in_days or pol.min_replica_regions:
        return True, ""
    return False, "no backup control for this tier"


def shared_applies(control: Control, key: KeyDecl, cloud: Cloud | None,
                   component: str = "") -> bool:
    """Whether a finding on a shared resource of the key's environment bears on `key`."""
    if cloud is not None and key.cloud is not cloud:
        return False
    pol = TIERS[key.tier]
    if control is Control.BACKUP:
        if component == "cloudhsm" or component.startswith("cloudhsm"):
            return key.origin is Origin.CLOUDHSM
        return backup_applicable(key)[0] and pol.vault_lock_mode is not None
    if component == "cloudhsm":
        return key.origin is Origin.CLOUDHSM
    return True


def backup_summary(key: KeyDecl, env: Environment) -> str:
    """How the key is backed up or recovered, in the tier table's words."""
    pol = TIERS[key.tier]
    if key.tier is Tier.EPHEMERAL:
        return "none (re-issuable)"
    parts = []
    if key.cloud is Cloud.GCP:
        parts.append(f"{key.protection_level or pol.gcp_default_protection_level} key, "
                     f"destroy-scheduled {key.deletion_window_in_days} d")
    else:
        if key.origin is Origin.CLOUDHSM:
            keep = (env.aws.cloudhsm.backup_retention_in_days if env.aws and env.aws.cloudhsm
                    and env.aws.cloudhsm.backup_retention_in_days
                    else pol.cloudhsm_backup_retention_in_days)
            parts.append(f"CloudHSM backups {keep} d")
        if key.replica_regions:
            parts.append(f"replicas {', '.join(key.replica_regions)}")
        if key.escrow is not None:
            parts.append("escrow copy")
        if pol.vault_lock_mode:
            lock = f"vault lock {pol.vault_lock_mode.lower()}"
            if pol.vault_min_retention_in_days:
                lock += f" >= {pol.vault_min_retention_in_days} d"
            parts.append(lock)
        if pol.cross_account_backup_copy:
            parts.append("cross-account copy")
    if pol.drill_cadence_in_days and backup_applicable(key)[0]:
        parts.append(f"drill every {pol.drill_cadence_in_days} d")
    return "; ".join(parts) or "none"
