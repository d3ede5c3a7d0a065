"""The benchmark rewrites only its own section of docs/benchmarks.md."""

from __future__ import annotations

from bench.report import FILE_HEADER, SECTION, write_section
from bench.timing import percentile

OTHER = "## Import and export\n\nTheirs.\n"


def test_write_section_creates_file(tmp_path):
    """A missing file gets the header and the section."""
    path = tmp_path / "benchmarks.md"

    write_section(f"{SECTION}\n\nOurs.\n", path)

    assert path.read_text() == f"{FILE_HEADER}\n{SECTION}\n\nOurs.\n"


def test_write_section_appends_after_others(tmp_path):
    """Another benchmark's section stays; this one is added after it."""
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\n{OTHER}")

    write_section(f"{SECTION}\n\nOurs.\n", path)

    assert path.read_text() == f"# Benchmarks\n\n{OTHER}\n{SECTION}\n\nOurs.\n"


def test_write_section_replaces_only_its_own(tmp_path):
    """Rewriting replaces the old section and keeps the ones around it."""
    path = tmp_path / "benchmarks.md"
    path.write_text(f"# Benchmarks\n\n{SECTION}\n\nOld.\n\n### Sub\n\nOld.\n\n{OTHER}")

    write_section(f"{SECTION}\n\nNew.\n", path)

    assert path.read_text() == f"# Benchmarks\n\n{SECTION}\n\nNew.\n\n{OTHER}"


def test_percentile_nearest_rank():
    """p50 of 1..10 is 5, p95 and p99 are the maximum."""
    values = list(range(10, 0, -1))

    assert percentile(values, 0.5) == 5
    assert percentile(values, 0.95) == 10
    assert percentile(values, 0.99) == 10
