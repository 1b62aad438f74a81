"""The periodic work of the training loop, one hook per job, each owning its state (contract in
hook.py); the loop orders them where one job depends on another."""

from wae_jax.hooks.checkpoints import Checkpoints, PreemptionStop
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter, configured_hooks, read_scalars
from wae_jax.hooks.live_model import ImageGrids, LiveModel, PeriodicEvals, PeriodicEvaluator
from wae_jax.hooks.logs import CORRUPT_LIST, DataReport, MetricLog, NonFiniteLossError, Progress
from wae_jax.hooks.profile import ProfileWindow
