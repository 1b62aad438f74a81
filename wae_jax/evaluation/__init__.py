"""Evaluation (thesis §4.4): scores of samples, reconstructions, interpolations and real data.

    python launch.py --config=configs/wae_resnet.py --mode=stats            # reference statistics
    python launch.py --config=configs/wae_resnet.py --workdir=DIR --mode=eval
    python launch.py --mode=compare --compare=DIR1,DIR2 --output=tables.md

- scores.py: the one registry of scores (FID, KID, precision / recall, both sharpness scores).
- reference.py: reference statistics of real images (paths, protocol check, `--mode=stats`).
- evaluator.py: the Evaluator and `evaluate(config, workdir)` (metrics.json, figures).
- tables.py: Tables 4.3-4.5 of several runs (`--mode=compare`).
- figure.py: their figure, a band of pictures per run (`--mode=compare`, studies).
- seeds.py: several seeds: mean ± SD per model, paired differences of named pairs (studies).
"""

from wae_jax.evaluation.evaluator import (
    EVAL_DIR, METRICS_FILE, MODEL_PARTS, PARTS, Evaluator, batch_seed, evaluate, interpolation_codes,
    read_metrics, write_json)
from wae_jax.evaluation.reference import (
    EvaluationError, compute_reference_stats, data_protocol, default_reference_stats_path,
    load_reference, make_feature_extractor, reference_stats_path)
from wae_jax.evaluation.figure import figure_row, save_comparison_figure
from wae_jax.evaluation.scores import SCORES, ImageScores, Reference
from wae_jax.evaluation.tables import TABLES, compare, compare_tables
from wae_jax.evaluation.seeds import Member, group_label, paired_differences, paired_tables, summary_tables

__all__ = [
    'EVAL_DIR', 'METRICS_FILE', 'MODEL_PARTS', 'PARTS', 'SCORES', 'TABLES', 'EvaluationError',
    'Evaluator', 'ImageScores', 'Member', 'Reference', 'group_label', 'paired_differences',
    'paired_tables', 'summary_tables', 'batch_seed', 'compare', 'compare_tables',
    'compute_reference_stats', 'data_protocol', 'default_reference_stats_path', 'evaluate',
    'figure_row', 'interpolation_codes', 'load_reference', 'make_feature_extractor', 'read_metrics',
    'reference_stats_path', 'save_comparison_figure', 'write_json']
