r"""Optimizers on a parameter vector: SGD / Nesterov baselines, Entropy-SGD, HJ-prox.

All of them see only an :class:`Objective` (a loss callable and a possibly stochastic
gradient callable) and count gradient evaluations, so that comparisons are fair:

* one *effective epoch* is ``objective.batches_per_epoch`` gradient evaluations (one pass
  over the data for minibatch gradients, 1 for a deterministic landscape);
* ``run(objective, x0, epochs)`` spends ``epochs * batches_per_epoch`` evaluations. SGD
  takes that many steps; Entropy-SGD with ``L`` inner steps takes ``1/L`` as many outer
  steps (epochs × inner steps); HJ-prox with ``K`` fixed-point iterations ``1/K``.

The methods:

* :class:`SGD` — :math:`x \leftarrow x - \eta\,g` with optional (Nesterov) momentum;
  :class:`Nesterov` is SGD with Nesterov momentum 0.9.
* :class:`EntropySGD` — gradient descent on the local entropy :math:`f_\gamma`:
  :math:`\nabla f_\gamma(x) = (x - \mu)/\gamma` with :math:`\mu` the exponential average of
  an SGLD chain (:func:`~nedsym.relax.estimators.langevin_gradient`), Nesterov outer step,
  scoping :math:`\gamma_k = \gamma/(1 + s)^k` (so :math:`f_{\gamma_k} \to f`).
* :class:`HJProx` — the non-viscous limit: :math:`p = \nabla f(x - t p)` by a damped
  fixed point (:math:`\nabla` of the Moreau envelope), then :math:`x \leftarrow x - \eta p`.

Runs are seeded and deterministic, can be interrupted (Ctrl-C keeps the result so far),
detect blow-up and show optional progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nedsym.errors import BlowUpError, SolverError
from nedsym.relax.estimators import _gradient_caller, langevin_gradient
from nedsym.relax.loss import Loss
from nedsym.solve.iteration import Iteration, NonFiniteStep, finite, iterate

__all__ = ["Objective", "OptimizeResult", "Optimizer", "SGD", "Nesterov", "EntropySGD",
           "HJProx", "AuthorsESGD"]


class Objective:
    """What an optimizer minimizes.

    Parameters
    ----------
    loss: ``loss(x) -> float`` (the full loss, for the history).
    grad: ``grad(x)`` or ``grad(x, rng)`` (a stochastic gradient, e.g. on a minibatch drawn
        with ``rng``) returning an array shaped like ``x``.
    batches_per_epoch: gradient evaluations per effective epoch (``N / batch size``).

    Example
    -------
    >>> obj = Objective(lambda x: float(x @ x) / 2, lambda x: x)
    >>> SGD(lr=0.5).run(obj, np.ones(2), epochs=20).losses[-1] < 1e-10
    True
    """

    def __init__(self, loss: Callable, grad: Callable, batches_per_epoch: int = 1,
                 name: str = "objective"):
        if not callable(loss) or not callable(grad):
            raise SolverError("Objective needs callables loss(x) and grad(x[, rng])")
        if int(batches_per_epoch) < 1:
            raise SolverError(f"batches_per_epoch must be >= 1, got {batches_per_epoch}")
        self.loss, self.grad = loss, _gradient_caller(grad)
        self.batches_per_epoch = int(batches_per_epoch)
        self.name = name

    @classmethod
    def from_loss(cls, f: Loss, noise: float = 0.0) -> Objective:
        """From a :class:`~nedsym.relax.Loss` (optionally with Gaussian gradient noise)."""
        def grad(x, rng):
            g = f.grad(x)
            return g + noise * rng.standard_normal(g.shape) if noise else g
        return cls(f, grad, 1, f.name)


@dataclass
class OptimizeResult:
    """What :meth:`Optimizer.run` returns.

    Attributes
    ----------
    x: final parameters. losses: full loss at effective epochs ``0, 1, ...``.
    epochs: the effective epochs of ``losses``. trajectory: ``x`` after every outer step
    (``(steps + 1, n)``; only if recorded). grad_evals, steps: work done.
    stop_reason: ``"budget"`` or ``"interrupted"``. wall_time: seconds.
    """

    method: str
    x: np.ndarray
    losses: list[float] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    trajectory: np.ndarray | None = None
    grad_evals: int = 0
    steps: int = 0
    stop_reason: str = "budget"
    wall_time: float = 0.0


class Optimizer:
    """Base class: ``evals_per_step`` gradient evaluations per (outer) ``step``."""

    name = "optimizer"

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False):
        if not lr > 0:
            raise SolverError(f"{type(self).__name__}: lr must be positive, got {lr}")
        if not 0 <= momentum < 1:
            raise SolverError(f"{type(self).__name__}: momentum must be in [0, 1), got "
                              f"{momentum}")
        self.lr, self.momentum, self.nesterov = float(lr), float(momentum), bool(nesterov)

    @property
    def evals_per_step(self) -> int:
        return 1

    def direction(self, x, k: int, objective: Objective, rng, state: dict) -> np.ndarray:
        """The descent direction (a gradient estimate) at outer step ``k``."""
        raise NotImplementedError

    def _update(self, x, g, state):
        if self.momentum == 0:
            return x - self.lr * g
        v = state.get("v")
        v = g.copy() if v is None else self.momentum * v + g
        state["v"] = v
        return x - self.lr * (g + self.momentum * v if self.nesterov else v)

    def run(self, objective: Objective, x0, epochs: float, seed: int = 0,
            record_trajectory: bool = True, progress: bool | None = None,
            callback: Callable | None = None, checkpoint: str | None = None,
            checkpoint_every: int | None = None, resume: str | None = None) -> OptimizeResult:
        """Spend ``epochs`` effective epochs of gradient evaluations from ``x0``.

        ``callback(k, x)`` is called after every outer step. The run goes through
        :func:`nedsym.solve.iterate`: Ctrl-C stops it at the end of a step and returns what
        was done (``stop_reason="interrupted"``), NaN/Inf parameters raise
        :class:`~nedsym.errors.BlowUpError` (the last good ``x`` in ``error.state``), and
        ``checkpoint``/``resume`` save and continue ``x``, the random stream, the momentum
        and the chain (a resumed run equals an uninterrupted one).
        """
        if not isinstance(objective, Objective):
            raise SolverError(f"run needs a nedsym.relax.Objective, got "
                              f"{type(objective).__name__}")
        if not (np.isfinite(epochs) and epochs >= 0):
            raise SolverError(f"epochs must be a finite number >= 0, got {epochs!r}")
        method = _OptimizerSteps(self, objective, np.array(x0, dtype=float), seed,
                                 record_trajectory)
        steps = int(round(epochs * objective.batches_per_epoch)) // self.evals_per_step
        try:
            out = iterate(method, steps, progress=progress, checkpoint=checkpoint,
                          checkpoint_every=checkpoint_every, resume=resume,
                          callback=None if callback is None else
                          (lambda k, rec: callback(k, method.x)))
        except BlowUpError as exc:
            exc.state = method.x.copy()
            raise
        res = method.result
        res.x, res.steps = method.x, out.steps
        res.grad_evals = out.steps * self.evals_per_step
        res.stop_reason = "interrupted" if out.interrupted else "budget"
        res.wall_time = out.wall_time
        if method.traj is not None:
            res.trajectory = np.array(method.traj)
        return res

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({items})"


class _OptimizerSteps(Iteration):
    """An optimizer's outer steps on :func:`~nedsym.solve.iterate`."""

    def __init__(self, opt: Optimizer, objective: Objective, x: np.ndarray, seed: int,
                 record_trajectory: bool):
        self.opt, self.objective, self.x, self.seed = opt, objective, x, seed
        self.name = opt.name
        self.rng = np.random.default_rng(seed)
        self.state: dict = {}
        self.result = OptimizeResult(opt.name, x.copy(), [float(objective.loss(x))], [0.0])
        self.traj = [x.copy()] if record_trajectory else None
        self.next_epoch = 1

    def step(self, k: int) -> dict:
        opt, obj = self.opt, self.objective
        state = dict(self.state)
        g = opt.direction(self.x, k, obj, self.rng, state)
        x = opt._update(self.x, g, state)
        if not finite(x):
            raise NonFiniteStep("parameters became NaN/Inf")
        self.x, self.state = x, state
        if self.traj is not None:
            self.traj.append(x.copy())
        evals, per = (k + 1) * opt.evals_per_step, obj.batches_per_epoch
        rec = {}
        while evals >= self.next_epoch * per:
            rec["loss"] = float(obj.loss(x))
            self.result.losses.append(rec["loss"])
            self.result.epochs.append(float(self.next_epoch))
            self.next_epoch += 1
        return rec

    def advice(self, k: int, what: str) -> str:
        return (f"{self.name}: {what} at step {k} (lr={self.opt.lr}); reduce the learning "
                "rate (or the inner step) and check the gradient")

    def meta(self) -> dict:
        return {"optimizer": repr(self.opt), "seed": self.seed,
                "objective": self.objective.name}

    def state_dict(self) -> dict:
        st = {"x": self.x, "rng": self.rng.bit_generator.state,
              "losses": np.asarray(self.result.losses), "epochs":
              np.asarray(self.result.epochs), "next_epoch": self.next_epoch,
              **{f"mem_{k}": np.asarray(v) for k, v in self.state.items() if v is not None}}
        if self.traj is not None:
            st["trajectory"] = np.array(self.traj)
        return st

    def load_state_dict(self, st: dict) -> None:
        self.x = np.array(st["x"], dtype=float)
        self.rng.bit_generator.state = st["rng"]
        self.result.losses = [float(v) for v in st["losses"]]
        self.result.epochs = [float(v) for v in st["epochs"]]
        self.next_epoch = int(st["next_epoch"])
        self.state = {k[4:]: np.array(v) for k, v in st.items() if k.startswith("mem_")}
        if self.traj is not None and "trajectory" in st:
            self.traj = [row.copy() for row in st["trajectory"]]


