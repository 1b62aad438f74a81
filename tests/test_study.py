"""The study runner: the `tiny` preset of configs/study_thesis.py end to end (four models trained
on the demo digits, evaluated with a stand-in FID network), then again: everything is skipped."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from wae_jax import evaluation, hooks, study, train
from wae_jax.errors import ConfigError
from wae_jax.preflight import check_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDY_CONFIG = os.path.join(REPO, 'configs', 'study_thesis.py')


def study_config(preset):
  import importlib.util
  spec = importlib.util.spec_from_file_location('study_thesis', STUDY_CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(preset)


class PooledFeatures:
  """A stand-in for the Inception network: 4x4 mean-pooled gray pixels; counts its images."""

  def __init__(self):
    self.images = 0

  def __call__(self, images):
    assert images.dtype == np.uint8
    self.images += len(images)
    n, h, w, _ = images.shape
    gray = images.mean(axis=-1) / 255.0
    return gray.reshape(n, 4, h // 4, 4, w // 4).mean(axis=(2, 4)).reshape(n, 16).astype(np.float32)


@pytest.mark.parametrize('preset', ['tiny', 'cpu', 'gpu', 'gpu128', 'full'])
def test_every_preset_gives_four_valid_experiments_with_one_image_budget(preset):
  config = study_config(preset)
  runs = study.runs_of(config)
  assert [run.experiment for run in runs] == ['vae', 'vae_resnet', 'wae', 'wae_resnet']
  for run in runs:
    check_config(run.config, num_devices=1)
    assert study.eval_steps(config, run) == [run.config.train.num_steps // 2, run.config.train.num_steps]
  budgets = {(run.config.train.batch_size, run.config.train.num_steps, run.config.train.num_epochs)
             for run in runs}
  assert len(budgets) == 1
  assert {run.config.objective.name for run in runs} == {'vae', 'wae_gan'}


def test_sweep_preset_is_a_grid_of_cost_scales_scored_on_val_and_seeds_run_in_complete_pairs():
  sweep = study.runs_of(study_config('sweep'))
  assert [(run.experiment, run.config.objective.cost_scale) for run in sweep] == [
      (model, scale) for scale in (0.05, 0.2, 1.0, 5.0) for model in ('vae', 'wae')]
  assert sweep[1].name == 'wae_cost_scale0.05_seed0' and sweep[1].point == {'objective.cost_scale': 0.05}
  assert {run.config.eval.split for run in sweep} == {'val'}
  config = study_config('cpu')
  config.experiments, config.seeds = ('wae', 'wae_resnet'), (0, 1, 2)
  assert [run.name for run in study.runs_of(config)] == [
      f'{model}_seed{seed}' for seed in (0, 1, 2) for model in ('wae', 'wae_resnet')]


def test_a_midpoint_that_is_no_kept_checkpoint_is_a_config_error():
  config = study_config('tiny')
  config.eval_at = (0.3, 1.0)
  with pytest.raises(ConfigError, match='step 12, which is no checkpoint'):
    study.make_plan(config, '/nonexistent')
  config.eval_at = (0.5, 1.0)
  config.overrides.train.checkpoint_every, config.overrides.train.num_steps = 4, 40
  with pytest.raises(ConfigError, match='keep_every=20'):
    study.make_plan(config, '/nonexistent')
  config.overrides.train.keep_every = 20
  assert study.make_plan(config, '/nonexistent').steps['vae_seed0'] == [20, 40]


def test_the_plan_gives_each_run_its_own_config_and_the_evaluation_a_copy():
  plan = study.make_plan(study_config('tiny'), '/nonexistent')
  configs = [run.config for run in plan.runs]
  assert len({id(config) for config in configs + [plan.eval_config]}) == 5
  assert {config.eval.reference_stats for config in configs + [plan.eval_config]} == {
      '/nonexistent/reference_stats.npz'}
  plan.eval_config.eval.sampler = 'gmm'
  assert {config.eval.sampler for config in configs} == {'prior'}
  assert plan.pairs == [('wae_resnet', 'wae'), ('vae_resnet', 'vae')] and plan.samplers == ['prior']


def test_each_pair_of_experiments_is_also_compared_with_every_further_sampler():
  config = study_config('tiny')
  config.experiments, config.samplers = ('wae', 'wae_resnet', 'rae'), ('prior', 'gmm')
  config.pairs = (('wae_resnet', 'wae'), ('rae+gmm', 'rae'), ('vae_resnet', 'vae'))
  assert study.make_plan(config, '/nonexistent').pairs == [
      ('wae_resnet', 'wae'), ('wae_resnet+gmm', 'wae+gmm'), ('rae+gmm', 'rae')]


def test_budget_presets_score_the_wae_pair_at_every_doubling_with_both_samplers():
  cpu = study.runs_of(study_config('cpu'))[2].config
  for preset, size, steps in (('budget32', 32, [200, 400, 800, 1600, 3200]), ('budget64', 64, [400, 800])):
    config = study_config(preset)
    plan = study.make_plan(config, '/nonexistent')
    assert [run.name for run in plan.runs] == ['wae_seed0', 'wae_resnet_seed0']
    assert plan.pairs == [('wae_resnet', 'wae'), ('wae_resnet+gmm', 'wae+gmm')]
    assert plan.parts == ('samples', 'latent') and plan.samplers == ['prior', 'gmm']
    for run in plan.runs:
      check_config(run.config, num_devices=1)
      assert plan.steps[run.name] == steps and run.config.model.image_size == size
      assert (run.config.data.to_dict(), run.config.eval.num_samples) == (cpu.data.to_dict(), 1000)
      assert run.config.eval.gmm_iterations == 2000


def test_study_parts_must_include_the_samples_and_be_parts_of_a_model():
  config = study_config('tiny')
  for parts in (('latent',), ('samples', 'real'), ('samples', 'sharpness')):
    config.parts = parts
    with pytest.raises(ConfigError, match=r'^study parts .*: use samples and any of reconstructions, '):
      study.make_plan(config, '/nonexistent')


def test_an_unknown_override_names_the_field():
  config = study_config('tiny')
  config.overrides.model.widht = 2.0
  with pytest.raises(ConfigError, match=r'config\.model\.widht: no such field'):
    study.runs_of(config)


def test_a_seed_given_twice_is_a_config_error():
  config = study_config('tiny')
  config.seeds = (1, 2, 1)  # what --config.seeds=1,2 --config.seeds=1 gives
  with pytest.raises(ConfigError, match=r'study seeds 1,2,1: seed 1 more than once'):
    study.runs_of(config)


def test_beyond_preset_is_four_objectives_on_one_architecture_each_with_two_samplers():
  config = study_config('beyond')
  runs = study.runs_of(config)
  assert [(run.experiment, run.config.model.name, run.config.objective.name) for run in runs] == [
      ('wae', 'wae', 'wae_gan'), ('wae_mmd', 'wae', 'wae_mmd'), ('swae', 'wae', 'swae'),
      ('rae', 'wae', 'rae')]
  cpu = study.runs_of(study_config('cpu'))[2].config  # the cpu preset's WAE: the same budget and data
  for run in runs:
    check_config(run.config, num_devices=1)
    assert (run.config.train.to_dict(), run.config.data.to_dict(), run.config.model.to_dict()) == (
        cpu.train.to_dict(), cpu.data.to_dict(), cpu.model.to_dict())
    assert study.eval_steps(config, run) == [run.config.train.num_steps]
  assert study.samplers_of(config) == ['prior', 'gmm']
  assert ('rae+gmm', 'rae') in config.pairs


def test_a_study_scores_each_further_sampler_without_retraining(tmp_path, monkeypatch):
  """One run, samplers prior and gmm, three of the four parts: the gmm variant's samples and
  latent part are its own (eval_gmm/), its reconstructions the prior's; tables, pairs and figure
  hold both, without the part not scored; again, nothing is recomputed."""
  config = study_config('tiny')
  config.experiments, config.samplers = ('rae',), ('prior', 'gmm')
  config.pairs, config.eval_at = (('rae+gmm', 'rae'),), (1.0,)
  config.parts = ('samples', 'reconstructions', 'latent')
  config.overrides.train.num_steps, config.overrides.train.checkpoint_every = 4, 4
  config.overrides.eval.num_samples = config.overrides.eval.num_reconstructions = 16
  config.overrides.eval.num_interpolations = 2
  config.overrides.eval.gmm_components, config.overrides.eval.gmm_images = 2, 32
  directory = str(tmp_path / 'study')
  results = study.run_study(config, directory, PooledFeatures())
  for run in results['runs']:
    workdir = os.path.join(directory, 'runs', run['name'])
    with open(os.path.join(workdir, 'eval_gmm', 'metrics.json')) as file:
      gmm = json.load(file)['parts']
    assert set(gmm) == {'samples', 'latent'} and 'gmm: 2 full-covariance' in gmm['samples']['settings']['sampler']
    assert 'log_density_gmm' in gmm['latent'] and 'log_density_gmm' not in run['metrics']['4']['parts']['latent']
    assert run['metrics']['4']['parts']['latent']['total_variance'] == gmm['latent']['total_variance']
    assert run['metrics_by_sampler']['gmm']['4']['parts']['samples'] == {**gmm['samples']}
    assert gmm['samples']['fid'] != run['metrics']['4']['parts']['samples']['fid']
    assert os.path.isfile(os.path.join(workdir, 'samplers', 'gmm_step4.npz'))
    rows = [row for row in results['paired_differences']['4']
            if row['a'] == f'{run["experiment"]}+gmm' and row['part'] == 'samples' and row['score'] == 'fid']
    assert rows[0]['differences'] == pytest.approx(
        [gmm['samples']['fid'] - run['metrics']['4']['parts']['samples']['fid']])
    reconstructions = [row for row in results['paired_differences']['4']
                       if row['a'] == f'{run["experiment"]}+gmm' and row['part'] == 'reconstructions']
    assert {row['mean'] for row in reconstructions} == {0.0}  # the same images: the prior's
  tables = open(os.path.join(directory, 'tables.md')).read()
  samples_rows = table_rows(tables.split('#### Table 4.4')[1].split('\n#### ')[0])
  assert [row.split('|')[1].strip() for row in samples_rows] == [
      'rae (rae, seed 0)', 'rae+gmm (rae, seed 0)', 'real data']
  assert '### rae+gmm - rae, per seed' in tables
  assert 'Table 4.3' not in tables and 'interpolations' not in results['runs'][0]['metrics']['4']['parts']
  latent_rows = table_rows(tables.split('### Held-out codes')[1].split('\n### ')[0])
  assert [row.split('|')[1].strip() for row in latent_rows] == ['rae', 'rae+gmm']
  assert latent_rows[0].split('|')[5].strip() == '-' and latent_rows[1].split('|')[5].strip() != '-'
  # Each run's weighted terms add up to the loss logged in the same window.
  for run in results['runs']:
    terms = run['loss_terms']
    assert set(terms) == {'reconstruction', 'code_norm', 'decoder_l2'}  # the last: a parameter penalty
    logged_loss = hooks.read_scalars(os.path.join(directory, 'runs', run['name']))['train/loss'][-1][1]
    assert sum(term['weight'] * term['value'] for term in terms.values()) == pytest.approx(logged_loss, rel=1e-5)
    assert sum(term['share'] for term in terms.values()) == pytest.approx(1.0)
    assert f"| {run['name']} | rae | reconstruction " in tables

  figure = np.asarray(Image.open(os.path.join(directory, 'figure.png')))
  assert figure.shape[0] > 2 * 2 * 32  # a band per run and sampler

  def no_training(*args, **kwargs):
    raise AssertionError('a finished run was trained again')
  monkeypatch.setattr(train, 'train_and_evaluate', no_training)
  again_features = PooledFeatures()
  again = study.run_study(config, directory, again_features)
  assert again_features.images == 0
  assert [run['metrics_by_sampler'] for run in again['runs']] == [
      run['metrics_by_sampler'] for run in results['runs']]


def table_rows(section):
  return [line for line in section.splitlines() if line.startswith('| ') and '---' not in line][1:]


def small_tiny_study():
  """The tiny preset cut to one pair, two seeds and 4 steps (scored at steps 2 and 4)."""
  config = study_config('tiny')
  config.experiments, config.seeds = ('wae', 'wae_resnet'), (0, 1)
  config.overrides.train.num_steps, config.overrides.train.checkpoint_every = 4, 2
  config.overrides.eval.num_samples = config.overrides.eval.num_reconstructions = 16
  config.overrides.eval.num_interpolations = 2
  return config


def test_paired_differences_and_mean_sd_from_known_scores():
  """The seed tables' arithmetic on made-up records (the end-to-end study below runs in -m slow;
  the README's study command runs the runner itself in the default run)."""
  from wae_jax.evaluation import seeds
  fids = {('wae', 0): 300.0, ('wae_resnet', 0): 280.0, ('wae', 1): 310.0, ('wae_resnet', 1): 320.0,
          ('wae', 2): 330.0, ('wae_resnet', 2): 290.0}
  mses = {('wae', k): 0.01 for k in range(3)} | {('wae_resnet', k): 0.02 + k * 0.001 for k in range(3)}
  members = [seeds.Member(f'{e}_seed{k}', e, {}, k) for e, k in fids]
  records = {f'{e}_seed{k}': {'parts': {
      'samples': {'fid': fids[e, k]}, 'interpolations': {'fid': fids[e, k] - 50},
      'reconstructions': {'fid': fids[e, k] - 80, 'mse': mses[e, k]}}} for e, k in fids}
  rows = seeds.paired_differences(members, records, [('wae_resnet', 'wae'), ('vae_resnet', 'vae')])
  by = {(row['part'], row['score']): row for row in rows}
  samples = by['samples', 'fid']
  assert samples['differences'] == [-20.0, 10.0, -40.0] and samples['seeds'] == [0, 1, 2]
  assert samples['mean'] == pytest.approx(-50 / 3) and samples['sd'] == pytest.approx(np.std([-20, 10, -40], ddof=1))
  assert (samples['favour_a'], samples['favour_b'], samples['verdict']) == (2, 1, None)
  mse = by['reconstructions', 'mse']  # lower is better: every seed favours wae
  assert mse['differences'] == pytest.approx([0.01, 0.011, 0.012]) and mse['verdict'] == 'wae'
  # p-values: samples' FID seeds disagree; every seed favours wae's MSE by about the same amount.
  assert samples['p_sign_test'] == 1.0 and samples['p_t_test'] == pytest.approx(0.3700592, rel=1e-6)
  assert not samples['established']
  assert mse['p_sign_test'] == 0.25 and mse['p_t_test'] == pytest.approx(0.0027435, rel=1e-4)
  assert mse['established']
  table = seeds.paired_tables(rows)
  assert table.startswith(seeds.ESTABLISHED) and "With n seeds the exact sign test cannot go below p = 2^(1-n)" in table
  assert '| reconstructions | MSE ↓ |' in table and '| 0 of 3 | wae | 0.25 | 0.00274 | established |' in table
  assert '| 2 of 3 | none | 1 | 0.37 | not established |' in table
  assert {row['a'] for row in rows} == {'wae_resnet'}  # a pair without runs gives no rows
  samples_table = seeds.summary_tables(members, records).split('### Table 4.4')[1].split('###')[0]
  assert '| wae | 313.333 ± 15.275 | 3 |' in samples_table  # mean ± SD (ddof 1) of 300, 310, 330
  assert '| wae_resnet | 296.667 ± 20.817 | 3 |' in samples_table


