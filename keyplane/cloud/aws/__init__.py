"""AWS adapters over boto3: a read-only reader for the post-apply jobs, a writer for the sandbox."""
