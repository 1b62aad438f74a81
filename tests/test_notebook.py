"""notebooks/quickstart.ipynb runs top to bottom (trains the demo a few steps, loads, draws, scores)."""

import ast
import math
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(REPO, 'notebooks', 'quickstart.ipynb')


def test_the_notebook_is_valid_and_its_code_parses():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  code = [cell.source for cell in notebook.cells if cell.cell_type == 'code']
  assert code and all(ast.parse(source) for source in code)
  assert not any(cell.get('outputs') for cell in notebook.cells if cell.cell_type == 'code')  # saved clean


@pytest.mark.slow  # about 3 minutes on 2 cores: training's and the Inception network's compilation
def test_the_quickstart_notebook_runs_and_shows_its_pictures_and_fid(tmp_path, monkeypatch):
  monkeypatch.setenv('QUICKSTART_WORKDIR', str(tmp_path / 'demo'))
  monkeypatch.setenv('QUICKSTART_STEPS', '4')
  monkeypatch.setenv('QUICKSTART_FID_IMAGES', '40')
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  NotebookClient(notebook, timeout=600, kernel_name='python3',
                 resources={'metadata': {'path': os.path.dirname(NOTEBOOK)}}).execute()  # raises on a failing cell
  outputs = [output for cell in notebook.cells if cell.cell_type == 'code' for output in cell.outputs]
  pictures = [output for output in outputs if 'image/png' in output.get('data', {})]
  assert len(pictures) == 3  # samples, reconstructions, interpolations
  text = ''.join(output.get('text', '') for output in outputs)
  assert 'at step 4' in text
  fid = re.search(r'FID of 40 samples against 40 test images: (\S+)', text)
  assert fid and math.isfinite(float(fid.group(1))) and float(fid.group(1)) > 0, text[-2000:]
  assert os.path.isdir(tmp_path / 'demo' / 'checkpoints')
