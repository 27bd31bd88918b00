"""`keyplane incident ENV KEY@gN --reason ...`: the compromise runbook of one generation.

The composition root of incident responses: it checks every input before any cloud call,
pins the deployed key of the generation, builds the plan from reads only, and prints it
(the default: a dry run that changes nothing). With `--execute` (and `--yes`, or the
generation's name typed at a terminal) it assumes the break-glass role with MFA and hands
the plan to `keyplane.incident.runner`: disable, revoke grants, read the audit trail, list
certificates, write the rotation into the inventory, every step journaled and audited, the
record written where drill evidence goes.
Exit 0 done (or a dry run), 1 the deployed key is not provably the generation's, 2 bad input
or a refusal, 3 a step failed (`--execute` again resumes) or another run holds the lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from keyplane.audit.events import AuditLog, AuditSinkError, new_run_id
from keyplane.commands.audit_wiring import audit_options, build_audit_log
from keyplane.commands.post_apply import connection_options
from keyplane.commands.rotate import (
    Reason,
    _dump,
    _key_node,
    _load_round_trip,
    plan_rotation,
    rotate_file,
)
from keyplane.desired import names
from keyplane.errors import InventoryError, KeyplaneError
from keyplane.incident.errors import (
    BreakGlassError,
    GenerationError,
    IncidentCloudError,
    IncidentInputError,
    NotConfirmedError,
)
from keyplane.incident.identity import resolve
from keyplane.incident.model import CertRef, DeployedKey, InventoryChange, iso
from keyplane.incident.plan import Acting, check_reason, make_plan, parse_since
from keyplane.incident.ports import CertificatesUnavailable
from keyplane.model.environment import Environment, KeyDecl
from keyplane.model.loader import DEFAULT_DIR, load_environment, load_targets, load_text
from keyplane.model.specs import Cloud
from keyplane.model.tags import ROLE_BREAK_GLASS
from keyplane.model.tiers import Tier
from keyplane.output import deliver, set_format, to_json, write_atomic

MAX_EVENTS_DEFAULT = 10_000


def clock() -> float:
    """The run's clock (tests replace this function; nothing else does)."""
    return time.time()


# --- the inventory: the rotation `keyplane rotate --reason compromise` writes -----------------


