"""`POST /v1/agent`: a LangChain agent with a small tool registry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway import context
from gateway.agent.runner import run_agent
from gateway.agent.usage import RunUsage
from gateway.api.deps import ClientDep, RuntimeDep, admit, resolve_model
from gateway.api.event_stream import ClientWatch
from gateway.api.schemas import AgentRequest, AgentResponse
from gateway.api.strict_json import StrictJsonRoute
from gateway.chat.params import default_output_cap
from gateway.limits import Limiter, Reservation, enforce

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
    reservation = await admit(runtime, client, [req.input], None)
    usage = RunUsage()  # every model call's tokens, the chat tool's too, also those spent before a failure
    watch = ClientWatch(request.receive)  # a client that leaves cancels the run (and its upstream call)
    try:
        result = await watch.run(run_agent(model, req.input, req.tools, steps, settings.agent_timeout_s,
                                           max_tokens=default_output_cap(model, settings.max_tokens_limit),
                                           finish_reason=runtime.adapter.finish_reason, usage=usage))
    except Exception as exc:
        await _settle(runtime.limiter, reservation, ctx, usage, failed=True)
        raise runtime.adapter.map_error(exc) from exc
    finally:
        watch.close()
    await _settle(runtime.limiter, reservation, ctx, usage, failed=result is None)
    if result is None:
        return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
    return AgentResponse(id=f"agent-{ctx.request_id}", model=model_name, **result)


async def _settle(limiter: Limiter, reservation: Reservation | None, ctx: context.RequestContext,
                  usage: RunUsage, *, failed: bool) -> None:
    """Charge the run's reported tokens and put them in the audit record; a run that failed or was left by its
    client before any call reported usage is charged nothing, a finished one without usage keeps the estimate."""
    used = usage.openai()
    if used is not None:
        ctx.prompt_tokens, ctx.completion_tokens = used["prompt_tokens"], used["completion_tokens"]
    total = used["total_tokens"] if used else None
    await enforce.settle(limiter, reservation, (total or 0) if failed else total)
