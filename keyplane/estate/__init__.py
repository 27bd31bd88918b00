"""The estate as a whole: every environment, account and project at once, for CI and bulk runs.

No module here imports a cloud SDK or a CDK library: what is read from a cloud comes in
through ports, so planning over the whole estate (e.g. the CI matrix) runs in a second.
"""
