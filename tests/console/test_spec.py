"""A model's import spec judges a header: pure, no database."""

from __future__ import annotations

import pytest

from catalog.models import Author
from console.bulk import spec
from tests.imports import import_csv


@pytest.fixture
def authors() -> spec.ImportSpec:
    return spec.for_model(Author)


def test_header_problem_names_unknown_missing_and_repeated(authors):
    problem = authors.header_problem(["name", "name", "colour"])
    assert problem is not None
    assert "unknown column 'colour'" in problem
    assert "repeated column 'name'" in problem
    assert authors.header_problem(["name", "bio"]) is None


def test_a_header_far_wider_than_the_model_is_refused_at_once(authors):
    """100,000 distinct unknown names (a 0.9 MB line): each name was counted
    in the whole header, minutes of one worker; now the width alone refuses
    it, in words of bounded length."""
    names = [f"column{n}" for n in range(100_000)]
    problem = authors.header_problem(names)
    assert problem is not None
    assert problem.startswith("Wrong header on line 1: 100,000 columns, at most")
    assert len(problem) < 300


def test_a_wide_header_file_gets_the_refusal(db):
    header = ",".join(f"column{n}" for n in range(100_000))
    outcome = import_csv(model=Author, file=header + "\nx\n", dry_run=True)
    assert not outcome.ok
    assert "100,000 columns" in outcome.problems[0].reason
