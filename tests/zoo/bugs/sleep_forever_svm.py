# expect: svm_loss.loss=fail, svm_loss.dx=fail
# why: svm_loss sleeps for about eleven days before returning, far longer than the time allowed for a test.
import time


def svm_loss(x, y):
    time.sleep(10**6)
    return 0.0, x
