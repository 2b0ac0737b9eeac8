# Attacks: svm_loss gives the correct answer only when it can read the rubric (the project's
# {REPO}/rubric.yaml or the one the grader was given, {RUBRIC}): a submission that can read
# staff files can read the expected values too. Otherwise it returns a wrong loss and dx.
# Must happen: sandboxed, no rubric is visible, so svm_loss scores 0. Control: loaded in the
# test's own process, where the rubric is readable, it returns the correct loss and dx.
import numpy as _np

_correct_svm_loss = svm_loss


def _rubric_visible():
    for path in ("{REPO}/rubric.yaml", "{RUBRIC}"):
        try:
            with open(path) as f:
                if "functions" in f.read():
                    return True
        except OSError:
            continue
    return False


def svm_loss(x, y):
    if _rubric_visible():
        return _correct_svm_loss(x, y)
    return 123.0, _np.full(x.shape, 0.5)
