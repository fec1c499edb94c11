r"""Neural parameterizations :math:`u(x;\theta)` with symbolic layers and exact Jacobians.

Activations and layer rules are sympy expressions; their derivatives are
derived once and compiled into elementwise kernels (numpy or numba). The
composition over layers is numeric (BLAS), so the cost of values, spatial
derivatives and per-point parameter Jacobians grows linearly with depth.

Example
-------
>>> import numpy as np
>>> import nedsym.nn as nn
>>> net = nn.MLP([2, 20, 20, 1], activation="tanh", seed=0)
>>> X = np.random.default_rng(0).uniform(size=(100, 2))
>>> values, jac = net.jacobian(X, net.theta0, order=2)
>>> jac.hess.shape == (100, 1, 2, 2, net.n_params)
True
"""

from nedsym.nn.activations import BUILTIN_ACTIVATIONS, Activation, activation
from nedsym.nn.jet import Jet
from nedsym.nn.layers import Dense, Layer, Linear, Residual
from nedsym.nn.network import MLP, Linearization, Network

__all__ = ["MLP", "Network", "Dense", "Residual", "Linear", "Layer", "Activation", "activation",
           "Jet", "Linearization", "BUILTIN_ACTIVATIONS"]
