"""The function registry's active deployment: only `set_deployment` changes it, and the cache follows commit
order, so a settings update racing a build's activation (the CLI pushes every function at once) cannot leave a
function without the deployment that was just activated."""

from __future__ import annotations

import threading
from dataclasses import replace

from appwrite_local.clock import Clock
from appwrite_local.db import Database
from appwrite_local.functions import FunctionRegistry, FunctionSpec
from appwrite_local.system import bootstrap


def _registry(tmp_path) -> FunctionRegistry:
    db = Database(tmp_path / "f.sqlite")
    bootstrap(db)
    return FunctionRegistry(db, Clock())


def _spec(function_id: str) -> FunctionSpec:
    return FunctionSpec(id=function_id, name=function_id, runtime="python-3.11", path="", entrypoint="main.py")


def test_a_settings_update_from_a_stale_read_keeps_the_active_deployment(tmp_path):
    registry = _registry(tmp_path)
    registry.save(_spec("fn"))
    stale = registry.get("fn")[0]  # read by an update request before the build finished
    registry.set_deployment("fn", "d1")
    registry.save(replace(stale, name="renamed"))
    spec = registry.get("fn")[0]
    assert (spec.name, spec.deployment) == ("renamed", "d1")


def test_concurrent_activations_and_updates_all_stay_in_the_cache(tmp_path):
    registry = _registry(tmp_path)
    ids = [f"fn{i}" for i in range(16)]
    for function_id in ids:
        registry.save(_spec(function_id))

    def activate(function_id: str) -> None:
        registry.set_deployment(function_id, f"{function_id}-deployment")

    def update(function_id: str) -> None:
        registry.save(replace(registry.get(function_id)[0], timeout=30))

    threads = [threading.Thread(target=job, args=(f,)) for f in ids for job in (activate, update)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for function_id in ids:
        spec = registry.get(function_id)[0]
        assert (spec.deployment, spec.timeout) == (f"{function_id}-deployment", 30)
    fresh = FunctionRegistry(registry.db, Clock())  # what a restart reads back
    assert {f: fresh.get(f)[0].deployment for f in ids} == {f: f"{f}-deployment" for f in ids}
