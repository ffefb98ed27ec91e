"""The fault suite reuses the session's shapes bank (tests/promptbank/conftest.py)."""

from tests.promptbank.conftest import bank_copy, shapes_bank  # noqa: F401
