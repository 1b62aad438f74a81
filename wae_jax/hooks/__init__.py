"""The periodic work of the training loop, one hook per job, each owning its state.

After every step the loop calls `hook(step, outcome)` on each hook in order, and `close()` on
each once it ends (`hook.py` holds the contract). The order matters where a job depends on
another: the metric log (with its NaN check) before a save, the save before the stop on a signal.
"""

from wae_jax.hooks.checkpoints import Checkpoints
from wae_jax.hooks.data_report import CORRUPT_LIST, DataReport
from wae_jax.hooks.evals import PeriodicEvals, PeriodicEvaluator
from wae_jax.hooks.grids import ImageGrids
from wae_jax.hooks.hook import Every, Hook, Outcome, ScalarWriter
from wae_jax.hooks.metrics import MetricLog, NonFiniteLossError
from wae_jax.hooks.model import LiveModel
from wae_jax.hooks.preemption_stop import PreemptionStop
from wae_jax.hooks.profile import ProfileWindow
from wae_jax.hooks.progress import Progress
