"""Cache policies, checks and function registration of the module."""


from tests.unit.dagger.chain import (
    RUN,
    SOURCE_IGNORE,
    chain,
    main,
    registered,
)


def test_cache_policy_follows_what_a_result_depends_on() -> None:
    """Anything holding a run id (a live Vault) or acting outside is never cached; verdicts once per session."""
    policies = {name: fn.cache_policy for name, fn in registered().items()}
    never = {"vault", "bootstrap", "gateway", "proxy", "stack", "suite", "publish", "deploy", "deploy_kubernetes"}
    session = {"test", "test_report", "test_integration", "test_health", "test_auth", "test_perf", "test_langchain"}
    assert {n for n, p in policies.items() if p == "never"} == never
    assert {n for n, p in policies.items() if p == "session"} == session
    # Pure functions of the source keep the engine's default cache: lint, unit, builds, credentials of a run id.
    assert {n for n, p in policies.items() if p is None} == set(policies) - never - session


def test_stack_is_an_up_service_whose_log_holds_no_client_key(module: main.LlmStack) -> None:
    assert registered()["stack"].service  # `@up`: `dagger up` serves it
    proxy = module.stack()
    assert not [c for c in chain(proxy) if c.name in ("withMountedFile", "withFile")]
    script = chain(proxy)[-1].args["args"][-1]
    assert "clients.json" not in script.split("jq")[0] and f"--run-id {RUN} stack-credentials" in script
    files = [c.args["path"] for c in chain(module.stack_credentials()) if c.name == "withFile"]
    assert files == ["clients.json", "ca.pem"]


def test_suites_are_checks_and_every_function_is_documented() -> None:
    functions = registered()
    checks = {name for name, fn in functions.items() if fn.check}
    # `dagger check` runs checks concurrently: the integration suites are one check on one stack.
    assert checks == {"lint", "test_unit", "test_integration"}
    for name, fn in functions.items():
        assert fn.doc and "\n" not in fn.doc.strip(), f"{name}: one-line docstring"
        for param in fn.parameters.values():
            assert param.doc, f"{name}({param.name}) has no Doc()"


def test_source_argument_uses_the_one_ignore_list_the_replay_applies() -> None:
    """What the engine filters with is what tests/containers/test_module_replay.py replays."""
    from dagger.mod import default_module

    ctor = default_module()._objects["LlmStack"].get_constructor(default_module()._converter)
    source = ctor.parameters["source"]
    assert source.default_path == "/"
    assert source.ignore == SOURCE_IGNORE
