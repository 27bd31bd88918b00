"""Cloud adapters: the only modules that import a cloud SDK (boto3, google-cloud-kms)."""
