"""Deep relaxation: local entropy, the viscous Hamilton–Jacobi equation, Entropy-SGD, HJ-prox."""

from nedsym.relax.classify import Classifier, classifier_objective, synthetic_blobs
from nedsym.relax.entropy import (
    LocalEntropy,
    MoreauPoint,
    hopf_lax,
    local_entropy,
    moreau_envelope,
    quadratic_local_entropy,
)
from nedsym.relax.estimators import (
    EntropyGradient,
    importance_sampling_gradient,
    langevin_gradient,
)
from nedsym.relax.flatness import hessian_top_eigenvalues
from nedsym.relax.hj_grid import HJGridSolver, HJSolution, numerical_hamiltonian
from nedsym.relax.loss import Loss, as_loss
from nedsym.relax.optim import (
    SGD,
    AuthorsESGD,
    EntropySGD,
    HJProx,
    Nesterov,
    Objective,
    Optimizer,
    OptimizeResult,
)

__all__ = [
    "Loss", "as_loss", "HJGridSolver", "HJSolution", "numerical_hamiltonian",
    "LocalEntropy", "MoreauPoint", "hopf_lax", "local_entropy", "moreau_envelope",
    "quadratic_local_entropy",
    "EntropyGradient", "importance_sampling_gradient", "langevin_gradient",
    "Classifier", "classifier_objective", "synthetic_blobs",
    "Objective", "OptimizeResult", "Optimizer", "SGD", "Nesterov", "EntropySGD", "HJProx",
    "AuthorsESGD", "hessian_top_eigenvalues",
]
