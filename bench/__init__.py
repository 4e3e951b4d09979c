"""The benchmark suite: `make bench` (full) or `python -m bench --quick` (small, to check it runs).

Every figure is compared as a ratio to another figure of the same run on the same machine, and
every timed measurement is repeated: the machines this runs on are shared and noisy, so absolute
numbers travel badly while ratios within one run hold. Nothing here asserts on time.
"""
