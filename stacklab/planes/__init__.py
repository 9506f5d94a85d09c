"""Local data planes: the behaviour moto only stores, read from the mocked control plane via boto3.

Each plane re-reads its configuration from the sandbox on every request, so a change made with
boto3 (or the AWS CLI) acts at once, as on AWS. Planes that serve over HTTP listen on 127.0.0.1.
"""
