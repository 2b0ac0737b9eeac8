# Attacks: svm_loss gives the correct answer only when it can reach a running `grade serve`
# ({SOCKET}), which grades as the user who started it: a submission that could ask it to
# run a command would run outside its sandbox. Otherwise it returns a wrong loss and dx.
# Must happen: graded by that server (bubblewrap), the socket is not there, so svm_loss
# scores 0. Control: loaded in the test's own process, it connects, and returns the
# correct loss and dx.
import socket as _socket

import numpy as _np

_correct_svm_loss = svm_loss


def _server_reachable():
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect("{SOCKET}")
        return True
    except OSError:
        return False
    finally:
        s.close()


def svm_loss(x, y):
    if _server_reachable():
        return _correct_svm_loss(x, y)
    return 123.0, _np.full(x.shape, 0.5)
