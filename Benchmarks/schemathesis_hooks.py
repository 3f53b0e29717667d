"""Schemathesis hooks for the daemon's API runs (`SCHEMATHESIS_HOOKS=Benchmarks/schemathesis_hooks.py`).

Seeds valid policy loads: a generated `POST /v1/policies` body names a directory that does not exist, so a load
almost never succeeds and the stateful phase rarely follows the links from a loaded policy (switch, start, steer,
predict). The `directory` of the load body becomes "one of REFLEX_ST_POLICY_DIRS (colon-separated, directories under
the daemon's policy_roots) or any non-empty string", so most loads succeed and invalid directories are still tried.
The daemon's own document is untouched; only this run's copy of it changes.
"""
import os

import schemathesis


@schemathesis.hook
def before_load_schema(context, raw_schema):
    dirs = [d for d in os.environ.get("REFLEX_ST_POLICY_DIRS", "").split(":") if d]
    if not dirs:
        return
    load = raw_schema["components"]["schemas"]["LoadPolicy"]["properties"]
    load["directory"] = {"anyOf": [{"type": "string", "enum": dirs}, load["directory"]]}
