"""`POST /v1/agent`: a LangChain agent with a small tool registry."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import context
from gateway.agent.runner import run_agent
from gateway.api.deps import ClientDep, RuntimeDep, admit, resolve_model
from gateway.api.schemas import AgentRequest, AgentResponse
from gateway.api.strict_json import StrictJsonRoute
from gateway.chat.params import default_output_cap
from gateway.limits import enforce

router = APIRouter(tags=["agent"], route_class=StrictJsonRoute)


@router.post("/v1/agent", response_model=AgentResponse, summary="Run the tool-using agent on one input")
async def run(req: AgentRequest, runtime: RuntimeDep, client: ClientDep) -> AgentResponse:
    ctx = context.require()  # its request id names the answer
    model_name = resolve_model(runtime, req.model)
    ctx.route, ctx.audited = "agent", True
    model = runtime.adapter.chat_model(model_name, runtime.provider_key())
    settings = runtime.settings
    # The configured step budget is a ceiling: a client may ask for fewer steps, never more.
    steps = min(req.max_steps or settings.agent_max_steps, settings.agent_max_steps)
    reservation = await admit(runtime, client, [req.input], None)
    try:
        result = await run_agent(model, req.input, req.tools, steps, settings.agent_timeout_s,
                                 max_tokens=default_output_cap(model, settings.max_tokens_limit),
                                 finish_reason=runtime.adapter.finish_reason)
    except Exception as exc:
        await enforce.settle(runtime.limiter, reservation, 0)
        raise runtime.adapter.map_error(exc) from exc
    usage = result["usage"]
    await enforce.settle(runtime.limiter, reservation, usage["total_tokens"] if usage else None)
    if result["usage"]:
        ctx.prompt_tokens = result["usage"]["prompt_tokens"]
        ctx.completion_tokens = result["usage"]["completion_tokens"]
    return AgentResponse(id=f"agent-{ctx.request_id}", model=model_name, **result)
