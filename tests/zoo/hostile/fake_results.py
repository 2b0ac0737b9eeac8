# Attacks: svm_loss returns wrong values and, while it runs, writes a full-marks report in
# the grader's JSON schema wherever a result might be picked up: the working directory,
# /tmp (under a marked name), the project root ({REPO}/result.json) and the -o path the
# grader was given ({OUT}).
# Must happen: the -o file holds the grader's honest report (svm_loss 0, total 45), and
# {REPO}/result.json does not exist afterwards. Sandboxed, the /tmp copy lands in the private
# /tmp and is not visible on the host. Control: loaded in the test's own process (with a
# stand-in for {REPO}), it writes the forged report to every target, the host's /tmp included.
import json as _json
import os as _os

import numpy as _np

_POINTS = {
    "affine_forward": 10,
    "affine_backward": 15,
    "relu_forward": 5,
    "relu_backward": 5,
    "svm_loss": 10,
    "softmax_loss": 10,
}
_FAKE = {
    "schema": "layergrade.result/1",
    "sandboxed": True,
    "score": 55.0,
    "max_score": 55.0,
    "import_error": None,
    "functions": [
        {"name": n, "score": float(p), "max_score": float(p), "status": "pass",
         "feedback": "all cases pass", "worst_rel_error": {}, "cases": []}
        for n, p in _POINTS.items()
    ],
    "output": "",
}
_TARGETS = (
    "result.json",
    _os.path.join(_os.getcwd(), "layergrade-{MARKER}.json"),
    "/tmp/layergrade-{MARKER}.json",
    "{REPO}/result.json",
    "{OUT}",
)


def svm_loss(x, y):
    for path in _TARGETS:
        try:
            with open(path, "w") as f:
                _json.dump(_FAKE, f)
        except OSError:
            pass
    return 0.0, _np.zeros(x.shape)
