# expect:
# why: relu_forward overwrites its input x in place, which corrupts the caller's array, but the values it returns and caches are still right.


def relu_forward(x):
    x[x < 0] = 0
    return x, x
