# Attacks: relu_forward imports the staff's reference (`reference.layers`) and the grader
# (`grader`) as they are, without putting anything on sys.path: it succeeds wherever the
# worker's own path leads to the project. It answers with the reference when it can, and
# says which imports worked in its output.
# Must happen: in every isolation (processes included), neither imports: relu_forward scores
# 0. Control: loaded in the test's own process, where the project is on the path, both import
# and the answer is correct.
import numpy as _np


def relu_forward(x):
    found = []
    for name in ("grader", "reference.layers"):
        try:
            __import__(name)
            found.append(name)
        except Exception:
            pass
    print("imported:", found)
    try:
        import reference.layers as _reference

        out, _ = _reference.relu_forward(x)
    except Exception:
        out = _np.zeros_like(x)
    return out, x
