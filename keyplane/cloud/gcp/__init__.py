"""GCP adapters over google-cloud-kms: a read-only reader, and a writer for the sandbox."""
