"""The incident record as text: the numbered plan of a dry run, or what a run did.

JSON is the record itself (`keyplane.schema` `incident`); text is for the person at the
terminal: every step numbered with what it will do (or did), the callers found, the
follow-ups, and where the record went.
"""

from __future__ import annotations

from typing import Any

from keyplane.incident.plan import IncidentPlan

_CALLERS_SHOWN = 20


def text(doc: dict[str, Any], plan: IncidentPlan, where: str | None = None) -> str:
    """The record (or a dry run's plan) for a terminal."""
    dry = doc["mode"] == "dry-run"
    head = (f"keyplane incident {doc['environment']} {doc['label']}: "
            + ("DRY RUN, nothing is changed (add --execute to act)" if dry else
               f"incident {doc['incident_id']}, run {doc['run_id']}"))
    lines = [head, f"reason: {doc['reason']}",
             f"key: {doc['label']} ({doc['tier']}, {doc['cloud']}, {plan.key.spec}), "
             + ("the current generation" if doc["current"] else "not the current generation "
                f"(current: g{plan.key.generation})")]
    for k in doc["keys"]:
        lines.append(f"deployed: {k['ref']} ({k['role']}"
                     f"{', ' + k['region'] if k['region'] else ''}, {k['state']})")
    lines.append(f"acting as: {doc['acting_as']['principal']} ({doc['acting_as']['how']})")
    if plan.resume is not None:
        done = ", ".join(sorted(s.value for s in plan.resume.settled)) or "none"
        lines.append(f"resumes incident {plan.resume.incident_id} (runs "
                     f"{', '.join(plan.resume.runs)}; settled steps: {done})")
    lines += [f"warning: {w}" for w in doc["warnings"]]
    lines += [f"note: {n}" for n in doc["notes"]]
    lines.append("")
    for step in doc["steps"]:
        if dry:
            state = f" [{step['outcome']} by run {step['run_id']}]" if step["adopted"] else ""
            lines.append(f"{step['number']}. {step['title']}{state}")
            lines += [f"   {line}" for line in step["plan"]]
        else:
            adopted = f", run {step['run_id']}" if step["adopted"] else ""
            lines.append(f"{step['number']}. {step['title']}: {step['outcome']}{adopted}")
            if step["summary"]:
                lines.append(f"   {step['summary']}")
    n = len(doc["steps"]) + 1
    if dry:
        lines.append(f"{n}. write the incident record to {plan.evidence_where} and journal "
                     "every step (a killed run is resumed by the next --execute)")
    rows = doc["callers"]
    if rows:
        lines += ["", "callers in the exposure window (principal, operation, successful/refused, "
                      "first .. last, what it means):"]
        for r in rows[:_CALLERS_SHOWN]:
            lines.append(f"  {r['principal_arn']} {r['event_name']} {r['count']}/{r['failed']} "
                         f"{r['first'] or '-'} .. {r['last'] or '-'} {r['consequence']}")
        if len(rows) > _CALLERS_SHOWN:
            lines.append(f"  ... {len(rows) - _CALLERS_SHOWN} more in the record")
    if doc["follow_up"]:
        lines += ["", "follow up:"] + [f"  - {f}" for f in doc["follow_up"]]
    if not dry:
        lines += ["", f"record: {where}" if where else "record: not written",
                  "complete: every step is settled" if doc["complete"] else
                  "incomplete: --execute again resumes the failed steps"]
    return "\n".join(lines) + "\n"
