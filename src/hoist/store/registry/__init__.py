"""The registry backend of the Store protocol: the distribution HTTP API, auth and uploads."""

import sys

# httpx imports its optional command-line client at import time, which pulls in rich and pygments
# (60 ms of every hoist start, measured). hoist never uses that client: mapping the module to None makes
# httpx take its own documented fallback at once.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
