"""GET / on the API: the try-it page, a static HTML file (no key needed to load it; its POST needs one)."""

from pathlib import Path

PAGE = (Path(__file__).parent / "index.html").read_text(encoding="utf-8")
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # the page talks to its own API only; nothing may frame it
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src blob:; "
        "connect-src 'self'; frame-ancestors 'none'"
    ),
}


def lambda_handler(event: dict, context) -> dict:
    return {"statusCode": 200, "headers": HEADERS, "body": PAGE}