def test_p_values_are_scipys_exact_sign_test_and_paired_t_test_on_known_numbers():
  from scipy import stats
  from wae_jax.evaluation import seeds
  assert [seeds.sign_test(3, 0), seeds.sign_test(2, 1), seeds.sign_test(0, 6), seeds.sign_test(0, 0)] == [
      0.25, 1.0, 0.03125, 1.0]  # 2^(1-n) where all n agree; no seed differs: 1
  assert seeds.sign_test(7, 1) == pytest.approx(stats.binomtest(7, 8).pvalue) == pytest.approx(0.0703125)
  # Differences 1, 2, 3.5: t = 2.1667 / (1.2583 / sqrt 3) = 2.982 on 2 degrees of freedom.
  assert seeds.paired_t_test([1.0, 2.0, 3.5], [0.0, 0.0, 0.0]) == pytest.approx(0.0964375, rel=1e-5)
  assert seeds.paired_t_test([3.0, 5.0, 4.5], [2.0, 3.0, 1.0]) == pytest.approx(
      stats.ttest_rel([3.0, 5.0, 4.5], [2.0, 3.0, 1.0]).pvalue, rel=1e-12)
  assert seeds.paired_t_test([1.0], [0.0]) is None and seeds.paired_t_test([2.0, 3.0], [1.0, 2.0]) is None


