"""Schemathesis hooks for the daemon's API runs (`SCHEMATHESIS_HOOKS=Benchmarks/schemathesis_hooks.py`).

Seeds valid policy loads: a generated `POST /v1/policies` body names a directory that does not exist, so a load
almost never succeeds and the stateful phase rarely follows the links from a loaded policy (switch, start, steer,
predict). Here a load body's `directory` is, half of the time, one of REFLEX_ST_POLICY_DIRS (colon-separated,
directories under the daemon's policy_roots); the other half keeps the generated value, so invalid directories are
still tried. (A schema `anyOf` with an `enum` does not do it: the generator merges it into the broader string.)
"""
import os

import schemathesis
from hypothesis import strategies as st


@schemathesis.hook
def before_generate_body(context, strategy):
    dirs = [d for d in os.environ.get("REFLEX_ST_POLICY_DIRS", "").split(":") if d]
    op = context.operation
    if not dirs or op is None or op.method.upper() != "POST" or op.path != "/v1/policies":
        return strategy

    def seeded(pair):
        body, directory = pair
        return {**body, "directory": directory} if isinstance(body, dict) else body

    return st.one_of(st.tuples(strategy, st.sampled_from(dirs)).map(seeded), strategy)