class SGD(Optimizer):
    r"""(Stochastic) gradient descent :math:`x \leftarrow x - \eta g`, optional momentum
    (heavy ball, or Nesterov: :math:`v \leftarrow m v + g`, :math:`x \leftarrow x - \eta(g + m v)`).
    """

    name = "SGD"

    def direction(self, x, k, objective, rng, state):
        return objective.grad(x, rng)


class Nesterov(SGD):
    """SGD with Nesterov momentum (default 0.9)."""

    name = "Nesterov"

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr, momentum, nesterov=True)


class EntropySGD(Optimizer):
    r"""Entropy-SGD: descent on the local entropy :math:`f_\gamma` with an SGLD inner loop.

    Parameters
    ----------
    lr: outer step :math:`\eta` on :math:`\nabla f_\gamma = (x - \mu)/\gamma`.
    gamma: :math:`\gamma` (the HJ time / coupling :math:`1/\gamma`).
    beta: inverse temperature of the Gibbs measure.
    inner_steps: SGLD steps :math:`L` per outer step (each one gradient evaluation).
    inner_lr: SGLD step. alpha: weight of the newest sample in the average :math:`\mu`.
    scoping: :math:`\gamma_k = \gamma/(1 + s)^k`.
    momentum, nesterov: the outer step (default Nesterov 0.9).
    warm_start: start each chain where the previous one ended (default: at ``x``).

    Example
    -------
    >>> obj = Objective(lambda x: float(x @ x) / 2, lambda x: x)
    >>> r = EntropySGD(lr=1.0, momentum=0.0, gamma=1.0, beta=1e4, inner_steps=10,
    ...                inner_lr=0.1).run(
    ...     obj, np.ones(2), epochs=200)
    >>> r.steps, bool(r.losses[-1] < 1e-3)
    (20, True)
    """

    name = "Entropy-SGD"

    def __init__(self, lr: float = 1.0, gamma: float = 1.0, beta: float = 1.0,
                 inner_steps: int = 20, inner_lr: float = 0.01, alpha: float = 0.25,
                 scoping: float = 0.0, momentum: float = 0.9, nesterov: bool = True,
                 warm_start: bool = False):
        super().__init__(lr, momentum, nesterov)
        if int(inner_steps) < 1:
            raise SolverError(f"EntropySGD: inner_steps must be >= 1, got {inner_steps}")
        for name, v in (("gamma", gamma), ("beta", beta), ("inner_lr", inner_lr)):
            if not v > 0:
                raise SolverError(f"EntropySGD: {name} must be positive, got {v}")
        if not 0 < alpha <= 1:
            raise SolverError(f"EntropySGD: alpha must be in (0, 1], got {alpha}")
        self.gamma, self.beta = float(gamma), float(beta)
        self.inner_steps, self.inner_lr, self.alpha = int(inner_steps), float(inner_lr), alpha
        self.scoping, self.warm_start = float(scoping), bool(warm_start)
        self._check_coupling(self.gamma)

    def _check_coupling(self, gamma: float) -> None:
        # the coupling term alone makes the inner step y <- y - inner_lr (y - x)/gamma
        if self.inner_lr >= 2 * gamma:
            raise SolverError(
                f"EntropySGD: inner_lr={self.inner_lr} >= 2*gamma={2 * gamma:g} makes the "
                "Langevin chain unstable (the coupling (y - x)/gamma alone); lower inner_lr "
                "or raise gamma (or the scoping that shrinks it)")

    @property
    def evals_per_step(self) -> int:
        return self.inner_steps

    def gamma_at(self, k: int) -> float:
        """:math:`\\gamma_k` after ``k`` outer steps (scoping)."""
        return self.gamma / (1.0 + self.scoping) ** k

    def direction(self, x, k, objective, rng, state):
        gamma = self.gamma_at(k)
        self._check_coupling(gamma)
        est = langevin_gradient(objective.grad, x, gamma, self.beta,
                                self.inner_steps, self.inner_lr, self.alpha, rng,
                                y0=state.get("y") if self.warm_start else None)
        state["y"] = est.last
        return est.grad


