"""The LangChain agent behind `/v1/agent`."""
