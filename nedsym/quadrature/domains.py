r"""Concrete domains: boxes, balls, spheres, annuli/shells and simplices (exact measures)."""

from __future__ import annotations

from collections.abc import Sequence
from math import factorial, gamma, pi

import numpy as np

from nedsym.errors import QuadratureError
from nedsym.quadrature.boundary import BoundaryDomain
from nedsym.quadrature.domain import Domain
from nedsym.quadrature.maps import (
    hyperspherical_product,
    simplex_product,
    simplex_uniform,
    sphere_param_dim,
    sphere_uniform,
)


def ball_volume(d: int, radius: float = 1.0) -> float:
    r""":math:`|B_R| = \pi^{d/2} R^d / \Gamma(d/2+1)`. Example: ``ball_volume(2) == pi``."""
    return pi ** (d / 2) * radius**d / gamma(d / 2 + 1)


def sphere_area(d: int, radius: float = 1.0) -> float:
    r""":math:`|S_R| = 2\pi^{d/2} R^{d-1} / \Gamma(d/2)` (sphere in :math:`\mathbb R^d`)."""
    return 2 * pi ** (d / 2) * radius ** (d - 1) / gamma(d / 2)


def _center(center: Sequence[float], name: str) -> np.ndarray:
    c = np.asarray(center, dtype=float).ravel()
    if c.size < 2:
        raise QuadratureError(
            f"{name} needs a center with at least 2 coordinates (use Box "
            f"for intervals); got {list(c)}"
        )
    return c


def _positive(value: float, what: str) -> float:
    if not np.isfinite(value) or value <= 0:
        raise QuadratureError(f"{what} must be a positive number; got {value!r}")
    return float(value)


class Box(Domain):
    r"""The box :math:`\prod_j [a_j, b_j]` in any dimension.

    Example
    -------
    >>> Box([(0, 1), (0, 2)]).volume
    2.0
    """

    def __init__(self, bounds: Sequence[tuple[float, float]]):
        b = np.asarray(bounds, dtype=float)
        if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] == 0 or np.any(b[:, 1] <= b[:, 0]):
            raise QuadratureError(
                f"Box bounds must be a list of (low, high) with low < high; got {bounds!r}"
            )
        self.bounds = b
        self.lo, self.hi = b[:, 0], b[:, 1]
        self.dim = self.param_dim = self.product_dim = b.shape[0]
        self.measure = float(np.prod(self.hi - self.lo))

    def __repr__(self) -> str:
        return f"Box({self.bounds.tolist()})"

    def uniform_map(self, u):
        return self.lo + u * (self.hi - self.lo), None

    def product_map(self, t):
        return self.lo + t * (self.hi - self.lo), np.full(t.shape[0], self.measure), None

    def contains(self, x, tol=1e-9):
        return np.all((x >= self.lo - tol) & (x <= self.hi + tol), axis=1)

    def boundary(self) -> BoundaryDomain:
        """The :math:`2d` faces, normals :math:`\\pm e_j`."""
        faces = [BoxFace(self, j, s) for j in range(self.dim) for s in (0, 1)]
        return BoundaryDomain(faces, name=f"boundary of {self!r}")


class BoxFace(Domain):
    """The face ``x_axis = bounds[axis][side]`` of a :class:`Box`, outward normal."""

    has_normals = True

    def __init__(self, box: Box, axis: int, side: int):
        self.box, self.axis, self.side = box, axis, side
        self.dim = box.dim
        self.free = [j for j in range(box.dim) if j != axis]
        self.param_dim = self.product_dim = box.dim - 1
        self.lo, self.hi = box.lo[self.free], box.hi[self.free]
        self.measure = float(np.prod(self.hi - self.lo))  # 1 for the end points of an interval
        self.value = box.bounds[axis, side]
        self.normal = np.zeros(box.dim)
        self.normal[axis] = 1.0 if side else -1.0

    def _embed(self, y):
        x = np.empty((y.shape[0], self.dim))
        x[:, self.free] = y
        x[:, self.axis] = self.value
        return x, np.tile(self.normal, (y.shape[0], 1))

    def uniform_map(self, u):
        return self._embed(self.lo + u * (self.hi - self.lo))

    def product_map(self, t):
        x, nrm = self._embed(self.lo + t * (self.hi - self.lo))
        return x, np.full(t.shape[0], self.measure), nrm

    def contains(self, x, tol=1e-9):
        return self.box.contains(x, tol) & (np.abs(x[:, self.axis] - self.value) <= tol)


