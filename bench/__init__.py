"""Benchmarks of the console on a million books (`make bench`).

They run on a primary and replica of their own (var/pgcluster-bench, on
127.0.0.1:55452 and :55453), so that loading a million rows never touches
the development database, and write their results to docs/benchmarks.md.
"""
