"""What the demo figures show: the clean and noisy images of tv-denoise, the mass of
Cahn–Hilliard, the t = 0 panel, and a movie on request."""

from __future__ import annotations

import json

import pytest

from nedsym.cli import main


def test_tv_denoise_shows_input_clean_and_result_and_writes_a_movie(tmp_path):
    out = tmp_path / "o"
    rc = main(["run", "tv-denoise", "--n", "24", "--t-end", "0.5", "--backend", "numpy",
               "--no-progress", "--out", str(out), "--movie", str(tmp_path / "tv.gif")])
    assert rc == 0
    s = json.loads((out / "tv-denoise_summary.json").read_text())
    assert "tv-denoise_denoise.png" in s["figures"]
    assert (out / "tv-denoise_denoise.png").stat().st_size > 5000
    err = s["rms_error_vs_clean"]
    assert err["result"] < err["input"]                  # the flow removed noise
    gif = (tmp_path / "tv.gif").read_bytes()
    assert gif[:6] == b"GIF89a"
    PIL = pytest.importorskip("PIL.Image")
    with PIL.open(tmp_path / "tv.gif") as im:
        assert im.n_frames >= 10                         # more snapshots for the frames
    assert main(["run", "heat", "--n", "16", "--out", str(out), "--movie",
                 str(tmp_path / "m.avi")]) == 2


def test_cahn_hilliard_figure_has_the_mass(tmp_path):
    out = tmp_path / "o"
    assert main(["run", "cahn-hilliard", "--n", "16", "--t-end", "0.001", "--backend",
                 "numpy", "--no-progress", "--out", str(out)]) == 0
    s = json.loads((out / "cahn-hilliard_summary.json").read_text())
    assert s["mass_drift_max"] < 1e-12


def test_mp4_movies_need_ffmpeg_and_say_so(tmp_path):
    import shutil

    import numpy as np

    from nedsym.errors import ConfigError
    from nedsym.plot import write_movie
    from nedsym.solve import Result

    r = Result(fields=np.random.default_rng(0).normal(size=(4, 1, 6, 5)),
               times=np.arange(4.0), final=np.zeros((1, 6, 5)))
    if shutil.which("ffmpeg") is None:
        with pytest.raises(ConfigError, match="needs ffmpeg"):
            write_movie(r, None, tmp_path / "m.mp4")
    else:
        write_movie(r, None, tmp_path / "m.mp4")
        assert (tmp_path / "m.mp4").stat().st_size > 0
    with pytest.raises(ConfigError, match="gif or .mp4"):
        write_movie(r, None, tmp_path / "m.avi")
    assert write_movie(r, None, tmp_path / "m.gif").endswith("m.gif")
