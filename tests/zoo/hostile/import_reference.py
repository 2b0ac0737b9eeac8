# Attacks: relu_forward answers with the staff's reference implementation, put on sys.path
# from the project root ({REPO}) and imported as `reference.layers`; when the import fails it
# returns zeros (wrong wherever x > 0).
# Must happen: sandboxed, the reference is absent, so relu_forward scores 0. Control: loaded in
# the test's own process, where the project is readable, it imports the reference and returns
# the correct out. relu_backward is not disturbed: the cache is x either way.
import sys as _sys

import numpy as _np

_sys.path.insert(0, "{REPO}")


def relu_forward(x):
    try:
        import reference.layers as _reference

        out, _ = _reference.relu_forward(x)
    except Exception:
        out = _np.zeros_like(x)
    return out, x
