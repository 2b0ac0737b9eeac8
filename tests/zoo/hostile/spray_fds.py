# Attacks: the cases graded beside relu_forward's. Each call of relu_forward lists its file
# descriptors, reads what it can from every one (a neighbouring case's answer, the
# requests) and writes junk to every one (the neighbour's answer, the pipe to the grader),
# then returns the correct answer.
# Must happen: relu_forward may lose its own cases (it also wrote junk into its own
# answer), and relu_backward's, which call it; every other function keeps full marks, and
# grading the submission again gives the same result every time. Control: loaded in the test's own process, relu_forward's
# answer is correct.
import os as _os

_honest_relu_forward = relu_forward


def relu_forward(x):
    print("descriptors:", sorted(int(fd) for fd in _os.listdir("/proc/self/fd")))
    for fd in range(3, 256):
        try:
            _os.set_blocking(fd, False)
            _os.read(fd, 1 << 16)
        except OSError:
            pass
        try:
            _os.write(fd, b"\x00" * 8 + b"junk" * 64)
        except OSError:
            pass
    return _honest_relu_forward(x)
