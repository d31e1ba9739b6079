"""Event sources: the ways other than Invoke that turn outside events into function invocations."""
