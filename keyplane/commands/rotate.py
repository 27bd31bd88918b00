"""`keyplane rotate`: add the next generation of a key to its environment file, as a PR would.

The file is edited in place with ruamel.yaml's round-trip mode, so comments, quoting,
flow lists and indentation survive. The result is validated with the same loader
as `keyplane validate` before it replaces the file (atomically): a rotation never
leaves an invalid inventory behind.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from keyplane.errors import InventoryError, UsageError
from keyplane.model.environment import KeyDecl
from keyplane.model.loader import DEFAULT_DIR, load_environment, load_text, resolve_targets
from keyplane.model.tiers import RotationMode, policy_for
from keyplane.output import set_format, write_atomic


class Reason(StrEnum):
    """Why a key is rotated; `compromise` ends the old generation's overlap today."""

    CALENDAR = "calendar"
    COMPROMISE = "compromise"
    STAFF_CHANGE = "staff-change"
    VENDOR_INCIDENT = "vendor-incident"
    POLICY_CHANGE = "policy-change"


# Indentation styles tried in order; the first that reproduces the file exactly is kept.
_STYLES = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4))


@dataclass(frozen=True)
class Rotation:
    """What a rotation changed, for the summary and the tests."""

    key: str
    env: str
    reason: Reason
    previous: int
    new: int
    created_on: dt.date
    verify_until: dt.date
    previous_disabled: bool

    def describe(self) -> list[str]:
        """The lines printed after the file was written."""
        lines = [f"{self.env}/{self.key}: generation {self.previous} -> {self.new} "
                 f"(reason: {self.reason.value})",
                 f"  + generation {self.new}: created_on {self.created_on.isoformat()} (current)",
                 f"  ~ generation {self.previous}: verify_until {self.verify_until.isoformat()}"]
        if self.previous_disabled:
            lines[-1] += ", enabled: false (compromised: no verification overlap)"
        lines.append("next: open a pull request; its plan creates the new key before the "
                     "alias moves")
        return lines


def _yaml(style: tuple[int, int, int]) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines (ARNs, descriptions)
    mapping, sequence, offset = style
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def _load_round_trip(text: str) -> tuple[YAML, Any]:
    """Parse `text` with the indentation style that writes it back unchanged."""
    for style in _STYLES:
        yaml = _yaml(style)
        data = yaml.load(text)
        if _dump(yaml, data) == text:
            return yaml, data
    yaml = _yaml(_STYLES[0])
    return yaml, yaml.load(text)


def _key_node(data: Any, name: str) -> CommentedMap:
    for item in data.get("keys") or []:
        if isinstance(item, CommentedMap) and item.get("name") == name:
            return item
    raise UsageError(f"key '{name}' is not declared", code="KP401")


def plan_rotation(key: KeyDecl, env_name: str, reason: Reason, today: dt.date) -> Rotation:
    """The rotation of `key` on `today`; refuses keys that the cloud rotates itself."""
    if key.rotation_mode is RotationMode.AUTOMATIC:
        raise UsageError(f"key '{key.name}' rotates automatically every "
                         f"{key.rotation_period_in_days} days; keyplane rotate is for keys "
                         "managed as generations (asymmetric, hmac, imported, custom key store)",
                         code="KP402")
    assert key.generation is not None
    overlap = 0 if reason is Reason.COMPROMISE else \
        policy_for(key.tier).generation_overlap_in_days
    return Rotation(key=key.name, env=env_name, reason=reason, previous=key.generation,
                    new=key.generation + 1, created_on=today,
                    verify_until=today + dt.timedelta(days=overlap),
                    previous_disabled=reason is Reason.COMPROMISE)


def apply_rotation(data: Any, rot: Rotation) -> None:
    """Edit the round-trip document: bump `generation`, add the new entry first, close the old."""
    node = _key_node(data, rot.key)
    node["generation"] = rot.new
    gens = node.get("generations")
    if not isinstance(gens, CommentedSeq):
        raise UsageError(f"key '{rot.key}' has no generations list to extend", code="KP401")
    for entry in gens:
        if isinstance(entry, CommentedMap) and entry.get("generation") == rot.previous:
            pos = list(entry).index("created_on") + 1 if "created_on" in entry else len(entry)
            if "verify_until" in entry:
                entry["verify_until"] = rot.verify_until
            else:
                entry.insert(pos, "verify_until", rot.verify_until)
            if rot.previous_disabled:
                entry["enabled"] = False
            break
    new = CommentedMap()
    new["generation"] = rot.new
    new["created_on"] = rot.created_on
    new.yaml_add_eol_comment(f"rotated: {rot.reason.value}", "created_on")
    gens.insert(0, new)


def rotate_file(path: Path, key_name: str, reason: Reason, today: dt.date) -> Rotation:
    """Rotate `key_name` in the environment file `path`; the file is replaced only if valid."""
    env = load_environment(path)
    try:
        key = env.key(key_name)
    except KeyError:
        names = ", ".join(k.name for k in env.keys) or "none"
        raise UsageError(f"key '{key_name}' is not declared in {path}; declared: {names}",
                         code="KP401") from None
    rot = plan_rotation(key, env.name, reason, today)
    text = path.read_text(encoding="utf-8")
    yaml, data = _load_round_trip(text)
    apply_rotation(data, rot)
    new_text = _dump(yaml, data)
    _, problems = load_text(new_text, path)
    if problems:
        raise InventoryError(problems)
    write_atomic(path, new_text)
    return rot


@click.command()
@click.argument("env_name", metavar="ENV")
@click.argument("key")
@click.option("--reason", type=click.Choice([r.value for r in Reason]), required=True,
              help="Why: calendar (max age) or an event; compromise ends the overlap today.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The rotation date, yyyy-mm-dd (default: today).")
@click.option("--environments-dir", "-d", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_DIR, show_default=True, help="Where the environment files are.")
def rotate(env_name: str, key: str, reason: str, as_of: dt.datetime | None,
           environments_dir: Path) -> None:
    """Add the next generation of KEY in environments/<ENV>.yaml (comments preserved).

    The new generation becomes current; the previous one stays for verification until
    the rotation date + the tier's overlap (0 for compromise). Exit 0 when written, 2 when
    refused. The change is meant for review: `git diff` shows it, `git checkout` undoes it.
    """
    set_format("text")
    (path,) = resolve_targets([env_name], environments_dir)
    day = as_of.date() if as_of is not None else dt.date.today()
    rot = rotate_file(path, key, Reason(reason), day)
    for line in rot.describe():
        click.echo(line)
    click.echo(f"wrote {path} (review it with `git diff {path}`; undo with `git checkout {path}`)")
