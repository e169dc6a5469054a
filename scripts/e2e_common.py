"""What the end-to-end clients (e2e_client.py, e2e_serve.py, e2e_upstream.py) share: the
pass/fail bookkeeping whose "ok - " / "FAIL - " lines and counts e2e.sh sums up, and small
helpers for reading the SDK's results and errors."""

from typing import Any


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, cond: bool, detail: Any = "") -> bool:
        if cond:
            self.passed += 1
            print(f"ok - {name}", flush=True)
        else:
            self.failed += 1
            d = f": {short(detail)}" if detail != "" else ""
            print(f"FAIL - {name}{d}", flush=True)
        return bool(cond)


def short(v: Any, n: int = 400) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "...(truncated)"


def leaf_errors(e: BaseException) -> list[BaseException]:
    """Flatten anyio/asyncio ExceptionGroups into their leaf exceptions."""
    if isinstance(e, BaseExceptionGroup):
        return [leaf for sub in e.exceptions for leaf in leaf_errors(sub)]
    return [e]


def text_of(result: Any) -> str:
    """The text of a tool result's content."""
    return "".join(getattr(c, "text", "") for c in result.content)
