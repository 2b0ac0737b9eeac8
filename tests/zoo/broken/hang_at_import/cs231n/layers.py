while True:
    pass


def relu_forward(x):
    return x * (x > 0), x
