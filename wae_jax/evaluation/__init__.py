"""Evaluation (thesis §4.4): scores of samples, reconstructions, interpolations and real data.

    python launch.py --config=configs/wae_resnet.py --mode=stats            # reference statistics
    python launch.py --config=configs/wae_resnet.py --workdir=DIR --mode=eval
    python launch.py --mode=compare --compare=DIR1,DIR2 --output=tables.md

- scores.py: the one registry of scores (FID, KID, precision / recall, both sharpness scores).
- reference.py: reference statistics of real images (paths, protocol check, `--mode=stats`).
- evaluators/: one module per evaluator kind (a config.evals block's `type`).
- streaming.py: the streaming loop the image parts share (scores, figure images, saved images).
- runner.py: the Evaluator of config.evals, `evaluate(config, workdir)`, the training's evaluators.
- results.py: metrics.json (schema, migration, reuse, reading) and the eval directories' names.
- tables.py: Tables 4.3-4.5 of several runs (`--mode=compare`).
- figure.py: their figure, a band of pictures per run (`--mode=compare`, studies).
- seeds.py: several seeds: mean ± SD per model, paired differences of named pairs (studies).
"""

from wae_jax.evaluation.evaluators.interpolations import interpolation_codes
from wae_jax.evaluation.evaluators.samples import batch_seed
from wae_jax.evaluation.results import (
    EVAL_DIR, IMAGE_PARTS, METRICS_FILE, MODEL_PARTS, PARTS, eval_dir, migrate, read_metrics, write_json)
from wae_jax.evaluation.runner import (
    Evaluator, PeriodicEvaluator, evaluate, periodic_evaluators, with_configured_batch_stats)
from wae_jax.evaluation.reference import (
    EvaluationError, compute_reference_stats, data_protocol, default_reference_stats_path,
    load_reference, make_feature_extractor, reference_stats_path)
from wae_jax.evaluation.figure import figure_row, save_comparison_figure
from wae_jax.evaluation.scores import SCORES, ImageScores, Reference
from wae_jax.evaluation.tables import TABLES, compare, compare_tables
from wae_jax.evaluation.seeds import Member, group_label, paired_differences, paired_tables, summary_tables

__all__ = [
    'EVAL_DIR', 'IMAGE_PARTS', 'METRICS_FILE', 'MODEL_PARTS', 'PARTS', 'SCORES', 'TABLES',
    'EvaluationError', 'Evaluator', 'ImageScores', 'Member', 'PeriodicEvaluator', 'Reference',
    'batch_seed', 'compare', 'compare_tables', 'compute_reference_stats', 'data_protocol',
    'default_reference_stats_path', 'eval_dir', 'evaluate', 'figure_row', 'group_label',
    'interpolation_codes', 'load_reference', 'make_feature_extractor', 'migrate',
    'paired_differences', 'paired_tables', 'periodic_evaluators', 'read_metrics',
    'reference_stats_path', 'save_comparison_figure', 'summary_tables', 'with_configured_batch_stats',
    'write_json']
