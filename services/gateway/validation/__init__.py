"""LangChain configuration validation behind `python -m gateway.validate` (see gateway/validate.py)."""

from gateway.validation.offline import check_settings
from gateway.validation.remote import Target, check_target
from gateway.validation.report import Check, Report, looks_like_placeholder

__all__ = ["Check", "Report", "Target", "check_settings", "check_target", "looks_like_placeholder"]
