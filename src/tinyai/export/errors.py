"""One line that names why an export failed, from the exceptions the exporters raise.

torch's exporters wrap the real cause: the dynamo exporter in a multi-paragraph
"Failed to export the model with torch.export ..." report, with terminal colour codes around
the user's source lines; the torchscript tracer in tracebacks. The cause a user can act on
("forward() takes 2 positional arguments but 3 were given", "Dynamic control flow is not
supported") is the innermost exception of the chain.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# Lines of the exporters' own reports that say nothing about this model.
_BOILERPLATE = re.compile(
    r"^(failed to (export|convert)|this is step|##|traceback|file \"|from user code|"
    r"set torch_logs|for more information|you can suppress|the above exception|"
    r"please report|\(?see above\)?|$)",
    re.IGNORECASE,
)
MAX_CHARS = 300


def export_error_line(exc: BaseException) -> str:
    """`Type: message` of the innermost exception that says something, on one line."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for error in reversed(chain):
        line = meaningful_line(str(error))
        if line:
            return f"{type(error).__name__}: {line}"[:MAX_CHARS]
    return type(exc).__name__


def meaningful_line(text: str) -> str:
    """The first line of `text` that is not exporter boilerplate, colour codes removed."""
    for raw in _ANSI.sub("", text).splitlines():
        line = " ".join(raw.split())
        if not _BOILERPLATE.match(line):
            return line
    return ""
