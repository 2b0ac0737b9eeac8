# Attacks: the staff's tools. affine_forward raises an exception whose message carries
# terminal escape sequences (clear the screen, retitle the window, a hyperlink) and a
# spreadsheet formula, and relu_forward prints the same; the test names the student
# "=1+1" too, which a spreadsheet would compute.
# Must happen: affine_forward scores 0 as any raising function does; no escape character
# reaches the staff's terminal, the feedback file, the gradebook or the report page, and
# the gradebook's cells are text, never formulas. Control: the message does hold the
# escapes (the test raises it here).
_honest_relu_forward = relu_forward

PAYLOAD = '=HYPERLINK("http://evil.example","x")\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://x\x1b\\'


def affine_forward(x, w, b):
    raise ValueError(PAYLOAD)


def relu_forward(x):
    print(PAYLOAD)
    return _honest_relu_forward(x)
