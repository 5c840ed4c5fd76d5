"""Dagger module for the multi-LLM gateway stack.

`dagger functions` lists the API; README.md (Dagger section) shows every call.
"""

from .main import LlmStack as LlmStack
from .main import Provider as Provider
from .release import Env as Env
from .suites import TestSuite as TestSuite

__all__ = ["Env", "LlmStack", "Provider", "TestSuite"]
