r"""The scalar auxiliary variable (SAV) scheme: unconditionally energy-stable steps of a
gradient flow :math:`\partial_t u = -\mathcal{G}\mu`, :math:`\mu = \delta E/\delta u`.

The energy is split as :math:`E(u) = \tfrac12(u, \mathcal{L}u) + E_1(u)` with
:math:`\mathcal{L}` linear, constant-coefficient and positive semi-definite (diagonal in
Fourier space with symbol :math:`\hat L`) and :math:`E_1 + C > 0`. With
:math:`r = \sqrt{E_1(u) + C}` and :math:`b^n = E_1'(u^n)/\sqrt{E_1(u^n) + C}`, first-order
SAV (Shen, Xu & Yang 2018) reads

.. math::
    \frac{u^{n+1} - u^n}{\Delta t} = -\mathcal{G}\bigl(\mathcal{L}u^{n+1} + r^{n+1} b^n\bigr),
    \qquad r^{n+1} - r^n = \tfrac12\,(b^n, u^{n+1} - u^n).

It is linear in :math:`u^{n+1}`, and one scalar equation removes :math:`r^{n+1}`: with
:math:`A = I + \Delta t\,\mathcal{G}\mathcal{L}`,
:math:`w_1 = A^{-1}\bigl(u^n - \Delta t\,(r^n - \tfrac12(b^n, u^n))\,\mathcal{G}b^n\bigr)` and
:math:`w_2 = A^{-1}\mathcal{G}b^n`,
:math:`(b^n, u^{n+1}) = (b^n, w_1)/(1 + \tfrac{\Delta t}{2}(b^n, w_2))` and
:math:`u^{n+1} = w_1 - \tfrac{\Delta t}{2}(b^n, u^{n+1})\,w_2`. For any :math:`\Delta t` the
*modified energy* :math:`\tilde E = \tfrac12(u, \mathcal{L}u) + r^2` does not increase:
:math:`\tilde E^{n+1} - \tilde E^n = -\Delta t\,(\mu^{n+1}, \mathcal{G}\mu^{n+1}) -
\tfrac12(u^{n+1}-u^n, \mathcal{L}(u^{n+1}-u^n)) - (r^{n+1}-r^n)^2 \le 0`.
When the zero mode of :math:`\hat G` vanishes (:math:`H^{-1}`) the mean is kept exactly.

The stepper sees arrays and callables only: ``L_hat``, ``G_hat`` (real, ``rfftn`` shape),
``grad_e1(y, out)`` writing :math:`E_1'(y)` and ``energy(y)`` returning the whole discrete
energy (the stepper subtracts :math:`\tfrac12(u, \mathcal{L}u)` itself, from the spectra it
computes anyway); ``cell``
is the cell volume of the inner product :math:`(f, g) = \text{cell}\sum f g`.
:meth:`nedsym.methods.grid.Simulation.solve` builds them from the energy
(``stepper="sav"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.fft

from nedsym.errors import BlowUpError, SolverError
from nedsym.solve.steppers import RHS, Stepper

__all__ = ["SAV", "SAV2", "AdaptiveSAV", "SpectralBasis"]


class SpectralBasis:
    r"""The orthogonal transform that diagonalizes a grid's constant-coefficient stencils.

    ``kinds``: one of ``"fft"`` (periodic), ``"dct"`` (DCT-II: homogeneous Neumann, even
    ghost reflection) or ``"dst"`` (DST-II: homogeneous Dirichlet, odd reflection) per spatial
    axis of a state ``(nfields, *shape)``. :meth:`forward` applies the orthonormal DCT/DST
    along its axes, then ``rfftn`` along the FFT axes (the last FFT axis halved);
    :meth:`inverse` undoes it. :meth:`dot` is Parseval's :math:`\sum_x f g` from the
    spectra (the half spectrum of ``rfftn`` weighted twice, except its zero and Nyquist
    planes).

    Example
    -------
    >>> b = SpectralBasis(["dct", "fft"], (6, 4))
    >>> y = np.random.default_rng(0).standard_normal((1, 6, 4))
    >>> yh = b.forward(y); bool(np.allclose(b.inverse(yh), y))
    True
    >>> bool(np.isclose(b.dot(yh, yh), np.sum(y * y)))
    True
    """

    def __init__(self, kinds, shape):
        self.kinds, self.shape = list(kinds), tuple(int(n) for n in shape)
        if len(self.kinds) != len(self.shape) or any(k not in ("fft", "dct", "dst")
                                                     for k in self.kinds):
            raise SolverError(f"SpectralBasis: one of fft/dct/dst per axis, got {kinds}")
        self._fft = tuple(a + 1 for a, k in enumerate(self.kinds) if k == "fft")
        self._real = [(a + 1, k) for a, k in enumerate(self.kinds) if k != "fft"]
        spec = list(self.shape)
        w = np.ones(spec)
        if self._fft:
            last = self._fft[-1] - 1
            n = self.shape[last]
            spec[last] = n // 2 + 1
            w = np.full(spec, 2.0)
            idx = [slice(None)] * len(spec)
            idx[last] = 0
            w[tuple(idx)] = 1.0
            if n % 2 == 0:
                idx[last] = -1
                w[tuple(idx)] = 1.0
        #: spectrum shape of one field, Parseval weights and the 1/N of the FFT axes
        self.spectral_shape = tuple(spec)
        self.weights = w[None]
        self.scale = 1.0 / float(np.prod([self.shape[a - 1] for a in self._fft] or [1]))

    @classmethod
    def for_state(cls, kinds, y0: np.ndarray, what: str, **symbols) -> SpectralBasis:
        """The basis of states shaped like ``y0`` (``kinds``: per axis, default all FFT),
        after checking that each of the ``symbols`` (diagonal multipliers) has the spectral
        shape (or one row broadcast over the fields)."""
        if y0.ndim < 2:
            raise SolverError(f"{what} needs a state of shape (nfields, *grid.shape); got "
                              f"{y0.shape}")
        basis = cls(kinds or ["fft"] * (y0.ndim - 1), y0.shape[1:])
        spec = (y0.shape[0], *basis.spectral_shape)
        for name, a in symbols.items():
            if a.shape not in (spec, (1, *spec[1:])):
                raise SolverError(f"{name} has shape {a.shape}; for a state of shape "
                                  f"{y0.shape} it must be {spec}")
        return basis

    def forward(self, y: np.ndarray) -> np.ndarray:
        out = y
        for axis, kind in self._real:
            out = (scipy.fft.dct if kind == "dct" else scipy.fft.dst)(out, type=2, axis=axis,
                                                                       norm="ortho")
        return scipy.fft.rfftn(out, axes=self._fft) if self._fft else out

    def inverse(self, yh: np.ndarray) -> np.ndarray:
        out = scipy.fft.irfftn(yh, s=[self.shape[a - 1] for a in self._fft],
                               axes=self._fft) if self._fft else yh
        for axis, kind in reversed(self._real):
            out = (scipy.fft.idct if kind == "dct" else scipy.fft.idst)(out, type=2, axis=axis,
                                                                         norm="ortho")
        return out

    def dot(self, fh: np.ndarray, gh: np.ndarray, weight=None) -> float:
        r""":math:`\sum_x f\,(W g)` from the spectra (``weight``: a diagonal multiplier)."""
        w = self.weights if weight is None else self.weights * weight
        if np.iscomplexobj(fh) or np.iscomplexobj(gh):
            return float(self.scale * np.sum(w * (fh.real * gh.real + fh.imag * gh.imag)))
        return float(self.scale * np.sum(w * fh * gh))


class SAV(Stepper):
    """First-order SAV (see the module docstring). ``C``: the shift of :math:`E_1`
    (default: chosen at the initial state so that :math:`E_1 + C \\ge 1`). ``relax``
    (:math:`\\eta`): after each step :math:`r` moves toward :math:`\\sqrt{E_1(u^{n+1}) + C}`
    as far as the share :math:`\\eta` of the step's dissipation
    :math:`\\Delta t(\\mu, \\mathcal{G}\\mu)` allows (relaxed SAV, Jiang, Zhang & Zhao 2022), so
    the modified energy still drops by :math:`(1-\\eta)\\Delta t(\\mu, \\mathcal{G}\\mu)` and
    stays close to the true energy; ``relax=0`` is plain SAV.

    Example
    -------
    >>> n = 16; x = np.arange(n) * 2 * np.pi / n
    >>> k = np.fft.rfftfreq(n, 1 / n)
    >>> L = (4 * np.sin(np.pi * k / n) ** 2 / (2 * np.pi / n) ** 2)[None]   # -u_xx, L² flow
    >>> h = 2 * np.pi / n
    >>> energy = lambda y: float(np.sum(np.diff(y, append=y[:, :1]) ** 2) / (2 * h)
    ...                          + np.sum(y ** 4) / 4 * h)            # u_x^2/2 + u^4/4
    >>> st = SAV(L, np.ones_like(L), lambda y, out: np.power(y, 3, out=out), energy, cell=h)
    >>> y = st.bind(None, np.sin(x)[None]); out = np.empty_like(y)
    >>> e0 = st.modified_energy(); _ = st.step(0.0, y, 100.0, out)   # a huge step
    >>> bool(st.modified_energy() <= e0)
    True
    """

    name = "sav"
    names = ("sav",)
    order = 1
    stability = float("inf")
    built_by_method = True

    def __init__(self, L_hat: np.ndarray, G_hat: np.ndarray, grad_e1: Callable,
                 energy: Callable[[np.ndarray], float], cell: float, C: float | None = None,
                 relax: float = 0.95, kinds=None):
        self.L_hat, self.G_hat = np.asarray(L_hat, dtype=float), np.asarray(G_hat, dtype=float)
        if np.any(self.L_hat < -1e-12 * max(1.0, float(np.max(np.abs(self.L_hat))))):
            raise SolverError("SAV needs a positive semi-definite linear part L (L_hat >= 0)")
        if np.any(self.G_hat < 0):
            raise SolverError("SAV needs a positive semi-definite metric G (G_hat >= 0)")
        self.grad_e1, self.energy, self.cell = grad_e1, energy, float(cell)
        self.C = None if C is None else float(C)
        if not 0.0 <= relax < 1.0:
            raise SolverError(f"SAV: relax must lie in [0, 1), got {relax}")
        self.relax = float(relax)
        self._known: dict[int, tuple[float, float, float]] = {}   # id -> (fingerprint, r, E_1)
        #: ``(t, modified energy)`` after every step (an SAV run never increases it)
        self.history: list[tuple[float, float]] = []
        self.r = math.nan
        self._dt_cached: float | None = None
        #: per-axis transform (:class:`SpectralBasis`); default: periodic on every axis
        self.kinds = None if kinds is None else list(kinds)

    # -- set-up ------------------------------------------------------------------------
    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        y = super().bind(rhs, y0)
        self.basis = SpectralBasis.for_state(self.kinds, y0, "SAV", L_hat=self.L_hat,
                                             G_hat=self.G_hat)
        self._b = np.empty_like(y0)
        e1 = self._e1(y)
        if self.C is None:
            self.C = max(0.0, -e1) + 1.0
        self.r = self._r_from(e1, "the initial state")
        self._remember(y, self.r, e1)
        return y

    # -- inner products through Parseval -------------------------------------------------
    def _dot_hat(self, fh: np.ndarray, gh: np.ndarray) -> float:
        return self.cell * self.basis.dot(fh, gh)

    def _quad(self, yh: np.ndarray) -> float:
        """:math:`(y, \\mathcal{L}y)`."""
        return self.cell * self.basis.dot(yh, yh, self.L_hat)

    def _e1(self, y: np.ndarray, yh: np.ndarray | None = None) -> float:
        """:math:`E_1 = E_h - \\tfrac12(u, \\mathcal{L}u)` (``yh``: the spectrum, if known)."""
        if yh is None:
            yh = self.basis.forward(y)
        return float(self.energy(y)) - 0.5 * self._quad(yh)

    def _r_from(self, e1: float, where: str) -> float:
        if not e1 + self.C > 0:
            raise SolverError(f"SAV: E_1 + C = {e1 + self.C:.3g} <= 0 at {where}; pass a "
                              f"larger sav_constant (now C = {self.C:g})")
        return math.sqrt(e1 + self.C)

    def _remember(self, buf: np.ndarray, r: float, e1: float) -> None:
        self._known = {k: v for k, v in self._known.items()
                       if any(k == id(b) for b in self._bufs)}
        self._known[id(buf)] = (float(np.sum(buf)), r, e1)

    def _r_for(self, y: np.ndarray) -> tuple[float, float]:
        """The auxiliary variable and :math:`E_1` that belong to state ``y`` (as this stepper
        left them, or, for a state it did not write, :math:`\\sqrt{E_1(y) + C}`)."""
        known = self._known.get(id(y))
        if known is not None and known[0] == float(np.sum(y)):
            return known[1], known[2]
        e1 = self._e1(y)
        return self._r_from(e1, "the state"), e1

    # -- stepping ---------------------------------------------------------------------
    def _A(self, dt: float) -> np.ndarray:
        if self._dt_cached != dt:
            self._Ainv, self._dt_cached = 1.0 / (1.0 + dt * self.G_hat * self.L_hat), dt
        return self._Ainv

    def _spectra(self, y, at, root: float):
        """Spectra of the state ``y`` and of :math:`b = E_1'(at)/root`."""
        self.grad_e1(at, self._b)
        self._b /= root
        return self.basis.forward(y), self.basis.forward(self._b)

    def step(self, t, y, dt, out):
        r, e1 = self._r_for(y)
        yh, bh = self._spectra(y, y, self._r_from(e1, f"t = {t:.6g}"))
        Ainv = self._A(dt)
        by = self._dot_hat(bh, yh)
        gbh = self.G_hat * bh
        w1h = (yh - dt * (r - 0.5 * by) * gbh) * Ainv
        w2h = gbh * Ainv
        s = self._dot_hat(bh, w1h) / (1.0 + 0.5 * dt * self._dot_hat(bh, w2h))
        ynh = w1h - 0.5 * dt * s * w2h
        out[...] = self.basis.inverse(ynh)
        r_new = r + 0.5 * (s - by)
        # relaxation (Jiang, Zhang & Zhao 2022): move r toward its definition
        # sqrt(E_1(u^{n+1}) + C) as far as a share eta of this step's dissipation
        # D = dt (mu, G mu) allows, so the modified energy still drops by (1 - eta) D
        self._commit(t, dt, out, ynh, r_new, self.L_hat * ynh + r_new * bh)
        return dt, dt, 0

    def _commit(self, t, dt, out, ynh, r_new, mu_h) -> None:
        """Relax ``r_new`` within the step's dissipation ``dt (mu, G mu)`` (``mu_h``: the
        step's chemical potential, spectral) and record the new state's ``r`` and energy."""
        e1_new = self._e1(out, ynh)
        D = dt * self.cell * self.basis.dot(mu_h, mu_h, self.G_hat)
        cap = r_new * r_new + self.relax * D
        if e1_new + self.C > 0:
            true = e1_new + self.C
            r_new = math.sqrt(true) if true <= cap else math.sqrt(cap)
        self._remember(out, r_new, e1_new)
        self.r = r_new
        self._last_quad = self._quad(ynh)
        self.history.append((t + dt, 0.5 * self._last_quad + r_new ** 2 - self.C))

    def modified_energy(self, y: np.ndarray | None = None) -> float:
        """:math:`\\tilde E = \\tfrac12(u, \\mathcal{L}u) + r^2 - C` of ``y`` (default: the
        last state this stepper produced; an SAV run never increases it)."""
        if y is None:
            if not hasattr(self, "_last_quad"):
                y = self._bufs[0]
            else:
                return 0.5 * self._last_quad + self.r ** 2 - self.C
        yh = self.basis.forward(y)
        return 0.5 * self._quad(yh) + self._r_for(y)[0] ** 2 - self.C

    def state_dict(self) -> dict[str, float]:
        return {"r": float(self.r), "C": float(self.C)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        if "C" in state:
            self.C = float(state["C"])
        if "r" in state:
            self.r = float(state["r"])
            self._remember(self._bufs[0], self.r, self._e1(self._bufs[0]))


class SAV2(SAV):
    r"""Second-order SAV, Crank–Nicolson form (Shen, Xu & Yang 2018):

    .. math::
        \frac{u^{n+1}-u^n}{\Delta t} = -\mathcal{G}\Bigl(\mathcal{L}\frac{u^{n+1}+u^n}{2}
        + \frac{r^{n+1}+r^n}{2}\,\bar b\Bigr),\qquad
        r^{n+1}-r^n = \tfrac12(\bar b, u^{n+1}-u^n),

    with :math:`\bar b = E_1'(\bar u)/\sqrt{E_1(\bar u)+C}` at the extrapolation
    :math:`\bar u = u^n + \tfrac{\Delta t_n}{2\Delta t_{n-1}}(u^n - u^{n-1})`
    (:math:`(3u^n - u^{n-1})/2` at a fixed step). The modified energy drops by exactly
    :math:`\Delta t\,(\mu^{n+1/2}, \mathcal{G}\mu^{n+1/2})` per step, for any
    :math:`\Delta t`. The first step (and a step from a state this stepper did not produce,
    such as a resumed run's first) has no :math:`u^{n-1}` and takes :math:`\bar u = u^n`;
    its local error is still second order. The relaxation of :math:`r` is that of
    :class:`SAV`.

    Example
    -------
    >>> SAV2.order, SAV2.names
    (2, ('sav2',))
    """

    name = "sav2"
    names = ("sav2",)
    order = 2

    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        y = super().bind(rhs, y0)
        self._prev: tuple | None = None          # (id and fingerprint of u^n, u^{n-1})
        self._bar = np.empty_like(y0)
        self._keep = np.empty_like(y0)
        self._dt_cached2: float | None = None
        return y

    def _A2(self, dt: float) -> np.ndarray:
        if self._dt_cached2 != dt:
            self._A2inv = 1.0 / (1.0 + 0.5 * dt * self.G_hat * self.L_hat)
            self._dt_cached2 = dt
        return self._A2inv

    def step(self, t, y, dt, out):
        r, _ = self._r_for(y)
        prev = self._prev
        if prev is not None and prev[0] == id(y) and prev[1] == float(np.sum(y)):
            # u^{n+1/2} extrapolated from u^n, u^{n-1} for steps dt (now) and dt_prev:
            # u^n + (dt / (2 dt_prev)) (u^n - u^{n-1}); (3u^n - u^{n-1})/2 at a fixed dt
            half = 0.5 * dt / prev[3]
            np.multiply(y, 1.0 + half, out=self._bar)
            self._bar -= half * prev[2]
        else:
            self._bar[...] = y
        e1_bar = self._e1(self._bar)
        yh, bh = self._spectra(y, self._bar,
                               self._r_from(e1_bar, f"t = {t:.6g} (extrapolated state)"))
        Ainv = self._A2(dt)
        by = self._dot_hat(bh, yh)
        gbh = self.G_hat * bh
        w1h = ((1.0 - 0.5 * dt * self.G_hat * self.L_hat) * yh
               - dt * (r - 0.25 * by) * gbh) * Ainv
        w2h = gbh * Ainv
        s = self._dot_hat(bh, w1h) / (1.0 + 0.25 * dt * self._dot_hat(bh, w2h))
        ynh = w1h - 0.25 * dt * s * w2h
        self._keep[...] = y                      # u^n, the next step's u^{n-1}
        out[...] = self.basis.inverse(ynh)
        r_new = r + 0.5 * (s - by)
        mu_h = 0.5 * self.L_hat * (ynh + yh) + 0.5 * (r + r_new) * bh
        self._commit(t, dt, out, ynh, r_new, mu_h)
        self._prev = (id(out), float(np.sum(out)), self._keep, float(dt))
        return dt, dt, 0



class AdaptiveSAV(SAV):
    r"""First-order SAV with an adaptive step chosen by error and energy
    (``"sav-adaptive"``).

    Every attempt takes one :class:`SAV` step of :math:`\Delta t` and two of
    :math:`\Delta t/2` from the same state (step doubling; both are L-stable, so stiff
    modes do not pollute the estimate); their difference estimates the local error,
    :math:`\|e\| = \operatorname{rms}\bigl((u_{1/2} - u_1)/(atol + rtol\,|u_{1/2}|)\bigr)`. The
    two half steps are kept when :math:`\|e\| \le 1` and the discrete energy :math:`E_h` did
    not rise by more than ``energy_rise`` (relative, default ``1e-6``: what the run
    controller allows a gradient flow; ``None`` relies on the modified energy alone);
    otherwise the step is retried with :math:`\Delta t\cdot\max(0.2, 0.9\|e\|^{-1/2})`
    (halved after an energy rise). After an accepted step the next is
    :math:`\Delta t\cdot\min(g, \max(0.2, 0.9\|e\|^{-1/2}))` (``growth`` g = 2). The
    modified energy never rises: every kept step is an SAV step.

    Example
    -------
    >>> AdaptiveSAV.adaptive, AdaptiveSAV.names
    (True, ('sav-adaptive',))
    """

    name = "sav-adaptive"
    names = ("sav-adaptive",)
    adaptive = True

    def __init__(self, *args, rtol: float = 1e-3, atol: float = 1e-5, growth: float = 2.0,
                 max_rejections: int = 40, energy_rise: float | None = 1e-6, **kwargs):
        super().__init__(*args, **kwargs)
        if not (rtol > 0 or atol > 0):
            raise SolverError(f"need rtol > 0 or atol > 0, got rtol={rtol}, atol={atol}")
        if not growth > 1:
            raise SolverError(f"growth must be > 1, got {growth}")
        self.rtol, self.atol, self.growth = float(rtol), float(atol), float(growth)
        self.max_rejections = int(max_rejections)
        self.energy_rise = None if energy_rise is None else float(energy_rise)
        self.error_order = 2
        #: rejected attempts by cause
        self.rejections = {"error": 0, "energy": 0}

    #: keep the Richardson extrapolation 2u_{1/2} - u_1 when it lowers the modified energy
    extrapolate = False

    def bind(self, rhs: RHS, y0: np.ndarray) -> np.ndarray:
        y = super().bind(rhs, y0)
        self._full, self._mid = np.empty_like(y0), np.empty_like(y0)
        self._r_full = math.nan
        #: accepted steps that kept the extrapolation / fell back to the two SAV half steps
        self.extrapolated = {"kept": 0, "fallback": 0}
        return y

    def _extrapolate(self, t, dt, out) -> None:
        """Replace the two half steps in ``out`` by :math:`2u_{1/2} - u_1` (and
        :math:`r` likewise, then relaxed as every SAV step is) when its modified energy does
        not exceed the half steps' (so :math:`\tilde E` still never rises); else keep them."""
        keep_r, keep_q, keep_rec = self.r, self._last_quad, self.history[-1]
        keep_known = dict(self._known)
        m_half = keep_rec[1]
        self._mid[...] = out                   # the half steps' state (no longer needed)
        np.multiply(out, 2.0, out=out)
        out -= self._full
        yh = self.basis.forward(out)
        r_ext = 2.0 * keep_r - self._r_full
        e1 = self._e1(out, yh)
        quad = self._quad(yh)
        if e1 + self.C > 0 and r_ext > 0:
            r_ext = min(r_ext, math.sqrt(e1 + self.C)) if self.relax else r_ext
            m_ext = 0.5 * quad + r_ext * r_ext - self.C
            if m_ext <= m_half:
                self.r, self._last_quad = r_ext, quad
                self._remember(out, r_ext, e1)
                self.history[-1] = (keep_rec[0], m_ext)
                self.extrapolated["kept"] += 1
                return
        out[...] = self._mid
        self.r, self._last_quad, self._known = keep_r, keep_q, keep_known
        self.history[-1] = keep_rec
        self.extrapolated["fallback"] += 1

    def _save(self):
        return (self.r, dict(self._known), len(self.history),
                getattr(self, "_last_quad", None))

    def _restore(self, saved) -> None:
        self.r, self._known = saved[0], dict(saved[1])
        del self.history[saved[2]:]
        if saved[3] is not None:
            self._last_quad = saved[3]

    def step(self, t, y, dt, out):
        last = getattr(self, "_e_last", None)     # E_h of the state the last step accepted
        e_old = last[2] if last is not None and last[0] == id(y) and \
            last[1] == float(np.sum(y)) else float(self.energy(y))
        rejected = 0
        while True:
            before = self._save()
            SAV.step(self, t, y, dt, self._full)
            self._r_full = self.r
            self._restore(before)
            SAV.step(self, t, y, 0.5 * dt, self._mid)
            SAV.step(self, t + 0.5 * dt, self._mid, 0.5 * dt, out)
            scale = self.atol + self.rtol * np.abs(out)
            err = float(np.sqrt(np.mean(((out - self._full) / scale) ** 2)))
            if self.extrapolate and math.isfinite(err) and err <= 1.0:
                self._extrapolate(t, dt, out)
            # E_h = E_1 + (u, Lu)/2 of the state just committed (no second evaluation)
            e_new = self._known[id(out)][2] + 0.5 * self._last_quad
            rose = self.energy_rise is not None and \
                not e_new <= e_old + self.energy_rise * max(1.0, abs(e_old))
            if math.isfinite(err) and err <= 1.0 and not rose:
                del self.history[before[2]:-1]       # one record per accepted step
                self._e_last = (id(out), float(np.sum(out)), e_new)
                fac = 0.9 * max(err, 1e-10) ** -0.5
                return dt, dt * min(self.growth, max(0.2, fac)), rejected
            self._restore(before)
            rejected += 1
            self.rejections["energy" if rose else "error"] += 1
            fac = 0.5 if rose or not math.isfinite(err) else max(0.2, 0.9 * err ** -0.5)
            dt = dt * min(fac, 0.9)
            if rejected > self.max_rejections or dt <= 1e-14 * max(1.0, abs(t)):
                raise BlowUpError(f"sav-adaptive: the step collapsed to dt={dt:.3g} at "
                                  f"t={t:.6g} after {rejected} rejections (error {err:.3g}"
                                  f"{', energy rose' if rose else ''}); loosen rtol/atol",
                                  t=t, dt=dt, reason="step collapsed")


class AdaptiveSAV2(AdaptiveSAV):
    r"""Second-order adaptive SAV (``"sav2-adaptive"``): :class:`AdaptiveSAV` with local
    (Richardson) extrapolation.

    Each accepted attempt keeps :math:`u^{n+1} = 2u_{1/2} - u_1` (and
    :math:`r^{n+1} = 2r_{1/2} - r_1`, capped at :math:`\sqrt{E_1(u^{n+1}) + C}`), a second-
    order approximation whose stability function
    :math:`R(z) = 2/(1 - z/2)^2 - 1/(1 - z)` tends to 0 as :math:`z \to -\infty`
    (extrapolated implicit Euler is L-stable, so stiff modes stay damped). The step is
    still controlled by the first-order estimate :math:`u_{1/2} - u_1` (conservative for
    the extrapolated solution). The extrapolation is kept only when its modified energy
    :math:`\tilde E` does not exceed that of the two SAV half steps; otherwise the half
    steps are kept, so :math:`\tilde E` never rises and :math:`E_h` is checked as in
    :class:`AdaptiveSAV`. ``extrapolated`` counts kept and fallen-back steps.

    Example
    -------
    >>> AdaptiveSAV2.order, AdaptiveSAV2.names
    (2, ('sav2-adaptive',))
    """

    name = "sav2-adaptive"
    names = ("sav2-adaptive",)
    order = 2
    extrapolate = True
