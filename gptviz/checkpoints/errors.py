"""The one error type every loader raises, so callers can show its message as it is."""


class CheckpointError(ValueError):
    """A checkpoint cannot be loaded; the message says which file, key or value and why."""