def test_curve_tables_read_the_plateau_and_the_ordering_by_their_rules():
  """Made-up sample scores at steps 400 and 800: wae moves 2% (a plateau), wae_resnet 20%;
  one pair's FID favours wae_resnet at both steps (established at 800), its KID turns."""
  from wae_jax.evaluation import seeds
  fids = {400: {'wae': (300.0, 310.0, 320.0), 'wae_resnet': (250.0, 270.0, 280.0)},
          800: {'wae': (294.0, 304.0, 313.6), 'wae_resnet': (200.0, 210.0, 230.0)}}
  kids = {400: {'wae': (0.1, 0.11, 0.12), 'wae_resnet': (0.2, 0.215, 0.23)},
          800: {'wae': (0.3, 0.31, 0.33), 'wae_resnet': (0.2, 0.22, 0.22)}}
  members = [seeds.Member(f'{e}_seed{k}', e, {}, k) for e in ('wae', 'wae_resnet') for k in range(3)]
  by_step = {step: {f'{e}_seed{k}': {'parts': {'samples': {'fid': fids[step][e][k], 'kid': kids[step][e][k]}}}
                    for e in ('wae', 'wae_resnet') for k in range(3)} for step in (400, 800)}
  differences = {step: seeds.paired_differences(members, at, [('wae_resnet', 'wae')]) for step, at in by_step.items()}
  tables = seeds.curve_tables(members, by_step, differences)
  assert seeds.PLATEAU in tables and seeds.ORDERING in tables
  assert '| wae | 310.000 ± 10.000 | 303.867 ± 9.801 | -2.0% | yes |' in tables
  assert '| wae_resnet | 266.667 ± 15.275 | 213.333 ± 15.275 | -20.0% | no |' in tables
  fid_line = next(line for line in tables.splitlines() if line.startswith('| wae_resnet - wae | FID'))
  assert fid_line.endswith('| holds: wae_resnet |') and ', established)' in fid_line.split('|')[4]
  kid_line = next(line for line in tables.splitlines() if line.startswith('| wae_resnet - wae | KID'))
  assert kid_line.endswith('| turns |')
  established = {'mean': 1.0, 'established': True, 'verdict': 'wae'}
  assert seeds.ordering([dict(established, established=False), established]) == 'holds: wae'
  assert seeds.ordering([dict(established, mean=-1.0, established=False), established]) == 'not established'
  assert seeds.ordering([established, dict(established, established=False)]) == 'not established'


