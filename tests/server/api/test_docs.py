"""``/docs`` works without internet: every asset its page loads is served by Flowyard."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
from fastapi import FastAPI

EXPECTED_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}


class AssetLinks(HTMLParser):
    """The URLs a browser fetches while loading the page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value is not None:
                self.urls.append(value)


async def test_docs_page_loads_only_its_own_assets(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        # Nothing absolute: no CDN, no public validator badge.
        assert re.findall(r"(?:https?:)?//[\w.-]+", page.text) == []

        parser = AssetLinks()
        parser.feed(page.text)
        # The script's own fetch of the document, beside the tags' assets.
        spec_urls = re.findall(r"url: '([^']+)'", page.text)
        urls = parser.urls + spec_urls
        assert spec_urls == ["/api/openapi.json"]
        assert any(u.endswith("swagger-ui-bundle.js") for u in urls)
        assert any(u.endswith("swagger-ui.css") for u in urls)

        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            suffix = url[url.rfind(".") :]
            assert asset.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), url
            assert len(asset.content) > 0

        bundle = await client.get("/docs-assets/swagger-ui-bundle.js")
        assert b"SwaggerUIBundle" in bundle.content


async def test_docs_oauth2_redirect_is_served_and_redoc_is_not(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        redirect = await client.get("/docs/oauth2-redirect")
        assert redirect.status_code == 200
        assert re.findall(r"<script src=", redirect.text) == []
        # ReDoc would need a bundle of its own from a CDN: it is not served at all.
        assert (await client.get("/redoc")).status_code == 404
