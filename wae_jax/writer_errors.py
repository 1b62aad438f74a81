"""Orbax's background writer errors held during a save: one failed write cascades into hundreds of
tracebacks from its threads and asyncio loops, and the Checkpointer reports it in one line."""

import logging
import os
import sys
import threading
import traceback


class WriterErrorsHeld(logging.Filter):
  """Holds, while a save may be writing, the errors of Orbax's writer threads and their asyncio
  loops (logged, raised in a thread, or unraisable in TensorStore's callbacks). `stop` restores the
  hooks and replays the first held error where the Checkpointer reported no failure (`reported`)."""

  LOGGERS = ('absl', 'asyncio')

  def __init__(self):
    super().__init__()
    self.first, self.reported, self._hooks = None, False, None

  def start(self) -> None:
    if self._hooks is None:
      self._hooks, self.reported = (threading.excepthook, sys.unraisablehook), False
      threading.excepthook, sys.unraisablehook = self._thread_error, self._unraisable
      for name in self.LOGGERS:
        logging.getLogger(name).addFilter(self)

  def stop(self) -> None:
    if self._hooks is None:
      return
    for name in self.LOGGERS:
      logging.getLogger(name).removeFilter(self)
    if (threading.excepthook, sys.unraisablehook) == (self._thread_error, self._unraisable):
      threading.excepthook, sys.unraisablehook = self._hooks
    first, reported, self.first, self._hooks = self.first, self.reported, None, None
    if first and not reported:
      first()

  def filter(self, record: logging.LogRecord) -> bool:
    held = record.levelno >= logging.ERROR and _from_writer(
        record.exc_info[2] if record.exc_info else None, record.pathname)
    if held:
      self.first = self.first or (lambda: logging.getLogger(record.name).handle(record))
    return not held

  def _thread_error(self, args, hook_index: int = 0) -> None:
    hook = (self._hooks or (threading.__excepthook__, sys.__unraisablehook__))[hook_index]
    if not _from_writer(args.exc_traceback):
      return hook(args)
    self.first = self.first or (lambda: hook(args))

  def _unraisable(self, args) -> None:
    self._thread_error(args, 1)


def _from_writer(tb, path: str = '') -> bool:
  """Whether `path` or a frame of `tb` is in Orbax or asyncio."""
  return any(f'{os.sep}{package}{os.sep}' in name for package in ('orbax', 'asyncio')
             for name in [path, *(frame.filename for frame in traceback.extract_tb(tb))])