def part_of(results, seeds):
  """The results.json a study of the same config with only `seeds` writes: its runs are the same."""
  return {**results, 'study': {**results['study'], 'seeds': list(seeds)},
          'runs': [run for run in results['runs'] if run['seed'] in seeds]}


def test_merge_refuses_parts_of_other_studies_a_run_twice_and_older_files(tmp_path):
  from wae_jax.study import merge
  part = {'study': {'preset': 'cpu', 'seeds': [0], 'configs_dir': '/a', 'eval_at': [0.5, 1.0]},
          'command': 'c', 'machine': {}, 'real': {'metrics': {'protocol': {'data': {'split': 'test'}}}},
          'runs': [{'name': 'wae_seed0', 'seed': 0, 'metrics_by_sampler': {}}]}
  paths = []
  for name, changes in [('a', {}), ('b', {'study': {**part['study'], 'seeds': [1], 'configs_dir': '/b',
                                                    'eval_at': [1.0]}}),
                        ('c', {'real': {'metrics': {'protocol': {'data': {'split': 'val'}}}}}),
                        ('old', {'runs': [{'name': 'wae_seed0', 'samples_by_sampler': {}}]})]:
    paths.append(str(tmp_path / f'{name}.json'))
    with open(paths[-1], 'w') as file:
      json.dump({**part, **changes}, file)
  a, b, c, old = paths
  with pytest.raises(ConfigError, match=r'b.json: another study than .*a.json \(study fields eval_at differ\)'):
    merge.merge([a, b], str(tmp_path / 'out'), 'merge')
  with pytest.raises(ConfigError, match=r'c.json: scored under another protocol'):
    merge.merge([a, c], str(tmp_path / 'out'), 'merge')
  with pytest.raises(ConfigError, match=r'a.json: run wae_seed0 is in another of the files too'):
    merge.merge([a, a], str(tmp_path / 'out'), 'merge')
  with pytest.raises(ConfigError, match=r'old.json: written by an older wae-jax.*rerun its study command'):
    merge.merge([a, old], str(tmp_path / 'out'), 'merge')
  with pytest.raises(ConfigError, match=r'missing.json: no study results to merge'):
    merge.merge([str(tmp_path / 'missing.json')], str(tmp_path / 'out'), 'merge')
  assert not os.path.exists(tmp_path / 'out')


