"""Errors of `keyplane estate` (codes KP930-KP939).

Each is bad input or a setup that cannot give a true answer (exit 2): the message names the
option or the account, what was given and what is allowed. A cloud read that fails is not an
error here: it is an unknown part of the estate, and the run ends incomplete (exit 3).
"""

from __future__ import annotations

from keyplane.errors import KeyplaneError

ESTATE_INPUT = "KP930"  # options that are missing, malformed or contradict each other
ORGANIZATION_MISMATCH = "KP931"  # the credentials reach another organization or account
NOT_IN_ORGANIZATION = "KP932"  # the credentials' account belongs to no AWS Organization
GCP_SCOPE_INVALID = "KP933"  # --gcp-folder / --gcp-organization is not a numeric id
NO_CREDENTIALS = "KP934"  # a cloud the run reads has no credentials at all
# KP935-KP939 are reserved for `keyplane estate`.


class EstateCommandError(KeyplaneError):
    """`keyplane estate` cannot run as asked (exit 2)."""

    code = ESTATE_INPUT


class OrganizationMismatchError(EstateCommandError):
    """The credentials act in another organization or account than the one asked for: reading
    it would compare the environment files with the wrong estate (exit 2)."""

    code = ORGANIZATION_MISMATCH


class NotInOrganizationError(EstateCommandError):
    """The credentials' account is not a member of any AWS Organization (exit 2)."""

    code = NOT_IN_ORGANIZATION


class GcpScopeError(EstateCommandError):
    """A GCP folder or organization id that is not one (exit 2)."""

    code = GCP_SCOPE_INVALID


class EstateCredentialsError(EstateCommandError):
    """No credentials at all for a cloud the run reads (exit 2)."""

    code = NO_CREDENTIALS
