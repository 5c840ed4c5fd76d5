"""`POST /v1/agent`: a LangChain agent with a small tool registry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway import context
from gateway.agent.admission import CallAdmission
from gateway.agent.runner import run_agent
from gateway.agent.usage import RunUsage
from gateway.api.deps import ClientDep, RuntimeDep, admit, resolve_model
from gateway.api.event_stream import ClientWatch
from gateway.api.schemas import AgentRequest, AgentResponse
from gateway.api.strict_json import StrictJsonRoute
from gateway.chat.params import default_output_cap

router = APIRouter(tags=["agent"], route_class=StrictJsonRoute)


@router.post("/v1/agent", response_model=AgentResponse, summary="Run the tool-using agent on one input")
async def run(req: AgentRequest, runtime: RuntimeDep, client: ClientDep, request: Request) -> AgentResponse | Response:
    ctx = context.require()  # its request id names the answer
    model_name = resolve_model(runtime, req.model)
    ctx.route, ctx.audited = "agent", True
    model = runtime.adapter.chat_model(model_name, runtime.provider_key())
    settings = runtime.settings
    # The configured step budget is a ceiling: a client may ask for fewer steps, never more.
    steps = min(req.max_steps or settings.agent_max_steps, settings.agent_max_steps)
    reservation = await admit(runtime, client, [req.input], None)  # the run's first model call
    # Every later model call (the agent's turns, the chat tool's questions) is admitted the same way when it comes,
    # with the same estimate as a chat request without max_tokens; each call settles its own reservation.
    calls = CallAdmission(lambda texts: admit(runtime, client, texts, None), runtime.limiter, reservation)
    usage = RunUsage()  # every model call's tokens, the chat tool's too, also those spent before a failure
    watch = ClientWatch(request.receive)  # a client that leaves cancels the run (and its upstream call)
    try:
        result = await watch.run(run_agent(model, req.input, req.tools, steps, settings.agent_timeout_s,
                                           max_tokens=default_output_cap(model, settings.max_tokens_limit),
                                           finish_reason=runtime.adapter.finish_reason, usage=usage,
                                           admission=calls))
    except Exception as exc:
        raise runtime.adapter.map_error(exc) from exc  # a refused call's 429 as it is
    finally:
        watch.close()
        await calls.close()
        _audit(ctx, usage)
    if result is None:
        return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
    return AgentResponse(id=f"agent-{ctx.request_id}", model=model_name, **result)


def _audit(ctx: context.RequestContext, usage: RunUsage) -> None:
    """Put the run's reported tokens in the audit record, however it ended (what its calls charged, see
    gateway.agent.admission)."""
    used = usage.openai()
    if used is not None:
        ctx.prompt_tokens, ctx.completion_tokens = used["prompt_tokens"], used["completion_tokens"]
