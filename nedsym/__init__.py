"""nedsym: symbolic-numeric PDE modeling.

Write a variational energy as a formula; nedsym derives its variational
derivative and gradient flow, discretizes it, generates kernels and verifies
every derivation against finite differences.
"""

from nedsym._version import __version__

__all__ = ["__version__"]
