"""`/docs` (Swagger UI) and `/redoc` from assets inside the image, for both HTTP servers.

FastAPI's pages load Swagger UI's JavaScript and CSS from a public CDN: on an air-gapped cluster
they are blank. The assets come from the pinned `fastapi-offline` package (which ships
swagger-ui-dist and ReDoc) and are served by the app itself, under `ASSETS_PATH`."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def add_offline_docs(app: FastAPI, title: str, *, redoc: bool = True) -> None:
    """Serves `/docs` (and `/redoc`) of `app`'s OpenAPI document with local assets. The app
    must have been built with `docs_url=None, redoc_url=None` (no CDN pages to shadow)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_path = app.openapi_url or "/openapi.json"

    def urls(request: Request) -> tuple[str, str]:
        """(the OpenAPI document, the assets folder), behind whatever prefix serves the app."""
        root = request.scope.get("root_path", "")
        return f"{root}{openapi_path}", f"{root}{ASSETS_PATH}"

    async def docs(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
    if not redoc:
        return

    async def redoc_page(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        js, favicon = f"{assets}/redoc.standalone.js", f"{assets}/favicon.png"
        return get_redoc_html(
            openapi_url=openapi_url, title=title, redoc_js_url=js, redoc_favicon_url=favicon,
            with_google_fonts=False,
        )  # fmt: skip

    app.add_api_route("/redoc", redoc_page, methods=["GET"], include_in_schema=False)
