"""Post-apply jobs: rotation, drift, access review and discovery, as logic over ports.

Nothing here imports a cloud SDK: the jobs read the deployed state through the
protocols of `keyplane.postapply.ports`, which `keyplane.cloud` implements.
"""
