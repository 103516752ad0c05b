"""The only door to AWS: context and clients, rate limits, retries, debug logging and error types.

Import from the submodules (``iotfleet.aws.context``, ``iotfleet.aws.errors``, ...); this package
imports nothing itself, so the quota table can be used without loading boto3.
"""
