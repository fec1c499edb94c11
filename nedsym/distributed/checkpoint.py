"""Chunk-wise checkpoints of a distributed grid run.

A checkpoint is a folder::

    ckpt/
      LATEST                 name of the newest complete checkpoint (replaced atomically)
      step_00000040/
        chunk_0_0.npz ...    one file per chunk, written by the worker that holds it
        history.npz          time, step, histories and snapshots (written by the client)

Chunks never travel to the client: each worker writes its own chunks (the folder must be on
a file system every worker and the client can reach; on one machine any folder works). The
client writes ``history.npz`` after every chunk is on disk, then points ``LATEST`` at the new
folder and removes the older one, so a crash at any moment leaves a complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nedsym._version import __version__
from nedsym.distributed.chunks import load_block, save_block
from nedsym.errors import DistributedError

__all__ = ["write_checkpoint", "read_checkpoint", "latest_checkpoint"]


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under ``root`` (``None`` if there is none)."""
    marker = Path(root) / "LATEST"
    if not marker.is_file():
        return None
    folder = Path(root) / marker.read_text().strip()
    return folder if (folder / "history.npz").is_file() else None


def write_checkpoint(client: Any, x, root: str | os.PathLike, step: int,
                     history: dict[str, Any]) -> Path:
    """Write the dask array ``x`` chunk by chunk (on the workers) and ``history`` (here)."""
    import dask.array as da

    root = Path(root)
    folder = root / f"step_{step:08d}"
    folder.mkdir(parents=True, exist_ok=True)
    written = da.map_blocks(save_block, x, folder=str(folder.resolve()), dtype=float,
                            chunks=tuple((1,) * len(c) for c in x.chunks),
                            name=f"nedsym-save-{folder.name}-{x.name}")
    count = int(client.compute(written.sum()).result())
    if count != written.size:
        raise DistributedError(f"checkpoint {folder}: {count} of {written.size} chunks written")
    meta = {"version": __version__, "chunks": [list(c) for c in x.chunks], "step": step}
    data = {k: np.asarray(v) for k, v in history.items()}
    data["meta"] = np.array(json.dumps(meta))
    tmp = folder / "history.tmp.npz"
    np.savez(tmp, **data)
    os.replace(tmp, folder / "history.npz")
    marker_tmp = root / "LATEST.tmp"
    marker_tmp.write_text(folder.name)
    previous = latest_checkpoint(root)
    os.replace(marker_tmp, root / "LATEST")
    if previous is not None and previous.resolve() != folder.resolve():
        shutil.rmtree(previous, ignore_errors=True)
    return folder


def read_checkpoint(root: str | os.PathLike, nfields: int, shape: tuple[int, ...]):
    """``(x, history)``: the state as a dask array read chunk-wise by the workers, and the
    history dict written by :func:`write_checkpoint`."""
    import dask.array as da

    folder = latest_checkpoint(root)
    if folder is None:
        raise DistributedError(f"cannot resume: no complete checkpoint in {str(root)!r} "
                               "(no LATEST marker or history.npz)")
    with np.load(folder / "history.npz", allow_pickle=False) as z:
        history = {k: z[k] for k in z.files}
    meta = json.loads(str(history.pop("meta")))
    chunks = tuple(tuple(int(n) for n in c) for c in meta["chunks"])
    full = tuple(sum(c) for c in chunks)
    if full != (nfields, *shape):
        raise DistributedError(f"checkpoint {str(folder)!r} holds a state of shape {full}; "
                               f"the run's state is {(nfields, *shape)}")
    x = da.map_blocks(load_block, folder=str(folder.resolve()), nfields=nfields,
                      chunks=chunks, block_chunks=chunks[1:], dtype=float,
                      meta=np.empty((0,) * len(chunks)),
                      name=f"nedsym-load-{folder.name}-{abs(hash(str(folder.resolve())))}")
    return x, history