class Sphere(Domain):
    r"""The sphere :math:`\{|x-c| = R\}` in :math:`\mathbb R^d` (a surface), outward normals.

    Sampling rules use area-preserving maps (normalized Gaussians for :math:`d\ge4`),
    product rules hyperspherical angles. ``outward=False`` flips the normals (inner
    boundary of an :class:`Annulus`).

    Example
    -------
    >>> round(Sphere((0, 0, 0), 1.0).area, 6)   # 4 pi
    12.566371
    """

    has_normals = True

    def __init__(self, center: Sequence[float], radius: float, outward: bool = True):
        self.center = _center(center, "Sphere")
        self.radius = _positive(radius, "Sphere radius")
        self.sign = 1.0 if outward else -1.0
        self.dim = self.center.size
        self.param_dim = sphere_param_dim(self.dim)
        self.product_dim = self.dim - 1
        self.measure = sphere_area(self.dim, self.radius)

    def __repr__(self) -> str:
        return f"Sphere({self.center.tolist()}, {self.radius})"

    @property
    def area(self) -> float:
        """Surface area :math:`2\\pi^{d/2}R^{d-1}/\\Gamma(d/2)`."""
        return self.measure

    @property
    def periodic_axes(self):
        return [False] * (self.dim - 2) + [True]

    def uniform_map(self, u):
        xi = sphere_uniform(u, self.dim)
        return self.center + self.radius * xi, self.sign * xi

    def product_map(self, t):
        xi, jac = hyperspherical_product(t, self.dim)
        return self.center + self.radius * xi, jac * self.radius ** (self.dim - 1), self.sign * xi

    def contains(self, x, tol=1e-9):
        return np.abs(np.linalg.norm(x - self.center, axis=1) - self.radius) <= tol

    def boundary(self):
        raise QuadratureError("a Sphere is a closed surface and has no boundary")


class Annulus(Domain):
    r"""The annulus (2-D) or spherical shell (n-D) :math:`\{r_{in} \le |x-c| \le r_{out}\}`.

    Sampling: radial CDF inversion :math:`r = (r_{in}^d + u(r_{out}^d-r_{in}^d))^{1/d}`;
    product rules: polar/hyperspherical coordinates. ``r_in = 0`` gives a :class:`Ball`.

    Example
    -------
    >>> round(Annulus((0, 0), 1, 2).area, 6)   # 3 pi
    9.424778
    """

    def __init__(self, center: Sequence[float], r_in: float, r_out: float):
        self.center = _center(center, type(self).__name__)
        self.r_in = float(r_in)
        self.r_out = _positive(r_out, "outer radius")
        if not 0 <= self.r_in < self.r_out:
            raise QuadratureError(
                f"Annulus needs 0 <= r_in < r_out; got r_in={r_in}, r_out={r_out}"
            )
        self.dim = d = self.center.size
        self.param_dim = sphere_param_dim(d) + 1
        self.product_dim = d
        self.measure = ball_volume(d, self.r_out) - ball_volume(d, self.r_in)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.center.tolist()}, {self.r_in}, {self.r_out})"

    @property
    def area(self) -> float:
        """Alias of :attr:`volume` (2-D)."""
        return self.measure

    @property
    def periodic_axes(self):
        return [False] * (self.dim - 1) + [True]

    def uniform_map(self, u):
        d = self.dim
        r = (self.r_in**d + u[:, 0] * (self.r_out**d - self.r_in**d)) ** (1.0 / d)
        return self.center + r[:, None] * sphere_uniform(u[:, 1:], d), None

    def product_map(self, t):
        d = self.dim
        r = self.r_in + (self.r_out - self.r_in) * t[:, 0]
        xi, jac = hyperspherical_product(t[:, 1:], d)
        return self.center + r[:, None] * xi, jac * (self.r_out - self.r_in) * r ** (d - 1), None

    def contains(self, x, tol=1e-9):
        r = np.linalg.norm(x - self.center, axis=1)
        return (r >= self.r_in - tol) & (r <= self.r_out + tol)

    def boundary(self) -> BoundaryDomain:
        """Outer sphere (normal outward) and inner sphere (normal towards the center)."""
        pieces = [Sphere(self.center, self.r_out)]
        if self.r_in > 0:
            pieces.append(Sphere(self.center, self.r_in, outward=False))
        return BoundaryDomain(pieces, name=f"boundary of {self!r}")


