"""The one exception the FID code raises for bad input, so a launcher can print it without a traceback."""


class FIDError(Exception):
  """A problem with FID weights, images or statistics files; the message says what to do."""
