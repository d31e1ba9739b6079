"""faas: a self-hosted serverless platform that speaks the AWS Lambda wire protocols."""

__version__ = "0.1.0"  # the package metadata's version wins when faas is installed
