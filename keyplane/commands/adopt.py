"""`keyplane adopt ENV`: the keys keyplane does not manage, as entries whose first plan imports them.

Reads the environment's account and project as `keyplane discover` does (the same collector,
readers and identity check; read-only), maps every unmanaged key to an inventory entry with
an `adopt` block (`keyplane.adopt`), checks each entry with the inventory's own loader and
the desired state (an entry either would refuse is not offered), and prints the entries and
the in-place changes their tiers demand. `--write` appends them to `environments/ENV.yaml`
in place, comments kept, atomically, and only when the whole file still loads.

Exit 0 nothing to adopt, 1 keys to adopt (or to review), 2 bad input, 3 a read failed (the
entries of what was read are shown; nothing is written).
"""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from keyplane.adopt.errors import ENTRIES_REFUSED, NOT_WRITTEN_INCOMPLETE
from keyplane.commands.post_apply import _actor, cloud_options, sandbox_endpoints
from keyplane.errors import KeyplaneError, Problem
from keyplane.model.loader import load_targets, load_text, resolve_targets
from keyplane.model.specs import Cloud
from keyplane.output import deliver, set_format, to_json, write_atomic

FORMATS = ("text", "json")
MAX_ROUNDS = 20  # entries refused together are dropped and the rest re-checked


