"""The interactive API docs work on a machine without the internet: the page and every file
it loads come from the service itself."""

import re

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def test_the_docs_page_loads_only_the_services_own_files(services):
    client = services.make().client
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "://" not in page.text  # no CDN, no other site: nothing but this service's paths
    assets = ASSET.findall(page.text)
    assert {a.rsplit(".", 1)[1] for a in assets} == {"js", "css", "png"}
    for asset in assets:
        assert asset.startswith("/api/v1/docs/"), asset
        answer = client.get(asset)
        assert answer.status_code == 200, asset
        suffix = "." + asset.rsplit(".", 1)[1]
        assert answer.headers["content-type"].startswith(CONTENT_TYPES[suffix]), asset
        assert len(answer.content) > 100, asset
    bundle = client.get(next(a for a in assets if a.endswith("swagger-ui-bundle.js"))).text
    assert "SwaggerUIBundle" in bundle
    # the page reads the service's own schema
    assert "url: '/api/v1/openapi.json'" in page.text


def test_redoc_is_not_served(services):
    client = services.make().client
    assert client.get("/api/v1/redoc").status_code == 404
    assert client.get("/redoc").status_code == 404
