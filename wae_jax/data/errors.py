"""The one exception the data package raises for problems with the user's data."""

from wae_jax.errors import UserError


class DataError(UserError):
  """One-line, user-facing problem with the input data (path named, what to do).

  The launcher prints it without a traceback: the message alone must say what is wrong and
  how to fix it.
  """
