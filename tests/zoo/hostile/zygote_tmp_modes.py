# Attacks: the zygote's emptying of /tmp between two submissions. At import, leaves a
# secret in /tmp, then changes /tmp itself: an extended attribute holding the secret,
# its times set to a chosen value (both a message to the next submission), and its mode
# set to 000 (so that a listing of /tmp finds nothing to remove). Where /tmp is not its
# own (a grader running as root), the changes fail, and it says which. Prints
# "ZYGOTE-TMP" and what it changed.
# Must happen: the next submission graded in the slot finds /tmp empty, with mode 1777,
# without the attribute and without the chosen times, and both keep full marks.
import os as _tos

_tchanged = []
with open("/tmp/left-{MARKER}", "w") as _tf:
    _tf.write("secret")
for _tname, _tcall in (
    ("xattr", lambda: _tos.setxattr("/tmp", "user.left", b"{MARKER}")),
    ("times", lambda: _tos.utime("/tmp", (1234567, 1234567))),
    ("mode", lambda: _tos.chmod("/tmp", 0)),
):
    try:
        _tcall()
        _tchanged.append(_tname)
    except OSError as _texc:
        print(f"ZYGOTE-TMP {_tname} failed: {_texc.strerror}", flush=True)
print(f"ZYGOTE-TMP {' '.join(_tchanged)}", flush=True)
