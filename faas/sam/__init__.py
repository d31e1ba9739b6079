"""AWS SAM templates: read one (faas.sam.template) into the functions faas deploys (faas.cli.sam deploys them)."""