class Ball(Annulus):
    r"""The ball :math:`\{|x-c| \le R\}`, :math:`d \ge 2` (use :class:`Box` in 1-D).

    Volume :math:`\pi^{d/2}R^d/\Gamma(d/2+1)`. Sampling rules: radial CDF inversion
    :math:`r = R u^{1/d}` and an area-preserving direction map; product rules (Gauss,
    midpoint) through the polar/hyperspherical map with its Jacobian, so Gauss stays
    exact for polynomials (in :math:`r`) and spectrally accurate in the angles.

    Example
    -------
    >>> round(Ball((0, 0), 1.0).volume, 6)
    3.141593
    """

    def __init__(self, center: Sequence[float], radius: float):
        super().__init__(center, 0.0, radius)
        self.radius = self.r_out

    def __repr__(self) -> str:
        return f"Ball({self.center.tolist()}, {self.radius})"


class Simplex(Domain):
    r"""The simplex with ``d+1`` vertices in :math:`\mathbb R^d`, volume :math:`|\det E|/d!`.

    Sampling rules use the Rosenblatt map (uniformity-preserving, continuous), product
    rules the Duffy map (Gauss exact for polynomials of degree :math:`\le 2m-1-(d-1)`).

    Example
    -------
    >>> Simplex([(0, 0), (1, 0), (0, 1)]).volume
    0.5
    """

    def __init__(self, vertices: Sequence[Sequence[float]], *, _normal: np.ndarray | None = None):
        v = np.asarray(vertices, dtype=float)
        if v.ndim != 2:
            raise QuadratureError(f"Simplex vertices must be an array (k+1, d); got {vertices!r}")
        k, d = v.shape[0] - 1, v.shape[1]
        if _normal is None and k != d:
            raise QuadratureError(
                f"dimension mismatch: a simplex in {d} dimensions needs {d + 1} "
                f"vertices; got {k + 1}"
            )
        self.vertices, self.dim, self.k = v, d, k
        self.param_dim = self.product_dim = k
        self.edges = (v[1:] - v[0]).T  # (d, k)
        gram = self.edges.T @ self.edges
        self.measure = float(np.sqrt(max(np.linalg.det(gram), 0.0)) / factorial(k)) if k else 1.0
        if self.measure <= 1e-300:
            raise QuadratureError(f"degenerate simplex (zero volume) with vertices {v.tolist()}")
        self.normal = _normal
        self.has_normals = _normal is not None

    def __repr__(self) -> str:
        return f"Simplex({self.vertices.tolist()})"

    def _embed(self, lam):
        x = self.vertices[0] + lam @ self.edges.T
        nrm = None if self.normal is None else np.tile(self.normal, (lam.shape[0], 1))
        return x, nrm

    def uniform_map(self, u):
        return self._embed(simplex_uniform(u))

    def product_map(self, t):
        lam, jac = simplex_product(t)
        x, nrm = self._embed(lam)
        return x, jac * factorial(self.k) * self.measure, nrm

    def barycentric(self, x: np.ndarray) -> np.ndarray:
        """Barycentric coordinates (shape ``(n, d+1)``) of the rows of ``x``."""
        lam = np.linalg.lstsq(self.edges, (x - self.vertices[0]).T, rcond=None)[0].T
        return np.column_stack([1.0 - lam.sum(axis=1), lam])

    def contains(self, x, tol=1e-9):
        return np.all(self.barycentric(x) >= -tol, axis=1)

    def boundary(self) -> BoundaryDomain:
        """The ``d+1`` facets with outward normals."""
        if self.normal is not None:
            raise QuadratureError("a simplex facet's boundary is not supported")
        facets = []
        for i in range(self.k + 1):
            f = np.delete(self.vertices, i, axis=0)
            normal = (
                np.linalg.svd((f[1:] - f[0]).reshape(-1, self.dim))[2][-1]
                if self.dim > 1
                else np.ones(1)
            )
            if normal @ (self.vertices[i] - f[0]) > 0:
                normal = -normal
            facets.append(Simplex(f, _normal=normal))
        return BoundaryDomain(facets, name=f"boundary of {self!r}")