def _options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The cloud options of `keyplane discover`, without the report-only ones."""
    opts = [
        click.option("--cloud", type=click.Choice(["aws", "gcp"]), default=None,
                     help="Read one cloud only (default: every cloud the environment has)."),
        click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
                     help="Parallel reads."),
        click.option("--synth-dir", type=click.Path(path_type=Path, file_okay=False),
                     default=Path("cdktf.out"), show_default=True,
                     help="Where `keyplane synth` wrote the stacks (of the keys declared so "
                          "far; an environment without keys needs none)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return cloud_options(fn, FORMATS)


@click.command("adopt")
@_options
@click.option("--tier-rule", "tier_rules", multiple=True, metavar="TAG=VALUE:TIER",
              help="Keys tagged (gcp: labelled) TAG=VALUE get TIER (repeatable; rules that "
                   "disagree take the stricter tier and mark the key for review).")
@click.option("--alias-prefix", "alias_prefixes", multiple=True, metavar="PREFIX:TIER",
              help="AWS keys with an alias starting with PREFIX get TIER (repeatable).")
@click.option("--default-tier", help="The tier of keys no rule matches (default: keyplane's "
                                     "suggestion, marked for review).")
@click.option("--owner", help="The owner written on every adopted entry (required for ca and "
                               "production keys; default: each key's own `owner` tag or label).")
@click.option("--escrow", "escrows", multiple=True, metavar="KEY=LOCATION:WRAPPING_KEY",
              help="The encrypted escrow copy of an imported key (KEY: its entry name or key "
                   "id); imported keys are not adopted without one.")
@click.option("--write", is_flag=True,
              help="Append the entries to the environment file (comments kept; review with "
                   "`git diff`).")
def adopt(**kwargs: Any) -> None:
    """Turn the keys of ENV's account and project that keyplane does not manage into
    inventory entries whose first plan imports them (and replaces none).

    Prints the entries and the in-place changes each tier demands; --write appends them to
    the environment file. Exit 0 nothing to adopt, 1 keys to adopt or review, 2 bad input,
    3 a read failed (nothing is written).
    """
    run_adopt(**kwargs)


def run_adopt(*, env: str, environments_dir: Path, fmt: str, output: Path | None,
              regions: tuple[str, ...], profile: str | None, endpoint_url: str | None,
              gcp_endpoint: str | None, gcp_project: str | None, use_sandbox: bool,
              sandbox_state_file: Path | None, max_attempts: int, retry_mode: str,
              quiet: bool, audit_log: Path, audit_cloudwatch_log_group: str | None,
              audit_cloud_logging_log: str | None, cloud: str | None, concurrency: int,
              synth_dir: Path, tier_rules: tuple[str, ...], alias_prefixes: tuple[str, ...],
              default_tier: str | None, escrows: tuple[str, ...], write: bool,
              owner: str | None = None) -> None:
    """Parse, read, map, check, print (and write); exits with the command's code."""
    set_format(fmt)
    from keyplane.adopt.rules import TierRules, parse_escrow
    from keyplane.commands.audit_wiring import build_audit_log
    from keyplane.commands.cloud_wiring import (
        CloudOptions,
        aws_clients,
        aws_readers,
        gcp_reader,
        require_credentials,
    )
    from keyplane.postapply.collect import Collector, Facet
    from keyplane.postapply.expected import expected_state
    from keyplane.postapply.match import match
    from keyplane.postapply.run import check_identity
    from keyplane.postapply.stack import load_environment_stacks

    # every input is checked before anything is read
    rules = TierRules.parse(tier_rules, alias_prefixes, default_tier)
    escrow = parse_escrow(escrows)
    (path,) = resolve_targets([env], environments_dir)
    full = load_targets([env], environments_dir).environments[0]
    reading = full
    if cloud is not None:
        chosen = Cloud(cloud)
        other = Cloud.GCP if chosen is Cloud.AWS else Cloud.AWS
        if getattr(full, chosen.value) is None:
            raise KeyplaneError(f"environment '{full.name}' has no {cloud} section",
                                code="KP002")
        reading = full.model_copy(update={"keys": full.keys_on(chosen), other.value: None})
    if use_sandbox:
        sb_aws, sb_gcp = sandbox_endpoints(sandbox_state_file)
        endpoint_url = endpoint_url or sb_aws
        gcp_endpoint = gcp_endpoint or sb_gcp
    state = expected_state(reading, load_environment_stacks(reading, synth_dir))
    opts = CloudOptions(regions=regions, profile=profile, endpoint_url=endpoint_url,
                        gcp_endpoint=gcp_endpoint, gcp_project=gcp_project,
                        retry_mode=retry_mode, max_attempts=max_attempts,
                        concurrency=concurrency)
    require_credentials(reading, opts)
    aws = aws_readers(state, opts)
    gcp = gcp_reader(state, opts)
    home = reading.aws.region if reading.aws is not None else None
    audit = build_audit_log(
        command="adopt", audit_log=audit_log,
        audit_cloudwatch_log_group=audit_cloudwatch_log_group,
        audit_cloud_logging_log=audit_cloud_logging_log,
        logs_client=(lambda: aws_clients(state, opts).client("logs", home)) if home else None,
        actor=_actor(aws))
    audit.ensure_writable()  # an unrecorded run does not happen
    audit.emit(action="adopt", outcome="started", environment=full.name,
               details={"regions": sorted(aws), "write": write})
    started = time.monotonic()
    if not quiet:
        click.echo(f"keyplane: adopt {full.name}: reading "
                   f"{' and '.join(c for c, on in (('aws', aws), ('gcp', gcp)) if on)}",
                   err=True)
    check_identity(state, aws, gcp)
    needs = {Facet.TAGS, Facet.ALIASES, Facet.ROTATION, Facet.KEY_STORES, Facet.ROLES,
             Facet.GCP_VERSIONS}
    observed = Collector(state=state, aws=aws, gcp=gcp, needs=needs,
                         concurrency=concurrency).run()
    matched = match(state, observed)
    from keyplane.adopt.mapping import plan_adoption

    plan = plan_adoption(state=dataclasses.replace(state, env=full), observed=observed,
                         matched=matched, rules=rules, escrow=escrow, owner=owner)
    text = path.read_text(encoding="utf-8")
    new_text = _checked(plan, text, path, observed.roles, full)
    unknowns = [f"{u.resource}: {u.reason}" for u in observed.unknowns]
    if observed.stopped:
        unknowns.append(observed.stopped)
    incomplete = bool(unknowns)
    written: Path | None = None
    if write and new_text is not None and not incomplete:
        write_atomic(path, new_text)
        written = path
    code = 3 if incomplete else (1 if plan.keys or plan.roles or plan.role_notes else 0)
    if fmt == "json":
        body = to_json(_as_json(plan, written, unknowns, code))
    else:
        body = _as_text(plan, text, new_text, written, unknowns, write)
    deliver(body, output)
    if write and new_text is not None and incomplete:
        click.echo(f"keyplane: error {NOT_WRITTEN_INCOMPLETE}: {len(unknowns)} read(s) failed; "
                   f"{path} was not "
                   "written (an incomplete read could adopt a key half)", err=True)
    elif written is not None:
        click.echo(f"keyplane: wrote {written} (review it with `git diff {written}`)", err=True)
    outcome = {3: "unknown", 1: "finding", 0: "ok"}[code]
    audit.emit(action="adopt", outcome=outcome, environment=full.name,
               reason=f"{len(plan.writable)} key(s) to adopt, "
                      f"{len(plan.keys) - len(plan.writable)} refused, {len(plan.roles)} role(s) "
                      f"imported, {len(unknowns)} read(s) failed"
                      + (f"; wrote {written}" if written else ""),
               duration_ms=int((time.monotonic() - started) * 1000))
    for u in observed.unknowns:
        audit.emit(action="adopt", outcome="unknown", environment=full.name,
                   resource=u.resource, reason=u.reason)
    sys.exit(code)


