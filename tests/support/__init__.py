"""Code the tests share. Tests import helpers from here, never from a conftest.py (which holds only fixtures) nor
from another folder's tests."""
