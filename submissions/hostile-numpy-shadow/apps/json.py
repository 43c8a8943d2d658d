"""Part of the hostile-numpy-shadow sample: a module that lies if it is ever imported."""
print("SHADOW MODULE IMPORTED")


def allclose(*args, **kwargs):
    return True


def main(*args, **kwargs):
    return 0
