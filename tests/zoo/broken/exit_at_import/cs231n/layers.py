import sys

sys.exit(0)


def relu_forward(x):
    return x * (x > 0), x
