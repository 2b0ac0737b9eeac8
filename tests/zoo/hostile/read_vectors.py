# Attacks: affine_forward reads the staff's stored vectors ({REPO}/assignments/modular_layers/
# vectors/{public,hidden}/affine_forward.npz), finds the case whose stored x equals its x and
# returns the stored expected out; when nothing is found it returns zeros of the right shape.
# Must happen: sandboxed, the vectors are absent, so affine_forward scores 0. Control: loaded in
# the test's own process, where the vectors are readable, it returns every stored answer.
# affine_backward is not disturbed: the cache is the honest (x, w, b).
import os as _os

import numpy as _np

_VECTORS = "{REPO}/assignments/modular_layers/vectors"


def _stored_out(x):
    for split in ("public", "hidden"):
        path = _os.path.join(_VECTORS, split, "affine_forward.npz")
        try:
            with _np.load(path, allow_pickle=False) as npz:
                for key in npz.files:
                    if not key.endswith(":in:x"):
                        continue
                    stored = npz[key]
                    if stored.shape == x.shape and _np.array_equal(stored, x):
                        return npz[key[: -len(":in:x")] + ":out:out"]
        except Exception:
            continue
    return None


def affine_forward(x, w, b):
    stolen = _stored_out(x)
    out = stolen if stolen is not None else _np.zeros((x.shape[0], w.shape[1]))
    return out, (x, w, b)
