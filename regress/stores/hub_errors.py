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
    """The HTTP status of a failed request, where the exception carries its response."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


_NETWORK_ERRORS = ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "NetworkError",
                   "ConnectionError", "OfflineModeIsEnabled", "RemoteProtocolError")


def is_network_error(exc: BaseException) -> bool:
    """A connection that failed (refused, timed out, offline), by class name so that it holds
    for the HTTP client of any huggingface_hub version."""
    return any(c.__name__ in _NETWORK_ERRORS for e in chain(exc) for c in type(e).__mro__)


def probe(endpoint: str, timeout: float = 5.0) -> str | None:
    """None when something answers HTTP at ``endpoint`` (any status), else why not."""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
        return None
    except urllib.error.HTTPError:
        return None
    except urllib.error.URLError as exc:
        reason = exc.reason
        return type(reason).__name__ if isinstance(reason, BaseException) else str(reason)
    except OSError as exc:
        return type(exc).__name__


def token_hint(action: str = "read") -> str:
    from huggingface_hub import get_token

    if get_token() is None:
        return f"no Hugging Face token is set: export HF_TOKEN=<a token that can {action} it> (or `hf auth login`)"
    return f"the token in use cannot {action} it (HF_TOKEN, or `hf auth login`)"
