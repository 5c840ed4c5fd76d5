"""The compose stage runs the integration files in parallel against one shared mock, so a test that reads the mock's
record of the last call (or a counter) sees the other files' calls land in between. Such a test is `local_stack`
(deselected there, run against the test's own stack) unless it is listed below with the reason it is safe."""

from __future__ import annotations

import ast
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
READ = "stack.mock_url}/_mock/stats"

SAFE = {
    # retries until the mock's record did not move while it sent
    ("test_edge_routing.py", "test_a_credential_header_sent_twice_never_reaches_the_provider"),
    # every call to one provider carries the same provider key, whoever sends it
    ("test_gateway_clients.py", "test_upstream_saw_the_provider_key_not_the_client_key"),
    # need the gateways' direct URLs, which only the Dagger suites (one pytest process each) have
    ("test_edge_routing.py", "test_invalid_or_foreign_credentials_stop_at_verify"),
    ("test_validate.py", "test_every_gateway_validates_green_without_spending_tokens"),
}


def _module_marked(tree: ast.Module) -> bool:
    return any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark" for t in n.targets)
               and "local_stack" in ast.unparse(n) for n in tree.body)


def _readers(tree: ast.Module) -> set[str]:
    """Module-level helpers that read the shared mock's record, directly or through another helper."""
    helpers = {n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("test_")}
    found = {n.name for n in helpers if READ in ast.unparse(n)}
    while grown := {n.name for n in helpers if n.name not in found and any(f"{h}(" in ast.unparse(n) for h in found)}:
        found |= grown
    return found


def unmarked_readers() -> set[tuple[str, str]]:
    unmarked = set()
    for path in sorted(INTEGRATION.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        if READ not in path.read_text() or _module_marked(tree):
            continue
        readers = _readers(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test_"):
                continue
            body = ast.unparse(node)
            reads = READ in body or any(f"{h}(" in body for h in readers)
            if reads and not any("local_stack" in ast.unparse(d) for d in node.decorator_list):
                unmarked.add((path.name, node.name))
    return unmarked


def test_every_test_reading_the_shared_mock_is_local_stack_or_safe() -> None:
    assert unmarked_readers() - SAFE == set()


def test_the_scan_finds_the_tests_it_lets_through() -> None:
    # The allowance list names tests that still exist and still read the record: the scan is looking.
    assert SAFE <= unmarked_readers()
