"""Multi-provider LLM gateway: one FastAPI + LangChain codebase, one deployment per provider."""

__all__ = ["__version__"]
__version__ = "0.1.0"
