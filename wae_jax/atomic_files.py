"""Files written whole or not at all: a crash, a full disk or a kill never leaves half a file."""

import contextlib
import json
import os
from collections.abc import Iterator


@contextlib.contextmanager
def replacing(path: str, suffix: str = '') -> Iterator[str]:
  """Yields a temporary path beside `path` (ending in `suffix`, e.g. '.npz' for np.savez) to write;
  it replaces `path` once the block succeeds, and is removed where the block fails."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  temporary = os.path.join(directory, f'.{os.path.basename(path)}.{os.getpid()}.tmp{suffix}')
  try:
    yield temporary
    os.replace(temporary, path)
  finally:
    if os.path.exists(temporary):
      os.remove(temporary)


def write_text(path: str, text: str) -> None:
  with replacing(path) as temporary, open(temporary, 'w') as file:
    file.write(text)


def write_json(path: str, content: dict) -> None:
  write_text(path, json.dumps(content, indent=2))
