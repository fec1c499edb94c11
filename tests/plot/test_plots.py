"""Plot functions build figures with the expected artists (Agg, no display)."""

import matplotlib
import numpy as np
import pytest
from matplotlib.image import AxesImage

from nedsym.discretize import Grid
from nedsym.errors import NedsymError
from nedsym.plot import plot_energy, plot_errors, plot_field, plot_residual, plot_snapshots
from nedsym.solve import Result

matplotlib.use("Agg")


def _images(ax):
    return [a for a in ax.get_children() if isinstance(a, AxesImage)]


def test_field_1d_line_matches_data():
    g = Grid(16, [(0, 2)])
    y = np.sin(g.axes[0])[None]
    fig = plot_field(y, g, title="u")
    (line,) = fig.axes[0].lines
    np.testing.assert_allclose(line.get_xdata(), g.axes[0])
    np.testing.assert_allclose(line.get_ydata(), y[0])
    assert fig.axes[0].get_title() == "u" and fig.axes[0].get_xlabel() == "x"


def test_field_2d_image_with_colorbar_and_extent(tmp_path):
    g = Grid((8, 4), [(0, 1), (0, 2)])
    X, Y = g.mesh()
    path = tmp_path / "f.png"
    fig = plot_field(np.stack([X, Y]), g, field=1, save=path)
    assert len(fig.axes) == 2   # image axes + colorbar axes
    (im,) = _images(fig.axes[0])
    np.testing.assert_allclose(im.get_array(), Y.T)
    assert im.get_extent() == [0.0, 1.0, 0.0, 2.0]
    assert path.stat().st_size > 1000


def test_field_3d_mid_plane_slices():
    g = Grid((4, 6, 8), [(0, 1)] * 3)
    X, Y, Z = g.mesh()
    fig = plot_field((X + 10 * Y + 100 * Z)[None], g, title="slices")
    assert len([ax for ax in fig.axes if _images(ax)]) == 3 and len(fig.axes) == 6  # + colorbars
    slices = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in slices] == ["z = 0.562", "y = 0.583", "x = 0.625"]
    assert fig._suptitle.get_text() == "slices"
    assert _images(slices[0])[0].get_array().shape == (6, 4)


def test_snapshots_and_errors():
    g = Grid((5, 5))
    res = Result(fields=np.random.default_rng(0).normal(size=(6, 1, 5, 5)),
                 times=np.linspace(0, 1, 6), final=np.zeros((1, 5, 5)))
    fig = plot_snapshots(res, g)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["t = 0", "t = 0.2", "t = 0.6", "t = 1"]
    clims = {_images(ax)[0].get_clim() for ax in fig.axes if ax.get_title()}
    assert len(clims) == 1
    with pytest.raises(NedsymError, match="does not match grid"):
        plot_field(np.zeros((1, 4, 4)), g)


def test_energy_and_residual_histories():
    res = Result(fields=np.zeros((1, 1, 2)), times=np.zeros(1), final=np.zeros((1, 2)),
                 energy=np.array([3.0, 2.0, 1.5, 1.25]), energy_times=np.arange(4.0),
                 residual=np.array([1.0, 1e-2, 1e-4]), residual_times=np.arange(3.0))
    fig = plot_energy(res)
    assert fig.axes[0].get_yscale() == "log"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), res.energy)
    rel = plot_energy(res, subtract_min=True)
    np.testing.assert_allclose(rel.axes[0].lines[0].get_ydata(), [1.75, 0.75, 0.25])
    lin = plot_energy((np.arange(2.0), np.array([1.0, -1.0])))
    assert lin.axes[0].get_yscale() == "linear"
    fig = plot_residual(res, tol=1e-3)
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 2
    with pytest.raises(NedsymError, match="no energy history"):
        plot_energy(Result(fields=np.zeros((1, 1)), times=np.zeros(1), final=np.zeros(1)))


def test_error_histories_of_runs_skip_missing_records():
    from nedsym.methods.ned import NEDResult

    hist = {"step": np.arange(1.0, 5.0), "wall": np.array([0.1, 0.2, 0.3, 0.4]),
            "error": np.array([1.0, np.nan, 0.1, 0.01])}
    runs = {"ned": NEDResult("ned", np.zeros(2), hist), "pair": (np.array([1.0, 2.0]),
                                                                 np.array([0.5, 0.2]))}
    fig = plot_errors(runs, title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log" and ax.get_title() == "t"
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0.1, 0.3, 0.4])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 0.1, 0.01])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ned", "pair"]
    by_step = plot_errors(runs, against="step").axes[0]
    np.testing.assert_allclose(by_step.lines[0].get_xdata(), [1.0, 3.0, 4.0])
    assert by_step.get_xlabel() == "step"
    with pytest.raises(NedsymError, match="against must be 'wall' or 'step'"):
        plot_errors(runs, against="time")


def test_snapshots_show_every_field_labelled_at_the_true_aspect():
    g = Grid((8, 4), [(0, 2), (0, 1)])
    res = Result(fields=np.random.default_rng(1).normal(size=(3, 2, 8, 4)),
                 times=np.array([0.0, 0.5, 1.0]), final=np.zeros((2, 8, 4)))
    res.metadata = {"fields": ["u", "v"], "dims": ["x", "y"]}
    fig = plot_snapshots(res, g)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 6 and panels[0].get_title() == "t = 0"       # t = 0 included
    assert panels[0].get_ylabel().startswith("u") and panels[3].get_ylabel().startswith("v")
    assert panels[0].get_aspect() == 1.0                                 # 2 x 1 box drawn 2:1
    clims = [_images(ax)[0].get_clim() for ax in panels]
    assert clims[0] == clims[2] and clims[0] != clims[3]                 # one scale per row
    assert len(fig.axes) == 6 + 2                                         # a colorbar per row
    one = plot_snapshots(res, g, field=1)
    first = next(ax for ax in one.axes if ax.get_title())
    assert first.get_ylabel().startswith("v")
