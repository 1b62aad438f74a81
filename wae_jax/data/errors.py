"""The one exception the data package raises for problems with the user's data."""

from wae_jax.errors import UserError


class DataError(UserError):
  """One-line, user-facing problem with the input data: the message names the path and the fix."""
