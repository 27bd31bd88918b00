"""Errors of the certificate inventory, `keyplane certs` (codes KP910-KP919).

Certificates declared in the repository are read before any cloud call: a path that leaves
the repository, a file that is missing or unreadable, or bytes that are no certificate stop
the run (exit 2) naming the environment file, the key and the path. Certificates in the
clouds that cannot be read are not errors but UNKNOWN results (the run is INCOMPLETE, exit 3),
and their reasons carry the codes below so a log can be searched for them.
"""

from __future__ import annotations

from keyplane.errors import KeyplaneError

PATH_OUTSIDE_REPOSITORY = "KP910"
FILE_UNREADABLE = "KP911"
NOT_A_CERTIFICATE = "KP912"
# a declared source keyplane cannot read: what a DevOps-tier CA Service pool issued (not stored)
SOURCE_NOT_SUPPORTED = "KP913"
# ACM, ACM PCA or CA Service could not be read (denied, throttled, missing)
SOURCE_UNREADABLE = "KP914"
PUBLIC_KEY_UNREADABLE = "KP915"  # a generation's public key could not be read or recalled


class CertificateInputError(KeyplaneError):
    """A certificate declared in the repository cannot be used (exit 2)."""

    code = FILE_UNREADABLE


class PathOutsideRepositoryError(CertificateInputError):
    """A `certificates.files` entry resolves (symlinks followed) outside the repository."""

    code = PATH_OUTSIDE_REPOSITORY


class CertificateFileError(CertificateInputError):
    """A declared file or directory is missing or cannot be read."""

    code = FILE_UNREADABLE


class NotACertificateError(CertificateInputError):
    """A declared file holds no PEM or DER X.509 certificate keyplane can parse."""

    code = NOT_A_CERTIFICATE
