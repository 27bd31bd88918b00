"""A generated estate for the report at scale: inventories, gate results, post-apply reports
and drill evidence for hundreds of environments, written by keyplane's own writers.

Nothing here is a hand-written document: the environments are the committed examples with
names, accounts and projects of their own (and loaded by keyplane's loader, so they are
valid inventories); findings are `keyplane.findings.Finding`s of the registered checks and
rules (their control and area from the registries, their severity from the tier packs);
the gate results are rendered by the gate's JSON reporter, the post-apply reports by
post-apply's `Report`, the drill records by the drill runner and its evidence store
(`tests.estate.support.drill_with_the_runner`). `validate_documents` checks every file
against keyplane's JSON Schema. A seeded random generator picks what fails, so two runs
write the same estate.

Used by tests/audit/test_report_estate.py and benchmarks/report_size.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from keyplane.audit.report import ReportOptions
from keyplane.findings import Cloud, Finding, Severity, Status
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.loader import load_targets
from keyplane.model.specs import Cloud as KeyCloud
from keyplane.model.tiers import Tier, highest
from tests.conftest import EXAMPLE_ENVIRONMENTS
from tests.estate.support import at, drill_with_the_runner

# libyaml's safe loader and dumper where PyYAML has them: the same documents, sooner.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
AS_OF = dt.date(2026, 11, 28)
RUN_AT = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
DRILL_DAYS = (dt.date(2026, 9, 3), dt.date(2026, 10, 6), dt.date(2026, 11, 9))
# Which example each generated environment is made from, by its index: one in eight holds
# ca keys (prod.yaml), three in eight production keys only, half are non-production (dev.yaml).
PROFILES = ("ca", "production", "production", "production", "non-production",
            "non-production", "non-production", "non-production")
_TEMPLATE = {"ca": "prod", "production": "prod", "non-production": "dev"}

# What goes wrong, as the post-apply checks would report it: (check id, what it is about,
# reason). `key`: a declared key; `shared`: a resource of the environment (trail, vault).
FAILURES: tuple[tuple[str, str, str], ...] = (
    ("drift.key_disabled", "key", "the key is disabled; it is declared enabled"),
    ("drift.key_policy", "key", "the key policy differs from the synthesized policy: "
                                "statement AllowUse grants kms:Decrypt to an undeclared role"),
    ("drift.grant_not_declared", "key", "grant 9f1c2e to arn:aws:iam::999999999999:role/outsider "
                                        "(Decrypt) is not declared"),
    ("access.cross_account", "key", "arn:aws:iam::999999999999:role/outsider in another account "
                                    "can decrypt"),
    ("rotation.disabled", "key", "automatic rotation is off; declared every 365 days"),
    ("rotation.generation_too_old", "key", "the current generation is older than the tier's "
                                           "maximum key age"),
    ("drift.alias_target", "key", "the alias points at a previous generation"),
    ("drift.trail_logging_stopped", "shared", "audit trail logging is stopped"),
    ("drift.log_retention_lowered", "shared", "log group retention is 30 days; the tier asks "
                                              "for at least 365"),
    ("drift.vault_lock_removed", "shared", "the backup vault has no Vault Lock; the tier asks "
                                           "for COMPLIANCE mode"),
    ("drift.tags", "key", "tag keyplane:tier is missing"),
)
UNREADABLE = ("GetKeyPolicy denied (AccessDeniedException)",
              "ListGrants throttled after 5 attempts (ThrottlingException)")


@dataclass(frozen=True)
class SyntheticEstate:
    """Where the generated estate was written."""

    environments_dir: Path
    check_files: tuple[Path, ...]
    post_apply_files: tuple[Path, ...]
    evidence_dir: Path
    names: tuple[str, ...]

    def options(self, **over: Any) -> ReportOptions:
        """The report's options over every file written."""
        opts: dict[str, Any] = dict(
            as_of=AS_OF, check_files=self.check_files, post_apply_files=self.post_apply_files,
            evidence_dirs=(self.evidence_dir,),
            generated_at=dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC))
        opts.update(over)
        return ReportOptions(**opts)

    def cli_args(self) -> list[str]:
        """The same inputs as `keyplane report` options."""
        args = ["-d", str(self.environments_dir), "--as-of", AS_OF.isoformat(),
                "--evidence-dir", str(self.evidence_dir)]
        for f in self.check_files:
            args += ["--check-json", str(f)]
        for f in self.post_apply_files:
            args += ["--post-apply-json", str(f)]
        return args

    def environments(self) -> list[Environment]:
        """The generated inventory, loaded as `keyplane report` loads it."""
        return list(load_targets([], self.environments_dir).environments)


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _uuid(*parts: object) -> str:
    h = _digest(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def environment_text(index: int, keys: int) -> tuple[str, str]:
    """(name, YAML) of generated environment `index`: an example file with its own name,
    accounts, project and state key, and its keys cloned (`<name>-<n>`) up to `keys`."""
    profile = PROFILES[index % len(PROFILES)]
    template = _TEMPLATE[profile]
    name = f"e{index:03d}"
    text = (EXAMPLE_ENVIRONMENTS / f"{template}.yaml").read_text(encoding="utf-8")
    # every account of the example gets one of its own: isolation forbids sharing them
    accounts = sorted(set(re.findall(r"\b\d{12}\b", text)))
    for j, acct in enumerate(accounts):
        text = re.sub(rf"\b{acct}\b", str(300000000000 + index * 16 + j), text)
    text = re.sub(rf"(?<![a-z0-9]){template}(?![a-z0-9])", name, text)
    doc = yaml.load(text, Loader=_LOADER)
    doc["name"] = name
    doc["description"] = f"Generated {profile} environment {index} (report at scale)"
    doc["gcp"]["project_id"] = f"acme-pki-{name}"
    base = [k for k in doc["keys"] if profile == "ca" or k["tier"] != Tier.CA.value]
    if profile != "ca":
        doc["aws"].pop("cloudhsm", None)
        doc["principals"].pop("ceremony", None)
    out = list(base)
    n = 1
    while len(out) < keys:
        for k in base:
            if len(out) >= keys:
                break
            clone = {**k, "name": f"{k['name']}-{n}"}
            clone.pop("description", None)
            if clone.get("escrow"):  # an escrow location is per key
                clone["escrow"] = {**clone["escrow"],
                                   "location": f"{clone['escrow']['location']}{n}/"}
            out.append(clone)
        n += 1
    doc["keys"] = out[:keys]
    if "owner" in KeyDecl.model_fields:  # ca and production keys name who answers for them
        for k in doc["keys"]:
            k.setdefault("owner", "pki-team@acme.example")
    return name, yaml.dump(doc, Dumper=_DUMPER, sort_keys=False)


# ---- the resources each declared key is, as post-apply reads them --------------------------

@dataclass(frozen=True)
class _Res:
    key: KeyDecl
    key_id: str  # `name` or `name@gN`
    arn: str
    address: str
    construct_path: str
    region: str


def _resources(env: Environment) -> Iterator[_Res]:
    for k in env.keys:
        h = _digest(env.name, k.name)[:8].upper()
        if k.cloud is KeyCloud.GCP:
            assert env.gcp is not None
            yield _Res(k, k.name, f"projects/{env.gcp.project_id}/locations/{k.location}/"
                                  f"keyRings/{k.key_ring}/cryptoKeys/{k.name}",
                       f"google_kms_crypto_key.gcp_key-{k.name}_{h}",
                       f"{env.name}/gcp/key-{k.name}", str(k.location))
            continue
        assert env.aws is not None
        gens = [g.generation for g in k.generations if g.enabled] or [None]
        for g in gens:
            kid = f"{k.name}@g{g}" if g is not None else k.name
            part = f"{k.name}_g{g}" if g is not None else k.name
            path = f"{env.name}/aws/keys/{k.name}" + (f"/g{g}" if g is not None else "") + "/key"
            yield _Res(k, kid, f"arn:aws:kms:{env.aws.region}:{env.aws.account_id}:key/"
                               f"mrk-{_uuid(env.name, kid)}",
                       f"aws_kms_key.aws_keys_{part}_key_{h}", path, env.aws.region)


def _principals(env: Environment, k: KeyDecl) -> tuple[list[str], list[str]]:
    """Who can use and administer `k`, as an access review lists them."""
    use = []
    for w in env.workloads:
        if w.name not in k.users:
            continue
        if k.cloud is KeyCloud.GCP and w.gcp:
            use.append(w.gcp.member)
        elif k.cloud is KeyCloud.AWS and w.aws:
            use.append(w.aws.role_arn or f"arn:aws:iam::{env.aws.account_id if env.aws else ''}:"
                                         f"role/keyplane-{env.name}-{w.name}")
    admins = env.principals.key_admins
    admin = list((admins.gcp if k.cloud is KeyCloud.GCP else admins.aws) or [])
    return use, admin


def post_apply_report(env: Environment, rng: random.Random) -> dict[str, Any]:
    """The JSON of one `keyplane post-apply` run of `env`, with what `rng` makes fail."""
    from keyplane.policy.packs import check_severity
    from keyplane.postapply.registry import discover
    from keyplane.postapply.report import Report

    checks = discover()
    resources = list(_resources(env))
    top = highest([k.tier for k in env.keys]) or Tier.PRODUCTION
    findings: list[Finding] = []
    # A third of the estate is clean; the rest has one to eight failures.
    count = 0 if rng.random() < 0.34 else rng.randint(1, 8)
    seen: set[tuple[str, str]] = set()  # a check reports a resource once
    for _ in range(count):
        check_id, about, reason = rng.choice(FAILURES)
        check = checks[check_id]  # KeyError: the check is not registered any more
        r = rng.choice(resources)
        if (check_id, r.arn if about == "key" else about) in seen:
            continue
        seen.add((check_id, r.arn if about == "key" else about))
        if about == "key":
            cloud = Cloud(r.key.cloud.value)
            sev = check_severity(check_id, r.key.tier) or Severity.HIGH
            findings.append(Finding(
                rule_id=check_id, status=Status.FAIL, severity=sev, resource=r.arn,
                reason=reason, control=check.control, cloud=cloud, environment=env.name,
                tier=r.key.tier, key=r.key_id, region=r.region, address=r.address,
                construct_path=r.construct_path, area=check.area,
                acknowledged=({"reason": "change window CHG-4471", "owner": "platform-oncall",
                               "expires": "2026-12-31"} if rng.random() < 0.15 else None)))
        else:
            sev = check_severity(check_id, top) or Severity.HIGH
            findings.append(Finding(
                rule_id=check_id, status=Status.FAIL, severity=sev,
                resource=f"keyplane-{env.name}", reason=reason, control=check.control,
                cloud=Cloud.AWS, environment=env.name, tier=top, area=check.area))
    unread: set[str] = set()
    unknowns: list[Finding] = []
    if rng.random() < 0.2:
        for r in rng.sample(resources, k=min(2, len(resources))):
            unread.add(r.arn)
            unknowns.append(Finding(
                rule_id="read.policy", status=Status.UNKNOWN, severity=Severity.INFO,
                resource=r.arn, reason=rng.choice(UNREADABLE), control=checks[
                    "drift.key_policy"].control, cloud=Cloud(r.key.cloud.value),
                environment=env.name, tier=r.key.tier, key=r.key_id, region=r.region))
    access = []
    for k in env.keys:
        use, admin = _principals(env, k)
        access.append({"key": k.name, "use": use, "administer": admin})
    report = Report(command="post-apply", environment=env.name, started_at=RUN_AT,
                    sections=["rotation", "drift", "access-review"], findings=findings,
                    unknowns=unknowns, checked=[r.arn for r in resources if r.arn not in unread],
                    matched={r.arn: r.key_id for r in resources}, access=access)
    return report.to_dict()


def check_report(env: Environment, rng: random.Random) -> str:
    """`keyplane check --format json` of `env`'s stacks: every key rule on every key (PASS),
    a few of them failing or unknown as `rng` decides, rendered by the gate's JSON reporter."""
    from keyplane.policy.engine import Report, gate_fails
    from keyplane.policy.packs import TABLE
    from keyplane.policy.registry import discover
    from keyplane.reporters.jsonout import render

    rules = discover()
    aws_rules = [r for r in rules.values() if "aws_kms_key" in r.resource_types and r.control]
    gcp_rules = [r for r in rules.values()
                 if "google_kms_crypto_key" in r.resource_types and r.control]
    order = (Tier.CA, Tier.PRODUCTION, Tier.NON_PRODUCTION, Tier.EPHEMERAL)
    findings: list[Finding] = []
    for r in _resources(env):
        cloud = Cloud(r.key.cloud.value)
        for rule in aws_rules if cloud is Cloud.AWS else gcp_rules:
            row = TABLE.get(rule.rule_id)
            sev = row[order.index(r.key.tier)] if row else rule.severity
            if sev is None:
                continue  # not in this tier's pack
            status = Status.PASS
            roll = rng.random()
            if roll < 0.01:
                status = Status.FAIL
            elif roll < 0.015:
                status = Status.UNKNOWN
            f = Finding(rule_id=rule.rule_id, status=status, severity=sev, resource=r.address,
                        reason=f"{rule.title}: " + ("as declared" if status is Status.PASS else
                                                    "not as the tier asks"),
                        control=rule.control, cloud=cloud, environment=env.name,
                        tier=r.key.tier, address=r.address, resource_type=r.address.split(".")[0],
                        construct_path=r.construct_path,
                        source=f"cdktf.out/stacks/{env.name}-{cloud.value}/cdk.tf.json",
                        area=rule.area)
            f.gate = gate_fails(f, rule, Severity.HIGH)
            findings.append(f)
    report = Report(findings=findings, rules=rules,
                    files=[f"cdktf.out/stacks/{env.name}-aws/cdk.tf.json",
                           f"cdktf.out/stacks/{env.name}-gcp/cdk.tf.json"],
                    resources=len(findings), fail_level=Severity.HIGH)
    return render(report)


def write_drills(env: Environment, evidence_dir: Path, rng: random.Random) -> None:
    """Three scheduled drill runs of `env` through the drill runner; some fail or are skipped.

    The evidence store syncs every record to disk; that durability is not what a generated
    estate is for, and thousands of syncs would make it slow, so they are skipped here.
    """
    outcomes = ("TIMED_OUT", "INTEGRITY_ALARM", "KEY_STATE", "SKIPPED")
    with mock.patch.object(os, "fsync", lambda fd: None):
        for day in DRILL_DAYS:
            bad = {d for d in ("sign-canary", "replica", "cloudhsm", "backup", "escrow")
                   if rng.random() < 0.08}
            pick = rng.choice(outcomes)
            drill_with_the_runner(env, evidence_dir, at(day),
                                  outcome=lambda drill, bad=bad, pick=pick:
                                  pick if drill.kind in bad else "PASSED")


def write_synthetic_estate(root: Path, environments: int = 200, keys: int = 20, *,
                           seed: int = 20261128, with_checks: bool = True) -> SyntheticEstate:
    """Write the estate under `root` (environments/, check/, post-apply/, evidence/)."""
    rng = random.Random(seed)
    env_dir = root / "environments"
    env_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(environments):
        name, text = environment_text(i, keys)
        (env_dir / f"{name}.yaml").write_text(text, encoding="utf-8")
        names.append(name)
    envs = list(load_targets([], env_dir).environments)
    pa_dir, check_dir, evidence = root / "post-apply", root / "check", root / "evidence"
    for d in (pa_dir, check_dir, evidence):
        d.mkdir(exist_ok=True)
    pa_files, check_files = [], []
    for env in envs:
        path = pa_dir / f"{env.name}.json"
        path.write_text(json.dumps(post_apply_report(env, rng), indent=2, default=str),
                        encoding="utf-8")
        pa_files.append(path)
        if with_checks:
            path = check_dir / f"{env.name}.json"
            path.write_text(check_report(env, rng), encoding="utf-8")
            check_files.append(path)
        write_drills(env, evidence, rng)
    return SyntheticEstate(env_dir, tuple(check_files), tuple(pa_files), evidence, tuple(names))


def validate_documents(estate: SyntheticEstate, *, sample: int = 1) -> int:
    """Check the written documents against keyplane's JSON Schema; how many were checked.

    Every post-apply document; the gate results and drill records of every
    `sample`-th environment (each kind is written by one writer, so a sample shows its
    shape). Raises jsonschema.ValidationError naming where a document does not conform.
    """
    from keyplane.schema import validate

    n = 0
    for path in estate.post_apply_files:
        validate(json.loads(path.read_text(encoding="utf-8")), "post-apply")
        n += 1
    for path in estate.check_files[::sample]:
        validate(json.loads(path.read_text(encoding="utf-8")), "check")
        n += 1
    for name in estate.names[::sample]:
        for path in sorted((estate.evidence_dir / name).glob("*.json")):
            validate(json.loads(path.read_text(encoding="utf-8")), "drill-evidence")
            n += 1
    return n
