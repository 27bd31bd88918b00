"""Where credentials would come from, asked of the SDKs' own chains without calling a cloud."""

from __future__ import annotations


def aws_chain_has_credentials() -> bool:
    """Whether botocore's credential chain finds any credentials (nothing is called)."""
    import botocore.session

    return botocore.session.Session().get_credentials() is not None


def gcp_default_credentials() -> tuple[bool, str | None, str]:
    """(usable, project, why not) of Application Default Credentials."""
    try:
        import google.auth

        _, project = google.auth.default()
    except Exception as exc:  # DefaultCredentialsError and the like: no usable credentials
        return False, None, str(exc)
    return True, project, ""
