"""Code the tests share. Tests import helpers from here, never from a conftest.py (fixtures and hooks only) nor
from another folder's tests."""
