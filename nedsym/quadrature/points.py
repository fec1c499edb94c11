"""Quadrature points and integral estimates: the two values every rule and estimator share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nedsym.errors import QuadratureError


@dataclass(frozen=True)
class Points:
    r"""Quadrature nodes ``x`` (shape ``(n, d)``) and weights ``w`` (shape ``(n,)``).

    They approximate an integral as :math:`\int_\Omega f\,dx \approx \sum_i w_i f(x_i)`.
    Points on a boundary also carry the outward unit ``normals`` (shape ``(n, d)``),
    and the weights are then surface weights (:math:`\oint f\,ds \approx \sum_i w_i f(x_i)`).

    Example
    -------
    >>> import numpy as np
    >>> p = Points(np.array([[0.25], [0.75]]), np.array([0.5, 0.5]))
    >>> float(p.w @ p.x[:, 0] ** 2)
    0.3125
    """

    x: np.ndarray
    w: np.ndarray
    normals: np.ndarray | None = None

    def __post_init__(self) -> None:
        x = np.ascontiguousarray(self.x, dtype=np.float64)
        w = np.ascontiguousarray(self.w, dtype=np.float64)
        if x.ndim != 2 or w.shape != (x.shape[0],):
            raise QuadratureError(
                f"Points need x of shape (n, d) and w of shape (n,); got x {x.shape}, w {w.shape}"
            )
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "w", w)
        if self.normals is not None:
            nrm = np.ascontiguousarray(self.normals, dtype=np.float64)
            if nrm.shape != x.shape:
                raise QuadratureError(
                    f"normals must have the shape of x {x.shape}; got {nrm.shape}"
                )
            object.__setattr__(self, "normals", nrm)

    @property
    def n(self) -> int:
        """Number of points."""
        return self.x.shape[0]

    @property
    def dim(self) -> int:
        """Ambient dimension of the points."""
        return self.x.shape[1]

    def __len__(self) -> int:
        return self.n

    @staticmethod
    def concatenate(parts: list[Points]) -> Points:
        """Join point sets (e.g. the faces of a boundary) into one."""
        normals = None
        if all(p.normals is not None for p in parts):
            normals = np.concatenate([p.normals for p in parts])
        return Points(
            np.concatenate([p.x for p in parts]), np.concatenate([p.w for p in parts]), normals
        )


@dataclass(frozen=True)
class IntegralEstimate:
    r"""An estimate of :math:`\int f` with its uncertainty.

    Attributes
    ----------
    value: the estimate.
    stderr: standard error (``None`` for deterministic rules).
    ci: ``(low, high)`` confidence interval at level ``confidence`` (``None`` if no
        random error is available).
    n: points per randomization; ``repeats``: number of independent randomizations;
    n_total: points evaluated in all (``n * repeats``, plus any refinement).
    rule: rule name. error_estimate: a-posteriori :math:`|Q_n - Q_{2n}|` for
    deterministic rules when requested, else ``None``.

    Example
    -------
    >>> e = IntegralEstimate(1.0, 0.1, (0.8, 1.2), 100, 1, 100, "mc")
    >>> e.contains(1.1)
    True
    """

    value: float
    stderr: float | None
    ci: tuple[float, float] | None
    n: int
    repeats: int
    n_total: int
    rule: str
    confidence: float = 0.95
    error_estimate: float | None = None
    samples: np.ndarray | None = field(default=None, repr=False, compare=False)

    def contains(self, exact: float) -> bool:
        """Whether ``exact`` lies in the confidence interval (``False`` if there is none)."""
        return self.ci is not None and self.ci[0] <= exact <= self.ci[1]

    def __float__(self) -> float:
        return float(self.value)
