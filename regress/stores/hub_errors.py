"""What a failed Hub call means, for both the Hub store (:mod:`.hf`) and its publisher
(:mod:`.publish_hub`): a refused or missing repository, a token that cannot act, a network
that is down. Kept apart from both so that neither imports the other.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during, each once."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a failed Hub request: the status code of the first
    ``huggingface_hub`` :class:`HfHubHTTPError` (or subclass) in the exception's chain, which
    carries the server's response; None for anything else (a network failure, a bug)."""
    from huggingface_hub.errors import HfHubHTTPError

    for e in chain(exc):
        if isinstance(e, HfHubHTTPError):
            status = getattr(getattr(e, "response", None), "status_code", None)
            if isinstance(status, int):
                return status
    return None


def _network_types() -> tuple[type[BaseException], ...]:
    """The exception types of a connection that failed: huggingface_hub's offline error, the
    standard library's, and the transport errors of whichever HTTP client huggingface_hub has
    loaded (httpx2, httpx, requests across its versions; one that is not loaded raised nothing)."""
    import sys

    from huggingface_hub.errors import OfflineModeIsEnabled

    types: list[type[BaseException]] = [OfflineModeIsEnabled, ConnectionError, TimeoutError,
                                        urllib.error.URLError]
    for module, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                          ("requests", ("ConnectionError", "Timeout"))):
        loaded = sys.modules.get(module)
        types += [t for n in names if isinstance(t := getattr(loaded, n, None), type)]
    return tuple(types)


def is_network_error(exc: BaseException) -> bool:
    """A connection that failed (refused, timed out, offline), by type: never an HTTP answer
    (an :class:`HfHubHTTPError` is the server speaking)."""
    from huggingface_hub.errors import HfHubHTTPError

    types = _network_types()
    return any(isinstance(e, types) and not isinstance(e, HfHubHTTPError) for e in chain(exc))


def reach(endpoint: str, *, tries: int, backoff: float, timeout: float = 5.0) -> str | None:
    """None when something answers HTTP at ``endpoint`` (any status) within ``tries`` tries, the
    waits between them starting at ``backoff`` seconds and doubling; else why not (the last
    transport error's type)."""
    import logging

    from huggingface_hub.utils import http_backoff

    # huggingface_hub logs each retry with the full URL, credentials in it included: regress says
    # what happened in its own redacted line instead.
    log = logging.getLogger("huggingface_hub")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        http_backoff("HEAD", endpoint, max_retries=max(0, tries - 1), base_wait_time=backoff,
                     max_wait_time=backoff * 2 ** max(0, tries - 2), retry_on_status_codes=(), timeout=timeout,
                     follow_redirects=False)
        return None
    except Exception as exc:  # noqa: BLE001 - any failure to get an answer is "unreachable", named
        return type(exc).__name__
    finally:
        log.setLevel(level)


def token_hint(action: str = "read") -> str:
    from huggingface_hub import get_token

    if get_token() is None:
        return f"no Hugging Face token is set: export HF_TOKEN=<a token that can {action} it> (or `hf auth login`)"
    return f"the token in use cannot {action} it (HF_TOKEN, or `hf auth login`)"
