"""The API explorer (Swagger UI) served offline and without inline script, so that it works under the site's
Content-Security-Policy: the page loads the bundle and ``/static/js/swagger-init.js``, which reads the schema."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin

__all__ = ["OfflineSwagger"]


class OfflineSwagger(SwaggerRenderPlugin):
    def __init__(self, *, vendor: str, spec_url: str, init_js_url: str, path: str = "/swagger") -> None:
        super().__init__(
            js_url=f"{vendor}/swagger-ui-bundle.js",
            css_url=f"{vendor}/swagger-ui.css",
            standalone_preset_js_url=f"{vendor}/swagger-ui-standalone-preset.js",
            path=path,
        )
        self.spec_url = spec_url
        self.init_js_url = init_js_url

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        return f"""<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link href="{escape(self.css_url)}" rel="stylesheet">
  <script src="{escape(self.js_url)}"></script>
  <script src="{escape(self.standalone_preset_js_url)}"></script>
  <script src="{escape(self.init_js_url)}"></script>
</head>
<body>
  <div id="swagger-container" data-spec="{escape(self.spec_url)}"></div>
</body>
</html>
""".encode()
