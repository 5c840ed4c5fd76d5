"""Summarise a py-spy raw (collapsed-stack) profile of a gateway into cost buckets.

    python bench/profile_summary.py PROFILE.txt [--top 25]

Each sample is attributed to the innermost frame that belongs to a known component (LangChain,
the OpenAI SDK, httpx/httpcore, FastAPI, Starlette, pydantic, uvicorn, the gateway's own code,
logging, JSON, the asyncio loop). Helper stdlib modules (copy, typing, inspect, ...) count for their
caller. A second table gives inclusive shares of the main request-path stages.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^:]+):(?P<line>\d+)\)$")
OWN = [  # (component, file prefix)
    ("gateway: middleware (asgi.py)", "gateway/asgi.py"),
    ("gateway: metrics", "gateway/metrics.py"),
    ("gateway: audit log", "gateway/audit.py"),
    ("gateway: logs", "gateway/logs.py"),
    ("gateway: auth", "gateway/auth/"),
    ("gateway: other", "gateway/"),
    ("langchain_openai", "langchain_openai/"),
    ("langchain_core", "langchain_core/"),
    ("langchain", "langchain/"),
    ("langsmith", "langsmith/"),
    ("openai SDK", "openai/"),
    ("httpx", "httpx/"),
    ("httpcore", "httpcore/"),
    ("anyio", "anyio/"),
    ("h11", "h11/"),
    ("fastapi", "fastapi/"),
    ("starlette", "starlette/"),
    ("pydantic", "pydantic/"),
    ("pydantic", "pydantic_core/"),
    ("prometheus_client", "prometheus_client/"),
    ("uvicorn", "uvicorn/"),
    ("logging (stdlib)", "logging/"),
    ("json (stdlib)", "json/"),
    ("asyncio loop", "asyncio/"),
    ("asyncio loop", "selectors.py"),
    ("ssl", "ssl.py"),
    ("tiktoken", "tiktoken/"),
]
STAGES = [  # inclusive: a sample counts for every stage whose function appears in its stack
    ("whole app (FastAPI.__call__)", "FastAPI.__call__"),
    ("GatewayMiddleware.__call__", "GatewayMiddleware.__call__"),
    ("middleware _finish (metrics+audit+access log)", "GatewayMiddleware._finish"),
    ("access/JSON log emit", "Logger.info"),
    ("FastAPI request handler (get_request_handler.app)", "get_request_handler.<locals>.app"),
    ("FastAPI solve_dependencies (auth, headers)", "solve_dependencies"),
    ("request body parse+validate", "_extract_form_body|request_body_to_args|_validate_value|validate_json"),
    ("endpoint create_chat_completion", "create_chat_completion"),
    ("chat.complete", r"complete \(gateway/chat\.py"),
    ("LangChain BaseChatModel.ainvoke", "BaseChatModel.ainvoke"),
    ("LangChain callbacks/run managers", "CallbackManager|AsyncCallbackManager|handle_event|ahandle_event"),
    ("ChatOpenAI._agenerate", "_agenerate"),
    ("openai AsyncAPIClient.request", "AsyncAPIClient.request|AsyncAPIClient._request"),
    ("openai response parse (pydantic models)", "_process_response|APIResponse.parse|_parse|construct_type"),
    ("httpx AsyncClient.send", "AsyncClient.send"),
    ("build response (orjson+Response)", "Response.__init__|orjson"),
    ("thread pool (run_in_executor)", r"run_in_executor|_worker \(concurrent"),
]


def component(stack: list[str]) -> str:
    for frame in reversed(stack):
        m = FRAME.match(frame)
        path = m.group("file") if m else frame
        for name, prefix in OWN:
            if path.startswith(prefix) or f"/{prefix}" in path:
                return name
    return "other (interpreter, stdlib)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("profile")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    comps: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in open(a.profile):
        stack_s, _, n = line.rstrip("\n").rpartition(" ")
        if not stack_s:
            continue
        count = int(n)
        stack = stack_s.split(";")
        if stack[0].startswith("Thread._bootstrap"):
            comps["(other threads)"] += count
            total += count
            continue
        total += count
        comps[component(stack)] += count
        joined = ";".join(stack)
        for name, pat in STAGES:
            if re.search(pat, joined):
                stages[name] += count
        leaves[stack[-1]] += count
    print(f"samples: {total}\n\nexclusive, by component (innermost known frame):")
    for name, n in comps.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("\ninclusive, by request-path stage:")
    for name, _ in STAGES:
        print(f"  {100 * stages[name] / total:5.1f}%  {name}")
    print(f"\ntop {a.top} leaf frames:")
    for name, n in leaves.most_common(a.top):
        print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