class HJProx(Optimizer):
    r"""HJ-prox: descent along :math:`p = \nabla u(x, t)` of the Moreau envelope
    (the non-viscous Hamilton–Jacobi solution), :math:`p` from ``iterations`` damped
    fixed-point steps :math:`p \leftarrow (1-\theta)p + \theta\,g(x - tp)`
    (each one gradient evaluation; warm-started from the previous step's :math:`p`).

    Parameters: ``lr``, ``t`` (:math:`t`), ``iterations`` (:math:`K`), ``damping``
    (:math:`\theta`), ``scoping`` (:math:`t_k = t/(1+s)^k`), ``momentum``, ``nesterov``.
    """

    name = "HJ-prox"

    def __init__(self, lr: float = 1.0, t: float = 1.0, iterations: int = 5,
                 damping: float = 0.5, scoping: float = 0.0, momentum: float = 0.0,
                 nesterov: bool = False):
        super().__init__(lr, momentum, nesterov)
        if int(iterations) < 1:
            raise SolverError(f"HJProx: iterations must be >= 1, got {iterations}")
        if not t > 0:
            raise SolverError(f"HJProx: t must be positive, got {t}")
        if not 0 < damping <= 1:
            raise SolverError(f"HJProx: damping must be in (0, 1], got {damping}")
        self.t, self.iterations, self.damping = float(t), int(iterations), float(damping)
        self.scoping = float(scoping)

    @property
    def evals_per_step(self) -> int:
        return self.iterations

    def direction(self, x, k, objective, rng, state):
        t = self.t / (1.0 + self.scoping) ** k
        p = state.get("p")
        p = np.zeros_like(x) if p is None else p
        for _ in range(self.iterations):
            p = (1 - self.damping) * p + self.damping * objective.grad(x - t * p, rng)
        state["p"] = p
        return p


