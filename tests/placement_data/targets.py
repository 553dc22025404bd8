"""Starred assignment targets (tests/test_placement.py pushes walks toward them)."""


def split(items):
    first, *rest = items
    *init, last = items
    a, *b, c = items
    [x, *y] = rest
    return first, rest, init, last, a, b, c, x, y
