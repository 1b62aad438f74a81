"""Every relative link of README.md and docs/*.md points at a file that exists and, where it
names an anchor (#...), at a heading of that file (GitHub's anchors: lower case, punctuation
dropped, spaces as hyphens)."""

import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ['README.md'] + sorted(os.path.join('docs', name) for name in os.listdir(os.path.join(REPO, 'docs'))
                               if name.endswith('.md'))
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def anchors(path: str) -> set[str]:
  text = re.sub(r'```.*?```', '', open(path).read(), flags=re.S)  # no headings inside code
  return {re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')
          for heading in re.findall(r'(?m)^#+ (.*)$', text)}


def relative_links(page: str) -> list[str]:
  text = re.sub(r'```.*?```', '', open(os.path.join(REPO, page)).read(), flags=re.S)
  return [target for target in LINK.findall(text) if not re.match(r'[a-z]+:', target)]


@pytest.mark.parametrize('page', PAGES)
def test_relative_links_resolve(page):
  for target in relative_links(page):
    path, _, anchor = target.partition('#')
    file = os.path.normpath(os.path.join(REPO, os.path.dirname(page), path)) if path else os.path.join(REPO, page)
    assert os.path.exists(file), f'{page}: link {target} names a file that does not exist'
    if anchor:
      assert anchor in anchors(file), f'{page}: link {target}: no heading #{anchor} in {path or page}'


def test_the_checker_sees_links_and_anchors():
  assert 'docs/evaluation.md#fid-the-exact-network-in-jax' in relative_links('README.md')
  assert 'fid-the-exact-network-in-jax' in anchors(os.path.join(REPO, 'docs', 'evaluation.md'))
