# expect: relu_backward.dx=fail
# why: relu_backward is not defined in the module at all.

del relu_backward
