"""Checkpoint metadata: one schema version, and one `migrate` that reads every older one."""

import json

from wae_jax import checkpoint
from wae_jax.config_defaults import base_config


def test_a_version_1_checkpoint_reads_in_todays_fields():
  saved = json.loads(base_config().to_json())
  del saved['objective']['swae']  # version 1: the objectives' own fields flat in config.objective
  saved['objective']['num_projections'] = 7
  del saved['model']['encoder_widths']  # a field added since
  meta = checkpoint.migrate({'step': 3, 'config': saved})
  assert meta['schema'] == checkpoint.SCHEMA_VERSION and meta['step'] == 3
  assert meta['config']['objective']['swae'] == {'num_projections': 7}
  assert 'num_projections' not in meta['config']['objective']
  assert meta['config']['model']['encoder_widths'] is None
  assert checkpoint.migrate(meta) == meta  # today's schema stays as it is
  assert checkpoint.config_from_meta({'config': saved}).objective.swae.num_projections == 7
  assert checkpoint.config_changes(saved, base_config()) == {
      'objective.swae.num_projections': (7, 50)}
