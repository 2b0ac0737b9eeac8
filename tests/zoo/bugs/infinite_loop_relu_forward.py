# expect: relu_forward.out=fail, relu_backward.dx=fail
# why: relu_forward never returns because of an infinite loop, and relu_backward is tested after calling relu_forward, so it never gets to run either.


def relu_forward(x):
    while True:
        pass
