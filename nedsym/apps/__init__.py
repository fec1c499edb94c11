"""The non-grid demos of ``nedsym run`` (``ned-fit``, ``ned-poisson``, ``relax-landscape``,
``depth-ode``): each writes its figures and returns a JSON-able summary. They sit above the
library (they may import anything; nothing in the library imports them)."""
