"""Errors meant for the user: the launcher prints them as one line, without a traceback."""


class UserError(Exception):
  """A problem the user can fix; the message names the file or setting and what to do."""


class ConfigError(UserError):
  """A config value that cannot work (unknown name, impossible size, bad batch size)."""


class WorkdirError(UserError):
  """The working directory cannot be created, written or read."""


class InputError(UserError, ValueError):
  """Arrays given to the notebook API that do not fit the model (rank, size, channels, dtype, range)."""
