"""Evaluation (thesis §4.4): scores of samples, reconstructions, interpolations and real data,
the tables and figure of several runs, and summaries over seeds (module map: docs/code_map.md)."""

from wae_jax.evaluation.evaluators.interpolations import interpolation_codes
from wae_jax.evaluation.evaluators.samples import batch_seed
from wae_jax.evaluation.results import (
    EVAL_DIR, IMAGE_PARTS, METRICS_FILE, MODEL_PARTS, PARTS, eval_dir, migrate, read_metrics)
from wae_jax.evaluation.runner import (
    Evaluator, PeriodicEvaluator, evaluate, periodic_evaluators, with_configured_batch_stats)
from wae_jax.evaluation.reference import (
    EvaluationError, compute_reference_stats, data_protocol, default_reference_stats_path,
    load_reference, make_feature_extractor, reference_stats_path)
from wae_jax.evaluation.figure import figure_row, save_comparison_figure
from wae_jax.evaluation.scores import SCORES, ImageScores, Reference
from wae_jax.evaluation.tables import TABLES, compare, compare_tables
from wae_jax.evaluation.seeds import (
    Member, curve_tables, group_label, latent_table, paired_differences, paired_tables,
    sample_fid_curves, summary_tables)

__all__ = [
    'EVAL_DIR', 'IMAGE_PARTS', 'METRICS_FILE', 'MODEL_PARTS', 'PARTS', 'SCORES', 'TABLES',
    'EvaluationError', 'Evaluator', 'ImageScores', 'Member', 'PeriodicEvaluator', 'Reference',
    'batch_seed', 'compare', 'compare_tables', 'compute_reference_stats', 'curve_tables', 'data_protocol',
    'default_reference_stats_path', 'eval_dir', 'evaluate', 'figure_row', 'group_label',
    'interpolation_codes', 'latent_table', 'load_reference', 'make_feature_extractor', 'migrate',
    'paired_differences', 'paired_tables', 'periodic_evaluators', 'read_metrics',
    'reference_stats_path', 'sample_fid_curves', 'save_comparison_figure', 'summary_tables',
    'with_configured_batch_stats']