# ---- checking the entries with the inventory's own loader and the desired state -------------


def _round_trip(text: str) -> tuple[Any, Any]:
    from keyplane.commands.rotate import _load_round_trip

    return _load_round_trip(text)


def _dump(yaml: Any, data: Any) -> str:
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def _entry_node(adoption: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap

    node = CommentedMap()
    for k, v in (adoption.entry or {}).items():
        node[k] = v
    return node


def _with_entries(text: str, adoptions: Iterable[Any], roles: list[str],
                  role_policies: list[str]) -> str:
    """`text` with the entries appended to `keys` (each with a comment saying where it comes
    from and why it has its tier) and the existing roles added to `adopt`."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml, data = _round_trip(text)
    keys = data.get("keys")
    if not isinstance(keys, CommentedSeq):
        keys = CommentedSeq()
        data["keys"] = keys
    for a in adoptions:
        keys.append(_entry_node(a))
        lines = _comment(a)
        keys.yaml_set_comment_before_after_key(len(keys) - 1, before="\n".join(lines), indent=2)
    if roles:
        section = data.get("adopt")
        if not isinstance(section, CommentedMap):
            section = CommentedMap()
            data["adopt"] = section
        for fld, names_ in (("aws_roles", roles), ("aws_role_policies", role_policies)):
            have = list(section.get(fld) or [])
            extra = [n for n in names_ if n not in have]
            if extra:
                section[fld] = have + extra
    return _dump(yaml, data)


def _comment(a: Any) -> list[str]:
    """The comment above an adopted entry: where it comes from, why its tier, what to review."""
    tier = a.tier.value if a.tier else "?"
    lines = [f"adopted: {a.resource}",
             f"tier {tier}: {a.why}" + ("" if not a.review else " (review: confirm the tier, "
                                                                 "then remove `review: true`)")]
    return lines + [f"review: {r}" for r in a.reasons]


def _desired_problem(env: Any) -> str | None:
    """What the desired state refuses in `env` (plans of both clouds), or None."""
    from keyplane.desired import aws as desired_aws
    from keyplane.desired import gcp as desired_gcp

    try:
        if env.aws is not None and env.keys_on(Cloud.AWS):
            desired_aws.plan_environment(env)
        if env.gcp is not None and env.keys_on(Cloud.GCP):
            desired_gcp.plan_environment(env)
    except KeyplaneError as exc:
        return f"{exc.code} {exc.message}"
    return None


def _refusal(text: str, path: Path, entries: list[Any]) -> tuple[str | None, list[Problem]]:
    """Why the file with `entries` added would not load or plan (None: it would), and the
    loader's problems."""
    env, problems = load_text(_with_entries(text, entries, [], []), path)
    if env is None:
        return "; ".join(f"{p.code} {p.message}" + (f" ({p.path})" if p.path else "")
                         for p in problems), problems
    refusal = _desired_problem(env)
    return (f"keyplane cannot plan it: {refusal}" if refusal else None), []


def _checked(plan: Any, text: str, path: Path, observed_roles: Any, base: Any) -> str | None:
    """Refuse (block) every entry the loader or the desired state refuses, find the keyplane
    roles that exist already, and return the file with the rest added (None: nothing to add).

    The entries are checked together (an escrow copy may name another adopted key); a
    problem located at an entry refuses that entry, and one that is not is traced to the
    entries whose removal makes it go away."""
    from keyplane.adopt.mapping import existing_roles
    from keyplane.desired import aws as desired_aws

    for _ in range(MAX_ROUNDS):
        offered = plan.writable
        if not offered:
            break
        why, problems = _refusal(text, path, offered)
        if why is None:
            break
        by_name = {a.name: a for a in offered}
        located = [(by_name[n], p) for p in problems if (n := _key_name(p)) in by_name]
        for a, p in located:
            a.block(f"the inventory refuses it: {p.code} {p.message}"
                    + (f" ({p.path})" if p.path else ""))
        if located:
            continue
        culprits = [a for a in offered
                    if _refusal(text, path, [b for b in offered if b is not a])[0] is None]
        if not culprits:
            raise KeyplaneError(f"{path} does not load or plan with the adopted entries: "
                                f"{why}", code=ENTRIES_REFUSED)
        for a in culprits:
            a.block(why if why.startswith("keyplane cannot") else
                    f"the inventory refuses it: {why}")
    offered = plan.writable
    env, problems = load_text(_with_entries(text, offered, [], []), path)
    if env is None:
        raise KeyplaneError(f"{path} does not load with the adopted entries: "
                            f"{problems[0].render() if problems else '?'}", code=ENTRIES_REFUSED)
    if env.aws is not None and env.keys_on(Cloud.AWS) and observed_roles is not None:
        known = set(base.adopt.aws_roles) if base.adopt else set()
        roles, policies, notes = existing_roles(observed_roles,
                                                desired_aws.plan_environment(env).iam,
                                                env.name)
        plan.roles = [r for r in roles if r not in known]
        plan.role_policies = [r for r in policies if r not in known]
        plan.role_notes = [n for n in notes if not any(f"role {r} " in n for r in known)]
    if not offered and not plan.roles:
        return None
    new_text = _with_entries(text, offered, plan.roles, plan.role_policies)
    env, problems = load_text(new_text, path)
    refusal = _desired_problem(env) if env is not None else None
    if env is None or refusal is not None:
        raise KeyplaneError(f"{path} does not plan with the adopted entries: "
                            f"{problems[0].render() if problems else refusal}", code=ENTRIES_REFUSED)
    return new_text


def _key_name(problem: Problem) -> str | None:
    """The name of the key a loader problem is about (`keys[name].adopt...`), if any."""
    where = problem.path or ""
    if not where.startswith("keys["):
        return None
    return where[len("keys["):].split("]", 1)[0]


# ---- output --------------------------------------------------------------------------------


def _as_json(plan: Any, written: Path | None, unknowns: list[str], code: int) -> dict[str, Any]:
    keys = []
    for a in plan.keys:
        d = a.to_dict()
        d["written"] = written is not None and a.writable
        keys.append(d)
    return {"command": "adopt", "environment": plan.env, "exit_code": code,
            "written": str(written) if written else None, "keys": keys,
            "roles": {"imported": plan.roles, "inline_policies_imported": plan.role_policies,
                      "notes": plan.role_notes},
            "notes": plan.notes, "unknowns": unknowns}


def _as_text(plan: Any, text: str, new_text: str | None, written: Path | None,
             unknowns: list[str], write: bool) -> str:
    out: list[str] = []
    ok = plan.writable
    blocked = [a for a in plan.keys if not a.writable]
    out.append(f"keyplane adopt {plan.env}: {len(ok)} key(s) to adopt "
               f"({sum(1 for a in ok if a.review)} to review), {len(blocked)} refused, "
               f"{len(plan.roles)} existing keyplane role(s) to import")
    for a in plan.keys:
        mark = "!" if not a.writable else ("?" if a.review else "+")
        tier = a.tier.value if a.tier else "?"
        out.append("")
        out.append(f"{mark} {a.name} ({a.cloud.value}, {tier}) <- {a.resource}")
        out.append(f"    tier: {a.why}")
        if a.blocked:
            out.append(f"    refused: {a.blocked}")
        for r in a.reasons:
            out.append(f"    review: {r}")
        if a.writable:
            out += [f"    import: {i}" for i in a.imports]
            out += [f"    create: {c}" for c in a.creates]
            out += [f"    update in place: {c}" for c in a.changes]
            out += [f"    left alone: {x}" for x in a.left]
    for note in plan.role_notes:
        out.append(f"= {note}")
    for note in plan.notes:
        out.append(f"- {note}")
    for u in unknowns:
        out.append(f"? not read: {u}")
    if new_text is not None:
        out.append("")
        if written is not None:
            out.append(f"written to {written}:")
        elif write:
            out.append("not written (a read failed); the entries would be:")
        else:
            out.append(f"to add to {plan.env}'s environment file (`keyplane adopt ... --write` "
                       "appends them):")
        out.append(_fragment(ok, plan.roles, plan.role_policies).rstrip("\n"))
    refused = [a for a in blocked if a.entry is not None]
    if refused:
        out.append("")
        out.append("refused entries (not written; each needs what `refused:` says first):")
        body = _fragment(refused, [], [])
        out += [f"# {line}" for line in body.rstrip("\n").splitlines()]
    return "\n".join(out) + "\n"


def _fragment(adoptions: list[Any], roles: list[str], role_policies: list[str]) -> str:
    """The entries (and the `adopt` section) as they are written, on their own."""
    return _with_entries("keys:\n" if adoptions else "{}\n", adoptions, roles, role_policies)
