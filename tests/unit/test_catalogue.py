"""The provider catalogue: the loader refuses malformed rows by name; generated files match it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import catalogue
from catalogue import generate
from catalogue.blocks import BLOCKS
from catalogue.regions import RegionError, region_names, render_regions

REPO = Path(__file__).resolve().parents[2]
GOOD_ROW = """
[vault]
mount = "secret"
provider_path = "llm/providers/{name}"
clients_path = "llm/clients"

[[provider]]
name = "local-llama"
title = "Llama (vLLM)"
kind = "openai-compatible"
adapter = "gateway.providers.openai_compatible:OpenAICompatibleAdapter"
extra = "openai"
loggers = ["openai"]
key_env = "LOCAL_LLAMA_API_KEY"
base_url = "http://vllm.internal:8000/v1"
models = ["llama-3.1-8b-instruct"]
port = 8105
mock_protocol = "openai"
mock_path = "/local-llama/v1"
streaming = true
tools = true
embedding_models = []
"""


def _load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> tuple[catalogue.Provider, ...]:
    path = tmp_path / "providers.toml"
    path.write_text(text)
    monkeypatch.setattr(catalogue, "CATALOGUE", path)
    catalogue._load.cache_clear()
    try:
        return catalogue.providers()
    finally:
        monkeypatch.undo()
        catalogue._load.cache_clear()


def test_a_row_reads_into_a_typed_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (row,) = _load(tmp_path, monkeypatch, GOOD_ROW)
    assert row.models == ("llama-3.1-8b-instruct",) and row.upper == "LOCAL_LLAMA"
    assert row.adapter == "gateway.providers.openai_compatible:OpenAICompatibleAdapter"


@pytest.mark.parametrize(("old", "new", "message"), [
    ('name = "local-llama"', 'name = "Local_Llama"', "invalid name"),
    ('adapter = "gateway', 'adapter = "os.system', "invalid adapter"),
    ('key_env = "LOCAL_LLAMA_API_KEY"', 'key_env = "local-llama key"', "invalid key_env"),
    ("port = 8105", 'port = "8105"', "port must be a int"),
    ('mock_path = "/local-llama/v1"', 'mock_path = "local-llama"', "invalid mock_path"),
    ("tools = true\n", "", r"missing \['tools'\]"),
    ("tools = true\n", "tools = true\nvision = true\n", r"unknown \['vision'\]"),
])
def test_a_malformed_row_is_refused_naming_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     old: str, new: str, message: str) -> None:
    with pytest.raises(catalogue.CatalogueError, match=rf"provider #1 \(.*\): .*{message}"):
        _load(tmp_path, monkeypatch, GOOD_ROW.replace(old, new))


def test_duplicate_ports_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    second = GOOD_ROW.split("[[provider]]")[1].replace("local-llama", "local-qwen").replace("LOCAL_LLAMA", "LQ")
    with pytest.raises(catalogue.CatalogueError, match="duplicate port 8105"):
        _load(tmp_path, monkeypatch, GOOD_ROW + "[[provider]]" + second)


def test_every_generated_file_is_current() -> None:
    result = subprocess.run([sys.executable, "-m", "catalogue.generate", "--check"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_check_names_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = generate.outputs()
    victim = REPO / "deploy/monitoring/prometheus.yml"
    monkeypatch.setattr(generate, "outputs", lambda: {**outputs, victim: outputs[victim] + "# drift\n"})
    assert generate.stale_outputs() == [victim]


def test_every_region_file_uses_only_known_blocks_and_each_block_is_used() -> None:
    used = {name for rel in generate.REGION_FILES for name in region_names((REPO / rel).read_text())}
    assert used == set(BLOCKS)


def test_a_region_is_replaced_with_the_indentation_of_its_marker() -> None:
    text = "a:\n  # BEGIN catalogue:compose-net-list\n  - stale\n  # END catalogue:compose-net-list\nb: 1\n"
    out = render_regions(text, BLOCKS, "t.yml")
    assert out.splitlines()[2:2 + len(catalogue.names())] == [f"  - net-{n}" for n in catalogue.names()]
    assert "stale" not in out and out.endswith("b: 1\n")


def test_unterminated_or_unknown_regions_are_refused() -> None:
    with pytest.raises(RegionError, match="no '# END catalogue:compose-net-list'"):
        render_regions("# BEGIN catalogue:compose-net-list\n- x\n", BLOCKS, "t.yml")
    with pytest.raises(RegionError, match="unknown catalogue block 'nope'"):
        render_regions("# BEGIN catalogue:nope\n# END catalogue:nope\n", BLOCKS, "t.yml")


def test_vault_paths_are_the_catalogue_paths() -> None:
    from vaultctl import kv
    from vaultctl.policies import render_policies

    for row in catalogue.providers():
        assert kv.provider_path(row.name) == row.vault_path
        policy = render_policies()[f"llm-gateway-{row.name}"]
        assert f'path "secret/data/{row.vault_path}"' in policy
