"""report.pdf: WeasyPrint prints the report's HTML page (A4, numbered pages; the print CSS is in report_html).

The page is self-contained, so the printer has nothing to fetch; a URL fetcher that refuses everything except
inline `data:` URLs makes sure of it, whatever a page might hold.
"""

from __future__ import annotations

import logging
from typing import Any


class FetchRefused(ValueError):
    pass


def _check(url: str) -> None:
    if not url.startswith("data:"):
        raise FetchRefused(f"the report fetches nothing; refused {url[:80]!r}")


def data_only_fetcher() -> Any:
    """A WeasyPrint url_fetcher that serves `data:` URLs and refuses every other (http, file, ftp ...)."""
    from weasyprint import urls

    base = getattr(urls, "URLFetcher", None)
    if base is None:  # WeasyPrint before 68 takes a function returning a dict

        def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
            _check(url)
            return urls.default_url_fetcher(url, *args, **kwargs)

        return fetch

    class DataOnly(base):  # type: ignore[misc, valid-type]
        def fetch(self, url: str, headers: Any = None) -> Any:
            _check(url)
            return super().fetch(url, headers)

    return DataOnly(allowed_protocols=("data",), allow_redirects=False)


def html_to_pdf(page: str) -> bytes:
    from weasyprint import HTML

    # WeasyPrint reports every CSS property it does not know as a warning; only errors are worth a line.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    pdf: bytes = HTML(string=page, url_fetcher=data_only_fetcher(), media_type="print").write_pdf()
    return pdf
