"""The I/O edge: each source turns one system's API into compact `model` records."""


class PollError(Exception):
    """A poll of one source failed; the message names the source and the cause, never a secret."""