class YamlInventory:
    """The environment file, changed by the `rotate` command's own functions: the current
    generation is rotated with reason compromise (the new generation is declared, the old
    one disabled with no overlap); a verify-only generation's overlap ends today."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _decide(self, key_name: str, generation: int, today: dt.date
                ) -> tuple[InventoryChange, KeyDecl]:
        env = load_environment(self.path)
        try:
            key = env.key(key_name)
        except KeyError:
            raise GenerationError(f"key {key_name} is no longer declared in {self.path}") from None
        gen = next((g for g in key.generations if g.generation == generation), None)
        if gen is None:
            raise GenerationError(f"generation {generation} of {key_name} is no longer declared "
                                  f"in {self.path}")
        path = str(self.path)
        if generation == key.generation:
            rot = plan_rotation(key, env.name, Reason.COMPROMISE, today)
            lines = rot.describe()[:3]
            if key.tier is Tier.CA:
                lines.append("ca tier: the new generation's key is created in a key ceremony "
                             "(the ceremony role, with MFA); the pull request declares it")
            return InventoryChange(path=path, needed=True, kind="rotate", lines=tuple(lines),
                                   previous=rot.previous, new=rot.new), key
        if not gen.enabled:
            return InventoryChange(path=path, needed=False, kind="none", lines=(
                f"{key_name}@g{generation} is already disabled in the inventory "
                "(enabled: false)",), previous=generation), key
        return InventoryChange(path=path, needed=True, kind="retire", lines=(
            f"~ generation {generation}: verify_until {today.isoformat()}, enabled: false "
            f"(compromised: its verification overlap ends now; g{key.generation} stays "
            "current)",), previous=generation), key

    def change(self, key: str, generation: int, today: dt.date) -> InventoryChange:
        """What would be written (the file is only read)."""
        return self._decide(key, generation, today)[0]

    def apply(self, key: str, generation: int, today: dt.date) -> InventoryChange:
        """Write it: `rotate_file` for the current generation, else end the overlap."""
        change, _ = self._decide(key, generation, today)
        if change.kind == "rotate":
            rotate_file(self.path, key, Reason.COMPROMISE, today)
        elif change.kind == "retire":
            _retire_file(self.path, key, generation, today)
        return change


def _retire_file(path: Path, key_name: str, generation: int, today: dt.date) -> None:
    """End a verify-only generation today (verify_until, enabled: false), comments kept;
    validated with the loader before the file is replaced, as `rotate_file` does."""
    text = path.read_text(encoding="utf-8")
    yaml, data = _load_round_trip(text)
    node = _key_node(data, key_name)
    for entry in node.get("generations") or []:
        if entry.get("generation") == generation:
            if "verify_until" in entry:
                entry["verify_until"] = today
            else:
                pos = list(entry).index("created_on") + 1 if "created_on" in entry else len(entry)
                entry.insert(pos, "verify_until", today)
            entry["enabled"] = False
            entry.yaml_add_eol_comment("compromised: keyplane incident", "enabled")
    new_text = _dump(yaml, data)
    _, problems = load_text(new_text, path)
    if problems:
        raise InventoryError(problems)
    write_atomic(path, new_text)


# --- certificates ------------------------------------------------------------------------------


class NoCertificateInventory:
    """The certificate inventory is not available to this run: the step says how to get it."""

    def __init__(self, env: str) -> None:
        self.env = env

    def for_generation(self, env: str, key: str, generation: int) -> list[CertRef]:
        """Always unavailable, with the command that lists them."""
        raise CertificatesUnavailable(f"certificate inventory not available: run `keyplane "
                                      f"certs {self.env}` and revoke every certificate it "
                                      f"matches to {key}@g{generation}")


class CertsInventory:
    """The certificates `keyplane certs` finds (files, ACM, ACM Private CA) and matches to
    generations by the SHA-256 of their public key: the same reads and the same matching,
    asked for one generation. Read once, when the plan is made, before anything is disabled
    (a disabled key's public key can no longer be read)."""

    def __init__(self, environment: Environment, *, aws: Any, opts: Any,
                 now: Callable[[], float]) -> None:
        self._env = environment
        self._aws = aws
        self._opts = opts
        self._now = now

    def for_generation(self, env: str, key: str, generation: int) -> list[CertRef]:
        """The certificates bound to `key@g<generation>`; CertificatesUnavailable (with what
        was found) when no key declares certificates or a source or public key was unread."""
        from keyplane.certs.sources import collect_files
        from keyplane.commands.certs import judge_certificates

        label = f"{key}@g{generation}"
        if not any(k.certificates for k in self._env.keys):
            raise CertificatesUnavailable(
                f"no key of {env} declares where its certificates live (`certificates:` in the "
                f"inventory): find the certificates bound to {label} by its public key, or "
                f"declare them and run `keyplane certs {env}`")
        at = dt.datetime.fromtimestamp(self._now(), tz=dt.UTC)
        try:
            files = collect_files(self._env)
            report = judge_certificates(self._env, files, aws=self._aws, opts=self._opts,
                                        at=at, started_at=at)
        except KeyplaneError as exc:
            raise CertificatesUnavailable(f"the certificate inventory cannot be read "
                                          f"({exc.code}: {exc.message}); run `keyplane certs "
                                          f"{env}`") from None
        found = [CertRef(source=f"{c['source']} {c['id']}", subject=str(c["subject"]),
                         serial=str(c["serial"]), not_after=c.get("not_after"),
                         fingerprint_sha256=c.get("spki_sha256"))
                 for c in report.certificates
                 if c.get("key") == key and c.get("generation") == generation]
        gaps = sorted({f.reason for f in report.unknowns})
        if gaps:
            more = f" (and {len(gaps) - 3} more)" if len(gaps) > 3 else ""
            raise CertificatesUnavailable(f"the certificate inventory is incomplete: "
                                          f"{'; '.join(gaps[:3])}{more}; run `keyplane certs "
                                          f"{env}`", found=found)
        return found


# --- the command -------------------------------------------------------------------------------


def _confirm(label: str, yes: bool) -> None:
    """--yes, or the generation's name typed at a terminal; NotConfirmedError otherwise."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmedError(f"--execute disables {label} and changes the inventory: confirm "
                                "with --yes, or run it at a terminal to type the generation's "
                                "name")
    typed = click.prompt(f"type {label} to disable it and continue", default="",
                         show_default=False, err=True)
    if typed.strip() != label:
        raise NotConfirmedError(f"confirmation {typed.strip()!r} is not {label}: nothing was "
                                "changed")


def _check_options(execute: bool, yes: bool, mfa_serial: str | None, mfa_token: str | None
                   ) -> None:
    from keyplane.cloud.aws.incident import MFA_SERIAL, MFA_TOKEN  # lazily: boto3

    if yes and not execute:
        raise IncidentInputError("--yes confirms an --execute; a dry run needs none")
    if mfa_token is not None and not execute:
        raise IncidentInputError("--mfa-token is used by --execute only (a code is good once); "
                                 "a dry run needs none")
    if (mfa_serial is None) != (mfa_token is None) and execute:
        raise IncidentInputError("--mfa-serial and --mfa-token go together, got only "
                                 f"{'--mfa-serial' if mfa_serial else '--mfa-token'}")
    if mfa_serial is not None and not MFA_SERIAL.match(mfa_serial):
        raise IncidentInputError(f"--mfa-serial must be an MFA device ARN or serial number "
                                 f"(9-256 of letters, digits and +=/:,.@-), got {mfa_serial!r}")
    if mfa_token is not None and not MFA_TOKEN.match(mfa_token):
        raise IncidentInputError("--mfa-token must be the six digits the MFA device shows")


def _trail_unavailable(project: str, why: str
                       ) -> Callable[[list[DeployedKey], dt.datetime], str]:
    """Why the audit trail of a Cloud KMS key cannot be queried here (`why`), and the Cloud
    Logging query to run instead."""
    from keyplane.cloud.gcp.incident import audit_log_query

    def unavailable(keys: list[DeployedKey], since: dt.datetime) -> str:
        query = audit_log_query(project, [k.ref for k in keys], iso(since))
        return f"{why}; list the version's uses in Cloud Logging: {query}"

    return unavailable


def _gcp_trail(gcp_plan: Any, config: Any
               ) -> tuple[Any, Callable[[list[DeployedKey], dt.datetime], str] | None]:
    """Cloud Audit Logs where the desired state turns Cloud KMS's Data Access logs on (else
    an empty answer would read as "nobody used the version"); otherwise, or when Cloud
    Logging cannot be set up, why not and the query to run."""
    from keyplane.cloud.gcp.incident import CloudAuditLogs, build_logging_client

    audit = gcp_plan.audit
    if audit is None or "DATA_READ" not in audit.data_access_log_types:
        highest = f"its highest GCP tier is {audit.tier.value}" if audit is not None else \
            "it declares no GCP key"
        return None, _trail_unavailable(gcp_plan.project, (
            f"Cloud KMS Data Access logs are off in {gcp_plan.project}: keyplane's GCP stack "
            f"turns them on for environments with a ca or production key on GCP, and {highest}; "
            "Cloud Logging holds no record of the version's uses unless they were turned on "
            "outside keyplane"))
    try:
        client = build_logging_client(config)
    except KeyplaneError as exc:
        return None, _trail_unavailable(gcp_plan.project, f"Cloud Logging cannot be set up "
                                                          f"({exc.message})")
    return CloudAuditLogs(client, config), None


@click.command("incident")
@click.argument("env")
@click.argument("key_ref", metavar="KEY@gN")
@click.option("--reason", required=True,
              help="Why the generation is compromised (kept in the journal, the record and the "
                   "audit events; at most 500 characters).")
@click.option("--since", help="Start of the exposure window, yyyy-mm-dd or an RFC 3339 time "
                              "(default: the generation's created_on); it ends now.")
@click.option("--execute", is_flag=True,
              help="Act (default: a dry run that prints the plan and changes nothing).")
@click.option("--yes", is_flag=True, help="Confirm --execute without a prompt.")
@click.option("--break-glass-role-arn",
              help="The role the disable and revoke steps act as (default: the environment's "
                   "keyplane-<env>-break-glass).")
@click.option("--mfa-serial", help="The MFA device (ARN or serial) the break-glass role's trust "
                                   "policy requires.")
@click.option("--mfa-token", help="The six-digit MFA code (good for one --execute).")
@click.option("--max-events", type=click.IntRange(1, 1_000_000), default=MAX_EVENTS_DEFAULT,
              show_default=True, help="At most this many audit-trail events in the record.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the plan or record to this file (atomically) instead of stdout.")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the inventory is.")
@click.option("--evidence-location",
              help="Where the record and the journal go (a directory or s3:// URI; default: "
                   "the inventory's evidence_location, as drills).")
@connection_options("GCP project the credentials act in (default: the environment's).")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@audit_options
def incident(env: str, key_ref: str, reason: str, since: str | None, execute: bool, yes: bool,
             break_glass_role_arn: str | None, mfa_serial: str | None, mfa_token: str | None,
             max_events: int, fmt: str, output: Path | None, environments_dir: Path,
             evidence_location: str | None, profile: str | None, endpoint_url: str | None,
             gcp_endpoint: str | None, gcp_project: str | None, use_sandbox: bool,
             sandbox_state_file: Path | None, max_attempts: int, retry_mode: str, quiet: bool,
             audit_log: Path, audit_cloudwatch_log_group: str | None,
             audit_cloud_logging_log: str | None) -> None:
    """Respond to the compromise of ENV's KEY@gN: disable it, revoke its grants, list who used
    it and what must be re-signed or re-encrypted, list its certificates, write the rotation.

    Without --execute, prints the numbered plan and changes nothing. With --execute --yes, acts
    through the break-glass role (MFA: --mfa-serial/--mfa-token), journals every step (a killed
    run is resumed by the next --execute) and writes the incident record where drill evidence
    goes. Exit 0 done or dry run, 1 the deployed key is not provably the generation's, 2 bad
    input or refused, 3 a step failed (run --execute again) or another run holds the lock.
    """
    set_format(fmt)
    run_id = new_run_id(dt.datetime.fromtimestamp(clock(), tz=dt.UTC))
    # refusals before any cloud client exists go to the local log (and Cloud Logging)
    audit = build_audit_log(command="incident", audit_log=audit_log,
                            audit_cloud_logging_log=audit_cloud_logging_log,
                            gcp_endpoint=gcp_endpoint, run_id=run_id)
    state: dict[str, Any] = {"audit": audit, "label": key_ref, "env": env}
    try:
        _run(state, env=env, key_ref=key_ref, reason=reason, since=since, execute=execute,
             yes=yes, break_glass_role_arn=break_glass_role_arn, mfa_serial=mfa_serial,
             mfa_token=mfa_token, max_events=max_events, fmt=fmt, output=output,
             environments_dir=environments_dir, evidence_location=evidence_location,
             profile=profile, endpoint_url=endpoint_url, gcp_endpoint=gcp_endpoint,
             gcp_project=gcp_project, use_sandbox=use_sandbox,
             sandbox_state_file=sandbox_state_file, max_attempts=max_attempts,
             retry_mode=retry_mode, quiet=quiet, audit_log=audit_log,
             audit_cloudwatch_log_group=audit_cloudwatch_log_group,
             audit_cloud_logging_log=audit_cloud_logging_log, run_id=run_id)
    except KeyplaneError as exc:
        if not getattr(exc, "audited", False):
            _refused(state["audit"], state, exc)
        raise


def _refused(audit: AuditLog, state: dict[str, Any], exc: KeyplaneError) -> None:
    """Every refusal is an audit event, where the sink can be written."""
    with contextlib.suppress(AuditSinkError):
        audit.emit(action="incident.refused", outcome="refused", environment=state["env"],
                   resource=state["label"], reason=f"{exc.code}: {exc.message}")


def _run(state: dict[str, Any], *, env: str, key_ref: str, reason: str, since: str | None,
         execute: bool, yes: bool, break_glass_role_arn: str | None, mfa_serial: str | None,
         mfa_token: str | None, max_events: int, fmt: str, output: Path | None,
         environments_dir: Path, evidence_location: str | None, profile: str | None,
         endpoint_url: str | None, gcp_endpoint: str | None, gcp_project: str | None,
         use_sandbox: bool, sandbox_state_file: Path | None, max_attempts: int, retry_mode: str,
         quiet: bool, audit_log: Path, audit_cloudwatch_log_group: str | None,
         audit_cloud_logging_log: str | None, run_id: str) -> None:
    """Everything after the first audit log: inputs, reads, the plan, and the run."""
    from keyplane.cloudcall import CloudCallError, Throttled
    from keyplane.commands.cloud_wiring import (
        CloudOptions,
        build_aws_clients,
        require_credentials,
    )
    from keyplane.commands.drill import _evidence
    from keyplane.incident.journal import IncidentJournal
    from keyplane.incident.render import text
    from keyplane.incident.runner import IncidentContext, IncidentPorts, dry_run, plan_record
    from keyplane.incident.runner import execute as run_incident

    # every input first: nothing reaches a cloud before all of it is known to be good
    reason = check_reason(reason)
    _check_options(execute, yes, mfa_serial, mfa_token)
    environment = load_targets([env], environments_dir).environments[0]
    if evidence_location:
        environment = environment.model_copy(update={"evidence_location": evidence_location})
    key, gen = resolve(environment, key_ref)
    window_since = parse_since(since, dt.datetime.fromtimestamp(clock(), tz=dt.UTC)) \
        if since is not None else None
    label = f"{key.name}@g{gen.generation}"
    state["label"] = label
    env_path = Path(environment.source_file) if environment.source_file else \
        environments_dir / f"{environment.name}.yaml"
    if use_sandbox:
        from keyplane.commands.post_apply import sandbox_endpoints

        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    where = environment.evidence_location or f"./evidence/{environment.name}"
    opts = CloudOptions(profile=profile, endpoint_url=endpoint_url, gcp_endpoint=gcp_endpoint,
                        gcp_project=gcp_project, retry_mode=retry_mode,
                        max_attempts=max_attempts,
                        skip_aws=key.cloud is not Cloud.AWS and not where.startswith("s3://"),
                        skip_gcp=key.cloud is not Cloud.GCP)
    require_credentials(environment, opts)
    aws: Any = None
    home = environment.aws.region if environment.aws is not None else None
    if environment.aws is not None and not opts.skip_aws:
        aws = build_aws_clients(account_id=environment.aws.account_id,
                                region=environment.aws.region, opts=opts,
                                environment=environment)
    actor = None
    if aws is not None:
        from keyplane.cloud.aws.incident import caller

        try:
            actor = caller(aws)
        except CloudCallError as exc:
            raise IncidentCloudError(f"cannot tell who this run is (sts:GetCallerIdentity): "
                                     f"{exc.describe()}", transient=isinstance(exc, Throttled)
                                     ) from None
    audit = build_audit_log(command="incident", audit_log=audit_log,
                            audit_cloudwatch_log_group=audit_cloudwatch_log_group,
                            audit_cloud_logging_log=audit_cloud_logging_log,
                            logs_client=(lambda: aws.client("logs", home))
                            if aws is not None else None,
                            gcp_endpoint=gcp_endpoint, actor=actor, run_id=run_id)
    state["audit"] = audit
    audit.ensure_writable()  # no incident goes unrecorded (fail closed)
    evidence_store, journal_store, local_root = _evidence(environment, aws)
    del evidence_store  # the drills' records: the incident writes its own beside them
    if where.startswith("s3://"):
        from keyplane.cloud.aws.incident import S3IncidentStore

        store: Any = S3IncidentStore(aws.client("s3", home), where)
    else:
        from keyplane.incident.store import LocalIncidentStore

        store = LocalIncidentStore(Path(where))
    if execute:  # fail closed before anything is read or assumed: no unrecorded incident
        store.ensure_writable()

    acting, kms, trail, trail_unavailable, role = _adapters(
        environment, key, aws=aws, actor=actor, opts=opts, endpoint_url=endpoint_url,
        break_glass_role_arn=break_glass_role_arn, mfa_serial=mfa_serial, run_id=run_id)
    if execute and role is not None and (mfa_serial is None or mfa_token is None):
        raise BreakGlassError(f"the break-glass role {role} requires MFA (its trust policy sets "
                              "aws:MultiFactorAuthPresent): give --mfa-serial and --mfa-token; "
                              "nothing was changed")
    journal = IncidentJournal(journal_store, key=key.name, generation=gen.generation,
                              run_id=run_id, clock=clock)
    try:
        opened = journal.open_incident()
        plan = make_plan(environment, key, gen, reason=reason, since=window_since, now=clock,
                         kms=kms, trail=trail, trail_unavailable=trail_unavailable,
                         certificates=CertsInventory(environment, aws=aws,
                                                     opts=opts if key.cloud is Cloud.GCP
                                                     else None, now=clock),
                         inventory=YamlInventory(env_path), acting=acting,
                         evidence_where=store.where, max_events=max_events, resume=opened,
                         account_id=environment.aws.account_id
                         if environment.aws is not None and key.cloud is Cloud.AWS else None)
    except CloudCallError as exc:
        needs = ("kms:ListKeys, kms:ListResourceTags, kms:DescribeKey and kms:ListGrants"
                 if key.cloud is Cloud.AWS else "cloudkms.cryptoKeys.get and "
                 "cloudkms.cryptoKeyVersions.list")
        raise IncidentCloudError(f"cannot read {label}: {exc.describe()}: "
                                 f"{exc.message or exc.code} (the plan needs {needs}); nothing "
                                 "was changed", transient=isinstance(exc, Throttled)) from None
    progress = (lambda _: None) if quiet else (lambda line: click.echo(f"  .. {line}", err=True))
    ctx = IncidentContext(run_id=run_id, actor=actor or audit.actor, audit=audit, clock=clock,
                          progress=progress)
    if not execute:
        doc = dry_run(ctx, plan)
        deliver(to_json(doc) if fmt == "json" else text(doc, plan), output)
        return
    if not yes and not quiet:  # what the confirmation is asked for
        click.echo(text(plan_record(ctx, plan), plan), err=True, nl=False)
    _confirm(label, yes)
    if role is not None:  # the break-glass role, assumed only now (an MFA code is good once)
        from keyplane.cloud.aws.incident import AwsIncidentKms, assume_break_glass

        assert environment.aws is not None and mfa_serial is not None and mfa_token is not None
        actor_clients = assume_break_glass(aws, role_arn=role, session_name=acting.session_name
                                           or f"kp-incident-{run_id}"[:64],
                                           mfa_serial=mfa_serial, mfa_token=mfa_token)
        kms = AwsIncidentKms(aws, environment.aws.region, actor=actor_clients)
    elif key.cloud is Cloud.AWS:  # the sandbox's per-account credentials act themselves
        from keyplane.cloud.aws.incident import AwsIncidentKms

        assert environment.aws is not None
        kms = AwsIncidentKms(aws, environment.aws.region, actor=aws)
    from keyplane.drills.lock import FileLock

    lock: Any = FileLock((local_root or Path(".keyplane")) / ".locks")
    if aws is not None and key.cloud is Cloud.AWS:
        from keyplane.cloud.aws.drills import DynamoDbLock

        lock = DynamoDbLock(aws, home or "us-east-1")
    ports = IncidentPorts(kms=kms, trail=trail, inventory=YamlInventory(env_path), store=store,
                          journal_store=journal_store, lock=lock)
    result = run_incident(ctx, plan, ports)
    deliver(to_json(result.record) if fmt == "json" else text(result.record, plan, result.where),
            output)
    click.echo(f"keyplane: incident record written to {result.where}", err=True)
    sys.exit(result.exit_code)


def _adapters(environment: Environment, key: KeyDecl, *, aws: Any, actor: str | None,
              opts: Any, endpoint_url: str | None, break_glass_role_arn: str | None,
              mfa_serial: str | None, run_id: str
              ) -> tuple[Acting, Any, Any, Any, str | None]:
    """(who acts, the KMS adapter for reads, the audit trail, why it is unavailable, the
    break-glass role to assume at --execute or None)."""
    from keyplane.sandbox.credentials import is_loopback

    if key.cloud is Cloud.GCP:
        from keyplane.cloud.gcp.client import GcpConfig, build_client
        from keyplane.cloud.gcp.incident import GcpIncidentKms
        from keyplane.desired.gcp import plan_environment

        assert environment.gcp is not None
        config = GcpConfig(project=opts.gcp_project or environment.gcp.project_id,
                           endpoint=opts.gcp_endpoint)
        gcp_plan = plan_environment(environment)  # the desired state: where each key lives
        crypto_keys = {k.name: k.resource_name(gcp_plan.project) for k in gcp_plan.keys}
        who = ", ".join(environment.principals.break_glass.gcp) or "the break-glass identity"
        acting = Acting(principal="the run's Google credentials", assumed=False,
                        how=f"Cloud KMS has no role to assume: run it as {who}")
        trail, trail_unavailable = _gcp_trail(gcp_plan, config)
        return (acting, GcpIncidentKms(build_client(config), config, crypto_keys), trail,
                trail_unavailable, None)
    from keyplane.cloud.aws.incident import AwsIncidentKms, CloudTrailEventHistory

    assert environment.aws is not None and aws is not None
    account = environment.aws.account_id
    role = break_glass_role_arn or names.role_arn(
        names.partition_of(environment.aws.region), account,
        names.role_name(environment.name, ROLE_BREAK_GLASS))
    kms = AwsIncidentKms(aws, environment.aws.region)
    trail = CloudTrailEventHistory(aws)
    session = f"kp-incident-{run_id}"[:64]
    sandbox_own = is_loopback(endpoint_url) and break_glass_role_arn is None \
        and mfa_serial is None
    if sandbox_own:
        acting = Acting(principal=actor or "the run's credentials", assumed=False,
                        how=f"sandbox: the account's own credentials; --break-glass-role-arn or "
                            f"--mfa-serial/--mfa-token assume {role}")
        return acting, kms, trail, None, None
    how = (f"assumed with MFA {mfa_serial}, session {session}" if mfa_serial else
           "assumed with MFA at --execute: --mfa-serial and --mfa-token")
    acting = Acting(principal=role, assumed=True, how=how, mfa_serial=mfa_serial,
                    session_name=session)
    return acting, kms, trail, None, role
