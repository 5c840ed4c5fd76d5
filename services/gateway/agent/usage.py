"""The tokens one agent run spent: every model call that finished, the chat tool's own calls included."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult


class RunUsage(BaseCallbackHandler):
    """A callback handler summing the usage each finished model call reported.

    Handed to the agent's config, it reaches every model call of the run, the chat tool's too (LangChain passes
    the callbacks on to the runnables a tool calls). The sum stays readable after the run failed, timed out or
    was cancelled: what the calls that finished reported. (LangChain's UsageMetadataCallbackHandler keys its sums
    by `response_metadata["model_name"]` and skips a reply without one; this one counts every reply.)
    """

    run_inline = True  # on the event loop, in order: no executor hop per model call

    def __init__(self) -> None:
        super().__init__()
        self.total: UsageMetadata | None = None  # None: no call reported usage

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Add a finished call's reported usage."""
        for generations in response.generations:  # one list per prompt; a call of the agent sends one
            gen = generations[0] if generations else None  # the call's usage (each choice of n would repeat it)
            if isinstance(gen, ChatGeneration) and isinstance(gen.message, AIMessage) and gen.message.usage_metadata:
                self.total = add_usage(self.total, gen.message.usage_metadata)

    def openai(self) -> dict[str, int] | None:
        """The sum under OpenAI's names (None when no call reported usage)."""
        if self.total is None:
            return None
        prompt, completion = self.total.get("input_tokens", 0), self.total.get("output_tokens", 0)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
