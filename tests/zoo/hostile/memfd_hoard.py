# Attacks: softmax_loss fills memfd files, 7 MB each (under the file-size limit), as many
# as its descriptor limit allows (about 400 MB): memory that belongs to no address space,
# so RLIMIT_AS does not count it.
# Must happen: with a control group, the kernel kills the case for the group's memory and
# the report says so; without one, memfd_create is denied. softmax_loss scores 0, the
# other functions keep full marks, and the memory is back once grading ends.
import os as _os

_correct_softmax_loss = softmax_loss


def softmax_loss(x, y):
    block = b"x" * (1 << 20)
    held = []
    for _ in range(58):
        held.append(_os.memfd_create("hoard"))
        for _ in range(7):
            _os.write(held[-1], block)
    return _correct_softmax_loss(x, y)
