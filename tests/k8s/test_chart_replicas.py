"""How many gateway pods a provider may run, and the disruption budgets that go with them.

Without Redis/Valkey (`redis.mode: none`) each gateway pod counts every client's limits and budgets in its own
memory: N pods admit N times them. So the chart runs one pod per provider by default and refuses more (replicas,
or an autoscaler that may reach more) unless the limits are shared or `gateway.allowPerPodLimits` says per-pod
limits are meant. Budgets exist only where more than one pod can run, never leave no pod to evict, and let
unready pods go.
"""

from __future__ import annotations

import pytest

from tests.k8s.conftest import VALUE_SETS, find, render, template

FULL = "llm-llm-gateway"
PEERS = "redis.external.egress.cidrs={10.0.0.0/8}"
SHARED = ("redis.mode=external", "redis.external.urlSecret.name=llm-redis", PEERS)  # limits counted in Redis
TWO = (*SHARED, "providers.openai.replicas=2")


@pytest.mark.parametrize("sets", [
    ("gateway.autoscaling.enabled=true",),  # the HPA may reach maxReplicas (6)
    ("gateway.replicas=2",),
    ("providers.openai.replicas=3",),  # one provider is enough
    ("providers.openai.autoscaling.enabled=true", "providers.openai.autoscaling.maxReplicas=3"),
])
def test_more_than_one_pod_counting_limits_alone_is_refused(sets: tuple[str, ...]) -> None:
    code, _, err = template(*sets)
    assert code != 0, "several pods with in-memory limits rendered"
    assert "redis.mode" in err and "gateway.allowPerPodLimits" in err and "per pod" in err, err
    # The way out is named: shared limits, or the explicit opt-out.
    assert template(*sets, *SHARED)[0] == 0
    assert template(*sets, "redis.mode=inChart", "redis.inChart.passwordSecret.name=v")[0] == 0
    code, _, err = template(*sets, "gateway.allowPerPodLimits=true")
    assert code == 0, err


def test_the_defaults_run_one_pod_per_provider_and_render_cleanly() -> None:
    r = render("defaults")
    for provider in r.enabled_providers():
        assert r.one("Deployment", f"{FULL}-{provider}")["spec"]["replicas"] == 1
    assert not r.of_kind("HorizontalPodAutoscaler")
    assert [p["metadata"]["name"] for p in r.of_kind("PodDisruptionBudget")] == [f"{FULL}-edge"]


def test_one_pod_is_accepted_without_redis_however_it_is_spelt() -> None:
    for sets in (("providers.openai.replicas=1",),
                 ("gateway.autoscaling.enabled=true", "gateway.autoscaling.minReplicas=1",
                  "gateway.autoscaling.maxReplicas=1")):
        code, docs, err = template(*sets)
        assert code == 0, err
        assert find(docs, "PodDisruptionBudget", f"{FULL}-openai") is None  # one pod: nothing to keep up


def test_the_high_availability_path_shares_the_limits_and_keeps_budgets() -> None:
    """The README's path: the stores first, then replicas or autoscaling."""
    code, docs, err = template(*SHARED, "gateway.autoscaling.enabled=true")
    assert code == 0, err
    hpa = find(docs, "HorizontalPodAutoscaler", f"{FULL}-openai")
    assert hpa is not None and (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    config = find(docs, "ConfigMap", f"{FULL}-openai")
    assert config is not None and config["data"]["GATEWAY_LIMITS_BACKEND"] == "redis"
    assert config["data"]["GATEWAY_LIMITS_REPLICAS"] == "6"
    budget = find(docs, "PodDisruptionBudget", f"{FULL}-openai")
    assert budget is not None and budget["spec"]["minAvailable"] == 1


def test_an_autoscaling_range_upside_down_is_refused() -> None:
    code, _, err = template(*SHARED, "providers.openai.autoscaling.enabled=true",
                            "providers.openai.autoscaling.minReplicas=5", "providers.openai.autoscaling.maxReplicas=3")
    assert code != 0 and "providers.openai.autoscaling" in err and "minReplicas (5)" in err, err


def test_a_digest_is_per_provider_never_one_for_every_image() -> None:
    digest = "sha256:" + "ab" * 32
    code, _, err = template(f"gateway.image.digest={digest}")
    assert code != 0 and "schema" in err and "providers.<name>.image.digest" in err, err
    code, docs, err = template(f"providers.openai.image.digest={digest}")
    assert code == 0, err
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in docs if d["kind"] == "Deployment"}
    assert images[f"{FULL}-openai"] == f"llmgw/openai@{digest}"
    assert images[f"{FULL}-cohere"] == "llmgw/cohere:0.1.0"


@pytest.mark.parametrize("value", ["2", "3", "100%"])
def test_a_gateway_budget_given_as_a_string_is_checked_like_a_number(value: str) -> None:
    """`--set-string` (or a quoted YAML value) makes minAvailable a string; it must not slip past the check."""
    code, _, err = template(*TWO, set_string=(f"providers.openai.pdb.minAvailable={value}",))
    assert code != 0 and "providers.openai.pdb.minAvailable" in err and "drain" in err, err


@pytest.mark.parametrize("value", ["1", "50%", "99%"])
def test_a_budget_that_leaves_a_pod_to_evict_is_kept(value: str) -> None:
    code, docs, err = template(*TWO, set_string=(f"providers.openai.pdb.minAvailable={value}",
                                                 f"edge.pdb.minAvailable={value}"))
    assert code == 0, err
    for name in (f"{FULL}-openai", f"{FULL}-edge"):
        budget = find(docs, "PodDisruptionBudget", name)
        assert budget is not None and str(budget["spec"]["minAvailable"]) == value


@pytest.mark.parametrize(("sets", "strings"), [
    ((), ("edge.pdb.minAvailable=2",)),  # edge.replicas is 2
    ((), ("edge.pdb.minAvailable=100%",)),
    (("edge.pdb.minAvailable=3",), ()),
    (("edge.replicas=1",), ()),  # minAvailable 1 of 1
])
def test_an_edge_budget_that_would_hang_every_drain_is_refused(sets: tuple[str, ...], strings: tuple[str, ...]) -> None:
    code, _, err = template(*sets, set_string=strings)
    assert code != 0 and "edge.pdb.minAvailable" in err and "drain" in err, err
    assert template(*sets, "edge.pdb.enabled=false", set_string=strings)[0] == 0


def test_a_budget_that_is_not_a_count_or_a_share_is_refused() -> None:
    code, _, err = template(*TWO, set_string=("providers.openai.pdb.minAvailable=one",))
    assert code != 0 and "schema" in err, err


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_budget_lets_unready_pods_be_evicted(name: str) -> None:
    """With every pod unready (Vault down, a provider key missing) the default policy refuses evictions: drains hang."""
    for budget in render(name).of_kind("PodDisruptionBudget"):
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow", (name, budget["metadata"]["name"])


def test_every_budget_of_a_highly_available_release_lets_unready_pods_be_evicted() -> None:
    code, docs, err = template(*SHARED, "gateway.autoscaling.enabled=true")
    assert code == 0, err
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert len(budgets) == 5  # four providers and the edge
    assert {b["spec"]["unhealthyPodEvictionPolicy"] for b in budgets} == {"AlwaysAllow"}
