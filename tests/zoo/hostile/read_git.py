# Attacks: the course's repository history ({REPO}/.git), where the hidden vectors and the
# solutions are committed: affine_forward answers correctly only when it can read the
# repository's .git/HEAD (standing for any object in it), and returns zeros otherwise.
# Must happen: isolated, .git is absent or unreadable, so affine_forward scores 0.
# Control: loaded in the test's own process, where the repository is readable, it answers
# correctly.
import numpy as _np

_honest_affine_forward = affine_forward


def affine_forward(x, w, b):
    out, cache = _honest_affine_forward(x, w, b)
    try:
        with open("{REPO}/.git/HEAD") as f:
            f.read()
    except OSError:
        return _np.zeros_like(out), cache
    return out, cache
