"""The error a run stops with when a params value is wrong; its own module so that the config, which checks
arm names against `scpo.selection.ARMS`, and the selection, which raises it, do not import each other."""


class ConfigError(ValueError):
    """A params value is missing, unknown or out of range; the message names the key."""


class RangeError(ConfigError):
    """A field out of range, raised by a section's own check; `scpo.strict.build_section` names its section."""
