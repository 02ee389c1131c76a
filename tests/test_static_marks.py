"""tests/static_marks.py reads, from a module's source, the marks each of its tests surely
gets; `make test-fast` leaves a module unimported only when every test's marks deselect it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import COMPONENT_MARKERS
from tests.static_marks import marks_of_each_test


def marks(tmp_path: Path, source: str) -> list[set[str]] | None:
    module = tmp_path / "test_module.py"
    module.write_text(source)
    return marks_of_each_test(module, COMPONENT_MARKERS)


def test_decorators_pytestmark_and_component_fixtures(tmp_path: Path) -> None:
    source = """
import pytest
pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore")]

@pytest.mark.fuzz
@pytest.mark.parametrize("x", [1])
def test_fuzzed(x): ...

def test_in_a_browser(page, admin): ...

def test_plain(db, page_size=3): ...

@pytest.mark.ldap
class TestDirectory:
    pytestmark = pytest.mark.worker

    def test_method(self, live_server): ...
"""
    assert marks(tmp_path, source) == [
        {"django_db", "filterwarnings", "fuzz", "parametrize"},
        {"django_db", "filterwarnings", "browser"},
        {"django_db", "filterwarnings"},  # a parameter with a default is no fixture
        {"django_db", "filterwarnings", "ldap", "worker", "live"},
    ]


def test_hypothesis_arguments_are_not_fixtures(tmp_path: Path) -> None:
    source = """
from hypothesis import given, strategies as st

@given(page=st.integers())
def test_numbers(page): ...
"""
    assert marks(tmp_path, source) == [set()]


def test_a_test_the_source_does_not_define_plainly_means_unsure(tmp_path: Path) -> None:
    assert marks(tmp_path, "from tests.elsewhere import test_shared\n") is None
    assert marks(tmp_path, "def make(): ...\ntest_made = make()\n") is None
    assert marks(tmp_path, "def helper(): ...\n") == []
