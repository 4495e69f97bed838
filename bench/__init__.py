"""`make bench`: Depot measured against direct S3 on the same machine, in the same run."""
