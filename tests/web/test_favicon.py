"""The console's icon: linked from every page, and answered at /favicon.ico, where browsers ask
for it whatever a page links (it was a 404 in every browser's log)."""
from __future__ import annotations

import re

import pytest

from .test_console_pages_ops import PAGES, console  # noqa: F401 (fixture)


@pytest.mark.parametrize("path", ["/favicon.ico", "/static/favicon.ico"])
def test_the_icon_is_an_image_without_signing_in(api, path: str) -> None:
    answer = api.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("image/")
    assert answer.content[:4] == b"\x00\x00\x01\x00"  # an ICO file: reserved 0, type 1 (icon)
    assert answer.content == api.get("/favicon.ico").content


def test_every_console_page_links_the_icon(api, console) -> None:  # noqa: F811 (fixture)
    client = console()
    for page in [*PAGES, "/console/sign-in"]:
        html = (client if page != "/console/sign-in" else api).get(page).text
        links = re.findall(r'<link rel="icon" href="([^"]+)"', html)
        assert links == ["/static/favicon.ico"], page