class AuthorsESGD(Optimizer):
    r"""The Entropy-SGD / HJ update exactly as the authors' code runs it
    (Chaudhari, Oberman, Osher, Soatto & Carlier, "Deep relaxation", 2018; the optimizer of
    their ``hamilton-jacobi`` repository), on nedsym's :class:`Objective`.

    Outer step :math:`k = 1, 2, \dots`: with :math:`g_k = g_0(1+g_1)^k` (scoping: the
    coupling *grows*), start :math:`w = \mu = x` and take ``L`` inner steps on fresh
    minibatches,

    .. math::
        d = \nabla f_{mb}(w) + \lambda w + g_k(w - x) + \frac{\epsilon}{\sqrt{\eta'/2}}\,\xi,
        \quad v \leftarrow m v + d,\quad w \leftarrow w - \eta'(d + m v),\quad
        \mu \leftarrow \beta_1\mu + (1-\beta_1)w,

    (Nesterov momentum :math:`m` in the inner loop too, its buffer :math:`v` kept across
    outer steps), then the outer Nesterov step on :math:`x - \mu` with rate ``lr``. The
    noise :math:`\epsilon\sqrt{2/\eta'}\,\xi` makes the chain sample
    :math:`\exp(-(f + \tfrac{g}{2}|w-x|^2)/\epsilon^2)`. ``beta1 = 0.75`` is Entropy-SGD;
    ``beta1 = 1e-4`` (the average is the last iterate) is their HJ optimizer, a
    stochastic proximal point. The authors' defaults: ``inner_lr = 0.1`` and
    ``beta1 = 0.75``; Table 1 runs ``lr = 0.1``, ``momentum = 0.9``, ``L = 20``,
    ``g0 = 1e-4``, ``g1 = 1e-3``, ``eps = 1e-4``. In nedsym's :class:`EntropySGD` notation
    :math:`\gamma = 1/g` and :math:`\beta = 1/\epsilon^2`, but the outer step here is on
    :math:`x - \mu` (not :math:`(x-\mu)/\gamma`) and the chain has momentum.

    What differs from their code: they evaluate the loss twice more per outer step for
    logging (not counted here), and draw minibatches from a shuffled epoch; here each
    gradient call draws a batch without replacement from the objective's ``rng``.

    Example
    -------
    >>> obj = Objective(lambda x: float(x @ x) / 2, lambda x: x)
    >>> opt = EntropySGD.preset("chaudhari2017", L=5, eps=0.0)
    >>> r = opt.run(obj, np.ones(2), epochs=400, progress=False)
    >>> r.steps, bool(r.losses[-1] < 1e-5)
    (80, True)
    """

    name = "Entropy-SGD (authors)"

    def __init__(self, lr: float = 0.1, momentum: float = 0.9, nesterov: bool = True,
                 L: int = 20, g0: float = 1e-4, g1: float = 1e-3, eps: float = 1e-4,
                 inner_lr: float = 0.1, beta1: float = 0.75, weight_decay: float = 0.0,
                 name: str | None = None):
        super().__init__(lr, momentum, nesterov)
        if int(L) < 1:
            raise SolverError(f"AuthorsESGD: L must be >= 1, got {L}")
        for key, v in (("g0", g0), ("inner_lr", inner_lr)):
            if not v > 0:
                raise SolverError(f"AuthorsESGD: {key} must be positive, got {v}")
        for key, v in (("g1", g1), ("eps", eps), ("weight_decay", weight_decay)):
            if not v >= 0:
                raise SolverError(f"AuthorsESGD: {key} must be >= 0, got {v}")
        if not 0 <= beta1 < 1:
            raise SolverError(f"AuthorsESGD: beta1 must be in [0, 1), got {beta1}")
        self.L, self.g0, self.g1, self.eps = int(L), float(g0), float(g1), float(eps)
        self.inner_lr, self.beta1, self.weight_decay = float(inner_lr), float(beta1), \
            float(weight_decay)
        if name:
            self.name = name

    @property
    def evals_per_step(self) -> int:
        return self.L

    def coupling_at(self, k: int) -> float:
        """:math:`g` of outer step ``k`` (0-based; the authors' counter starts at 1)."""
        return self.g0 * (1.0 + self.g1) ** (k + 1)

    def direction(self, x, k, objective, rng, state):
        g = self.coupling_at(k)
        w, mu = x.copy(), x.copy()
        v = state.get("inner_v")
        v = np.zeros_like(x) if v is None else v.copy()
        noise = self.eps / np.sqrt(0.5 * self.inner_lr)
        m = self.momentum
        for _ in range(self.L):
            d = objective.grad(w, rng)
            if self.weight_decay:
                d = d + self.weight_decay * w
            d = d + g * (w - x) + noise * rng.standard_normal(x.shape)
            if m > 0:
                v = m * v + d
                d = d + m * v if self.nesterov else v
            w = w - self.inner_lr * d
            mu = self.beta1 * mu + (1.0 - self.beta1) * w
        state["inner_v"] = v
        return x - mu


