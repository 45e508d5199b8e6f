"""docs/reference.md (topics, services, parameters of every node) matches the nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "reference.md"


def test_reference_is_generated_from_the_current_nodes():
    from vla_ros.tools.reference import generate

    assert REFERENCE.is_file(), "run: python -m vla_ros.tools.reference -o docs/reference.md"
    assert REFERENCE.read_text() == generate(), (
        "docs/reference.md is out of date: python -m vla_ros.tools.reference -o docs/reference.md"
    )
