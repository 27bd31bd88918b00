"""Inventory checks of who owns a key and where its certificates live.

Every `ca` and `production` key names an `owner` (a team or an address) that findings and
reports show. A key may declare `certificates`: ACM certificates (by ARN or tags), ACM
Private CAs, Google CA Service pools, or PEM/DER files in the repository. Certificates bind
public keys, so only asymmetric keys declare them. Paths are checked here as text (relative,
inside the repository); `keyplane certs` checks them again on disk, symlinks resolved.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from keyplane.model.environment import AWS_REGION_PATTERN, Environment, KeyDecl
from keyplane.model.specs import SPECS, KeyFamily
from keyplane.model.tiers import Tier

if TYPE_CHECKING:
    from keyplane.model.checks import Checker
    from keyplane.model.source import Path_

# The tiers whose keys must name an owner: someone answers for every finding on them.
OWNER_REQUIRED: frozenset[Tier] = frozenset({Tier.CA, Tier.PRODUCTION})

_PARTITION = r"arn:aws(?:-[a-z]+)*"
# https://docs.aws.amazon.com/acm/latest/userguide/authen-overview.html (resource ARNs)
ACM_ARN_PATTERN = (rf"^{_PARTITION}:acm:([a-z]{{2}}(?:-gov|-iso[a-z]*)?-[a-z]+-[0-9]):"
                   r"([0-9]{12}):certificate/[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$")
# https://docs.aws.amazon.com/privateca/latest/userguide/assets.html (CA and certificate ARNs)
PCA_ARN_PATTERN = (rf"^{_PARTITION}:acm-pca:([a-z]{{2}}(?:-gov|-iso[a-z]*)?-[a-z]+-[0-9]):"
                   r"([0-9]{12}):certificate-authority/[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-"
                   r"[0-9a-f]{12}$")
PCA_CERTIFICATE_SUFFIX = r"/certificate/[0-9a-f]{32}$"
# https://cloud.google.com/certificate-authority-service/docs/reference/rest/v1/projects.locations.caPools
CA_POOL_PATTERN = (r"^projects/([a-z][a-z0-9-]{4,28}[a-z0-9])/locations/[a-z0-9-]+/caPools/"
                   r"[A-Za-z0-9_-]{1,63}$")

_ACM = re.compile(ACM_ARN_PATTERN)
_PCA = re.compile(PCA_ARN_PATTERN)
_POOL = re.compile(CA_POOL_PATTERN)
_REGION = re.compile(AWS_REGION_PATTERN)


def repository_root(env_file: Path) -> Path:
    """The repository an environment file belongs to: the nearest directory above it that
    holds `.git`, else the directory that holds the environments directory."""
    start = env_file.resolve().parent
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start.parent


def escapes(root: Path, base: Path, entry: str) -> bool:
    """Whether `entry`, read relative to `base`, names a place outside `root` (as text: no
    symlink is followed here)."""
    parts: list[str] = list(base.resolve().parts)
    for part in PurePosixPath(entry).parts:
        if part == "..":
            if len(parts) <= 1:
                return True
            parts.pop()
        elif part != ".":
            parts.append(part)
    return not Path(*parts).is_relative_to(root.resolve())


def has_public_key(key: KeyDecl) -> bool | None:
    """Whether the key's spec has a public key (None: the spec is unknown, reported
    elsewhere)."""
    info = SPECS[key.cloud].get(key.spec or "")
    return None if info is None else info.family is KeyFamily.ASYMMETRIC


def check_owner_and_certificates(chk: Checker, env: Environment) -> None:
    """`owner` where the tier requires one; `certificates` only on asymmetric keys, with ARNs,
    pools and paths that this environment can read."""
    for i, key in enumerate(env.keys):
        p: Path_ = ("keys", i)
        if key.owner is None and key.tier in OWNER_REQUIRED:
            chk.add("KP105", f"key '{key.name}' is a {key.tier.value} key, so it needs an "
                             "'owner' (the team or address answerable for it, e.g. "
                             "pki-team@example.com)", p)
        if key.certificates is not None:
            _check_certificates(chk, env, key, (*p, "certificates"))


def _check_certificates(chk: Checker, env: Environment, key: KeyDecl, p: Path_) -> None:
    certs = key.certificates
    assert certs is not None
    if has_public_key(key) is False:
        chk.add("KP113", f"key '{key.name}' is {key.spec}, which has no public key; "
                         "certificates bind the public key of an asymmetric key", p)
        return
    if not certs:
        chk.add("KP105", "certificates declares no source; give acm, acm_pca, gcp_cas or files",
                p)
    account = env.aws.account_id if env.aws is not None else None
    if (certs.acm is not None or certs.acm_pca) and env.aws is None:
        chk.add("KP105", "acm and acm_pca certificates need the environment's 'aws' section "
                         "(account_id, region)", p)
    if certs.acm is not None:
        for j, arn in enumerate(certs.acm.arns):
            _arn(chk, _ACM, arn, account, "an acm certificate arn, arn:<partition>:acm:"
                 "<region>:<account>:certificate/<uuid>", (*p, "acm", "arns", j))
        for j, region in enumerate(certs.acm.regions):
            if not _REGION.match(region):
                chk.add("KP104", f"region '{region}' is not an aws region name",
                        (*p, "acm", "regions", j))
        if certs.acm.regions and not certs.acm.tags:
            chk.add("KP113", "acm.regions applies to certificates found by tags; certificates "
                             "named by arn carry their region", (*p, "acm", "regions"))
        for tag, value in certs.acm.tags.items():
            if not tag or len(tag) > 128 or len(value) > 256:
                chk.add("KP104", f"acm tag '{tag[:40]}' must be 1-128 characters with a value "
                                 "of at most 256 (the acm tag limits)", (*p, "acm", "tags"))
    for j, pca in enumerate(certs.acm_pca):
        where: Path_ = (*p, "acm_pca", j)
        if not _arn(chk, _PCA, pca.authority_arn, account, "an acm private ca arn, "
                    "arn:<partition>:acm-pca:<region>:<account>:certificate-authority/<uuid>",
                    (*where, "authority_arn")):
            continue
        issued = re.compile(re.escape(pca.authority_arn) + PCA_CERTIFICATE_SUFFIX)
        for k, arn in enumerate(pca.issued):
            if not issued.match(arn):
                chk.add("KP104", f"issued certificate '{arn}' must be "
                                 f"{pca.authority_arn}/certificate/<32 hex digits>, a "
                                 "certificate of that ca", (*where, "issued", k))
    for j, cas in enumerate(certs.gcp_cas):
        m = _POOL.match(cas.ca_pool)
        where = (*p, "gcp_cas", j, "ca_pool")
        if m is None:
            chk.add("KP104", f"ca_pool '{cas.ca_pool}' must be projects/<project>/locations/"
                             "<location>/caPools/<pool>", where)
        elif env.gcp is None:
            chk.add("KP105", "gcp_cas certificates need the environment's 'gcp' section", where)
        elif m.group(1) != env.gcp.project_id:
            chk.add("KP113", f"ca_pool '{cas.ca_pool}' is in project {m.group(1)}, the "
                             f"environment's project is {env.gcp.project_id}", where)
    if certs.files:
        _check_files(chk, certs.files, (*p, "files"))


def _arn(chk: Checker, pattern: re.Pattern[str], arn: str, account: str | None, what: str,
         where: Path_) -> bool:
    m = pattern.match(arn)
    if m is None:
        chk.add("KP104", f"'{arn}' is not {what}", where)
        return False
    if account is not None and m.group(2) != account:
        chk.add("KP113", f"'{arn}' is in account {m.group(2)}, the environment's account is "
                         f"{account}; declare it in the environment of its account", where)
        return False
    return True


def _check_files(chk: Checker, files: tuple[str, ...], p: Path_) -> None:
    env_file = Path(chk.doc.file) if chk.doc.file else None
    root = repository_root(env_file) if env_file is not None else None
    for j, entry in enumerate(files):
        if not entry or "\x00" in entry or entry.startswith(("/", "\\")) or \
                re.match(r"^[A-Za-z]:", entry):
            chk.add("KP104", f"certificate path '{entry[:80]}' must be a path relative to the "
                             "environment file", (*p, j))
        elif root is not None and env_file is not None and escapes(root, env_file.parent,
                                                                    entry):
            chk.add("KP104", f"certificate path '{entry}' leaves the repository ({root}); "
                             "keep certificates inside it", (*p, j))
