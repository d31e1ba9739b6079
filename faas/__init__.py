"""faas: a self-hosted serverless platform that speaks the AWS Lambda wire protocols."""
