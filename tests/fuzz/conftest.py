"""The world every fuzz test posts into (defined with the form targets that point at it)."""

from tests.fuzz.test_forms import world  # noqa: F401 - a shared fixture
