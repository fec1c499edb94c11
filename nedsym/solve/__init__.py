"""Time integration: steppers, the integration controller, trackers, checkpoints, results;
and :func:`iterate`, the loop of methods that advance by iterations (NED, optimizers).

Steppers see only callables: ``rhs(t, y, out)`` writes :math:`\\dot y` into ``out``.
"""

from nedsym.solve.checkpoint import load_checkpoint, save_checkpoint
from nedsym.solve.convex import ConvexSplit
from nedsym.solve.iteration import Iteration, IterationOutcome, NonFiniteStep, iterate
from nedsym.solve.result import Result
from nedsym.solve.sav import SAV, SAV2, AdaptiveSAV, AdaptiveSAV2
from nedsym.solve.solver import STEPPERS, integrate, make_stepper
from nedsym.solve.spectral import SemiImplicitSpectral
from nedsym.solve.steppers import (
    RK4,
    BogackiShampine32,
    DormandPrince45,
    EmbeddedRK,
    ExplicitEuler,
    Stepper,
)
from nedsym.solve.trackers import (
    CheckpointTracker,
    EnergyTracker,
    ProgressTracker,
    ResidualTracker,
    RunState,
    SnapshotTracker,
    Tracker,
)

__all__ = [
    "integrate", "make_stepper", "STEPPERS", "Result",
    "iterate", "Iteration", "IterationOutcome", "NonFiniteStep",
    "Stepper", "ExplicitEuler", "RK4", "EmbeddedRK", "DormandPrince45", "BogackiShampine32",
    "SemiImplicitSpectral", "SAV", "SAV2", "AdaptiveSAV", "AdaptiveSAV2", "ConvexSplit",
    "Tracker", "RunState", "EnergyTracker", "ResidualTracker", "SnapshotTracker",
    "ProgressTracker", "CheckpointTracker", "save_checkpoint", "load_checkpoint",
]
