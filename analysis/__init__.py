"""Scaling-law analysis: collect runs, fit L(N, D) per variant, compare compute-optimal frontiers, report."""