def test_merge_takes_parts_whose_data_lies_in_other_folders_but_not_other_files(tmp_path):
  from wae_jax.study import merge
  def part(seed, path, split_file):
    return {'study': {'seeds': [seed], 'overrides': {'data': {'path': path, 'split_file': split_file,
                                                                'source': 'celeba'}}},
            'real': {'metrics': {'protocol': {}}}, 'runs': []}
  a = part(0, '/x/celeba/img.zip,/x/celeba/img_89x109.zip', '/x/celeba/split.txt')
  moved = part(1, '/y/shared/img.zip,/y/shared/img_89x109.zip', '/y/shared/split.txt')
  assert merge._one_study(['a', 'moved'], [a, moved]).overrides.data.path == a['study']['overrides']['data']['path']
  for other in (part(1, '/x/celeba/img.zip', '/x/celeba/split.txt'),
                part(1, '/x/celeba/img.zip,/x/celeba/img_89x109.zip', '/x/celeba/other_split.txt')):
    with pytest.raises(ConfigError, match=r'other.json: another study than a.json \(study fields overrides differ\)'):
      merge._one_study(['a.json', 'other.json'], [a, other])


@pytest.mark.slow  # 2 min: four trainings; the README's study command runs the runner by default
def test_tiny_preset_end_to_end_then_everything_is_skipped(tmp_path, monkeypatch):
  directory = str(tmp_path / 'study')
  features = PooledFeatures()
  results = study.run_study(small_tiny_study(), directory, features)

  tables = open(os.path.join(directory, 'tables.md')).read()
  assert [line for line in tables.splitlines() if line.startswith('## ')] == [
      '## Models as run', '## Loss terms at the end of training (the last logged window, mean over its steps)',
      '## Over the budget', '## Scores at step 2 (50% of the training)',
      '## Scores at step 4 (the end of training)']
  models_table = table_rows(tables.split('## Models as run')[1].split('\n## ')[0])
  assert [row.split('|')[1].strip() for row in models_table] == ['wae', 'wae_resnet']
  assert [int(row.split('|')[3].replace(',', '')) for row in models_table] == [
      results['models'][name]['encoder'] for name in ('wae', 'wae_resnet')]
  for at_step in tables.split('\n## Scores at ')[1:]:
    every_run = at_step.split('### Every run')[1].split('\n#### ')[1:]
    assert [section.split(':')[0] for section in every_run] == ['Table 4.3', 'Table 4.4', 'Table 4.5']
    for section in every_run:
      rows = table_rows(section)
      assert [row.split('|')[1].strip() for row in rows] == [
          'wae (wae_gan, seed 0)', 'wae_resnet (wae_gan, seed 0)', 'wae (wae_gan, seed 1)',
          'wae_resnet (wae_gan, seed 1)', 'real data']
      assert all(row.split('|')[-3].strip() == '16' for row in rows)  # equal N, printed
      assert 'Real data: the first 16 images of the train split' in section
      assert 'Not comparable' not in section  # each seed samples its own codes: still comparable
    assert '### wae_resnet - wae, per seed' in at_step and 'vae_resnet - vae' not in at_step
    assert '### Table 4.5: mean ± SD over seeds' in at_step

  # Paired differences: A - B per seed, recomputed from the runs' own metrics.
  by_name = {run['name']: run for run in results['runs']}
  rows = results['paired_differences']['4']
  fid_row = next(row for row in rows if row['part'] == 'samples' and row['score'] == 'fid')
  expected = [by_name[f'wae_resnet_seed{seed}']['metrics']['4']['parts']['samples']['fid']
              - by_name[f'wae_seed{seed}']['metrics']['4']['parts']['samples']['fid'] for seed in (0, 1)]
  assert fid_row['differences'] == pytest.approx(expected) and fid_row['seeds'] == [0, 1]
  assert fid_row['favour_a'] == sum(d < 0 for d in expected)
  assert fid_row['verdict'] == ('wae_resnet' if all(d < 0 for d in expected) else
                                'wae' if all(d > 0 for d in expected) else None)
  mse_row = next(row for row in rows if row['score'] == 'mse')
  assert mse_row['part'] == 'reconstructions'

  # Each run's weighted terms add up to the loss logged in the same window.
  for run in results['runs']:
    terms = run['loss_terms']
    assert set(terms) == {'reconstruction', 'penalty'}
    logged_loss = hooks.read_scalars(os.path.join(directory, 'runs', run['name']))['train/loss'][-1][1]
    assert sum(term['weight'] * term['value'] for term in terms.values()) == pytest.approx(logged_loss, rel=1e-5)
    assert sum(term['share'] for term in terms.values()) == pytest.approx(1.0)
    assert f"| {run['name']} | wae_gan | reconstruction " in tables

  figure = np.asarray(Image.open(os.path.join(directory, 'figure.png')))
  assert figure.shape[0] > 4 * 2 * 32 and figure.shape[1] > (6 + 6 + 12) * 32
  assert os.path.isfile(os.path.join(directory, 'curve.png'))
  assert '| wae_resnet - wae | FID | ' in tables.split('## Over the budget')[1].split('\n## ')[0]
  assert len(results['runs']) == 4 and results['real']['metrics']['parts']['real']['count'] == 16
  for run in results['runs']:
    assert run['train_seconds'] > 0 and all(seconds > 0 for seconds in run['eval_seconds'].values())
    assert run['config']['train']['num_steps'] == 4
    assert [run['metrics'][step]['step'] for step in ('2', '4')] == [2, 4]
    for part in evaluation.IMAGE_PARTS:
      assert np.isfinite(run['metrics']['4']['parts'][part]['fid'])
    assert np.isfinite(run['metrics']['4']['parts']['latent']['total_variance'])
  assert os.path.isfile(os.path.join(directory, 'runs', 'wae_seed0', 'eval_step2', 'metrics.json'))
  assert json.load(open(os.path.join(directory, 'results.json'))) == json.loads(json.dumps(results))

  # Its seeds run apart (each part's runs are the same runs) and merged: the same report.
  for seed in (0, 1):
    os.makedirs(tmp_path / f'part{seed}')
    with open(tmp_path / f'part{seed}' / 'results.json', 'w') as file:
      json.dump(part_of(results, [seed]), file)
  from wae_jax.study.merge import merge
  merged = merge([str(tmp_path / f'part{seed}' / 'results.json') for seed in (1, 0)],
                 str(tmp_path / 'merged'), 'python -m wae_jax.study.merge ...')
  for key in ('runs', 'paired_differences', 'real', 'models', 'reference'):
    assert merged[key] == json.loads(json.dumps(results[key])), key
  assert [source['command'] for source in merged['merged_from']] == [results['command']] * 2
  assert merged['study'] == json.loads(json.dumps(results['study']))
  merged_tables = (tmp_path / 'merged' / 'tables.md').read_text()
  assert merged_tables.replace('python -m wae_jax.study.merge ...', results['command']) == tables
  assert (tmp_path / 'merged' / 'curve.png').read_bytes() == open(os.path.join(directory, 'curve.png'), 'rb').read()
  assert not (tmp_path / 'merged' / 'figure.png').exists()

  # Again: no training, no scoring; the same numbers.
  def no_training(*args, **kwargs):
    raise AssertionError('a finished run was trained again')
  monkeypatch.setattr(train, 'train_and_evaluate', no_training)
  again_features = PooledFeatures()
  again = study.run_study(small_tiny_study(), directory, again_features)
  assert again_features.images == 0
  assert [run['metrics'] for run in again['runs']] == [run['metrics'] for run in results['runs']]
