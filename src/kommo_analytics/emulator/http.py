"""Response helpers shared by every emulator route: HAL JSON, problem+json and HTML bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

HAL_JSON = "application/hal+json"
PROBLEM_JSON = "application/problem+json"


def _dumps(data: Any) -> bytes:
    # Kommo sends UTF-8 without escaping (pt-BR names stay readable on the wire).
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def hal_json(data: Any, status: int = 200) -> Response:
    return Response(_dumps(data), status_code=status, media_type=HAL_JSON)


def no_content() -> Response:
    """An empty list or no match: HTTP 204 with an empty body (not `[]`)."""
    return Response(b"", status_code=204)


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "title": title,
        "type": f"https://httpstatus.es/{status}",
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return Response(_dumps(body), status_code=status, media_type=PROBLEM_JSON)


def html(status: int, title: str) -> Response:
    """nginx-style HTML error page, as Kommo sends for 429 and for the 403 block."""
    body = (
        f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Response(body.encode(), status_code=status, media_type="text/html")


def base_url(request: Request) -> str:
    """The scheme and host the client used, for `_links` hrefs."""
    return f"{request.url.scheme}://{request.url.netloc}"
