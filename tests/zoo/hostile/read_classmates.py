# Attacks: affine_forward copies a classmate: it loads the first layers.py it can read among
# the class's submissions ({CLASS}/*/cs231n/layers.py) and the grader's staging folders of
# other submissions (/tmp/layergrade-sub-*/code/cs231n/layers.py), and answers with its
# affine_forward; when it can read none, it returns zeros of the right shape.
# Must happen: isolated, no classmate's code is readable, so affine_forward scores 0 (and the
# classmate keeps full marks). Control: loaded in the test's own process, where the class
# folder is readable, it answers with the classmate's correct affine_forward.
import glob as _glob
import importlib.util as _util

import numpy as _np

_honest_affine_forward = affine_forward


def _classmate():
    for path in sorted(_glob.glob("{CLASS}/*/cs231n/layers.py")) + sorted(
        _glob.glob("/tmp/layergrade-sub-*/code/cs231n/layers.py")
    ):
        try:
            with open(path) as f:
                if "read_classmates" in f.read():
                    continue  # ourselves
            spec = _util.spec_from_file_location("_classmate", path)
            module = _util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        except Exception:
            continue
    return None


def affine_forward(x, w, b):
    classmate = _classmate()
    if classmate is None:
        out, cache = _honest_affine_forward(x, w, b)
        return _np.zeros_like(out), cache
    return classmate.affine_forward(x, w, b)