#: the authors' recipes (Chaudhari et al. 2018, Table 1; batch 128 in their runs)
_PRESETS = {
    "chaudhari2017": dict(lr=0.1, momentum=0.9, nesterov=True, L=20, g0=1e-4, g1=1e-3,
                          eps=1e-4, inner_lr=0.1),
}


def _preset(kind: str, name: str, overrides: dict) -> AuthorsESGD:
    try:
        base = dict(_PRESETS[name])
    except KeyError:
        raise SolverError(f"unknown preset {name!r}; presets: {sorted(_PRESETS)}") from None
    unknown = set(overrides) - set(base) - {"beta1", "weight_decay"}
    if unknown:
        raise SolverError(f"preset {name!r} has no option(s) {sorted(unknown)}; options: "
                          f"{sorted(set(base) | {'beta1', 'weight_decay'})}")
    base.update(overrides)
    if kind == "hj":
        base.setdefault("beta1", 1e-4)
        return AuthorsESGD(**base, name="HJ (authors)")
    return AuthorsESGD(**base, name="Entropy-SGD (authors)")


def _esgd_preset(cls, name: str = "chaudhari2017", **overrides) -> AuthorsESGD:
    """The authors' Entropy-SGD recipe ``name`` (an :class:`AuthorsESGD`), with
    ``overrides`` of its options (e.g. ``L=5``)."""
    return _preset("esgd", name, overrides)


def _hj_preset(cls, name: str = "chaudhari2017", **overrides) -> AuthorsESGD:
    """The authors' HJ optimizer (their ``HJB``: the Entropy-SGD loop with
    ``beta1 = 1e-4``, so the outer step follows the chain's last iterate: a stochastic
    proximal point) with the recipe ``name``."""
    return _preset("hj", name, overrides)


EntropySGD.preset = classmethod(_esgd_preset)
HJProx.preset = classmethod(_hj_preset)
