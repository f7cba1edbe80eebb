"""The HTTP contract is the gRPC one: routes come from the annotations, the committed OpenAPI document is what
the protos give, buf's copies of the annotation protos are the pinned package's, and the console's files are
served with their types and nothing outside their folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.ocr_client.pb import fleet_pb2, ocr_pb2
from server.http.openapi import contract_services, openapi_document
from server.http.routes import match, routes_of
from server.http.static import StaticFiles
from server.http.transcode import apply_path, apply_query
from tests.conftest import REPO

ISSUE_ROUTES = {
    ("POST", "/v1/images:recognize"),
    ("POST", "/v1/images:batchRecognize"),
    ("POST", "/v1/documents:recognize"),
    ("GET", "/v1/serverInfo"),
    ("GET", "/v1/events"),
    ("GET", "/v1/devices"),
    ("GET", "/v1/sightings"),
    ("GET", "/v1/events:watch"),
    ("DELETE", "/v1/devices/{device_id}/data"),
}


def test_routes_are_the_annotations():
    routes = routes_of(contract_services())
    assert {(r.verb, r.template) for r in routes} >= ISSUE_ROUTES
    # every method but the two client streams of frames and reports has a route, and only one
    methods = [m for s in contract_services() for m in s.methods]
    routed = [r.method.full_name for r in routes]
    assert sorted(routed) == sorted(
        m.full_name for m in methods if m.name not in ("StreamRecognize", "ReportEvents")
    )
    route, variables, _ = match(routes, "DELETE", "/v1/devices/cam%2F1/data")
    assert route is not None and route.full_method == "/fleet.v1.FleetService/DeleteDeviceData"
    request = route.request_class()
    apply_path(variables, request)
    assert request.device_id == "cam/1"
    assert match(routes, "DELETE", "/v1/devices/a/b/data")[0] is None


def test_the_committed_openapi_document_is_what_the_protos_give():
    committed = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert committed == openapi_document(contract_services()), "run: python -m server.http.openapi > docs/openapi.json"
    paths = committed["paths"]
    assert {(verb.upper(), path) for path, ops in paths.items() for verb in ops} >= ISSUE_ROUTES
    query = {p["name"] for p in paths["/v1/events"]["get"]["parameters"]}
    assert {"filter.device_id", "filter.start_time", "filter.types", "page_size", "newest_first"} <= query


def test_bufs_copies_of_the_annotation_protos_are_the_pinned_packages():
    import google.api.annotations_pb2

    package = Path(google.api.annotations_pb2.__file__).parent
    for name in ("annotations.proto", "http.proto"):
        copy = REPO / "clients" / "node" / "proto" / "google" / "api" / name
        assert copy.read_bytes() == (package / name).read_bytes(), f"refresh {copy} from googleapis-common-protos"


def test_query_parameters_fill_nested_repeated_and_well_known_fields():
    request = fleet_pb2.QueryEventsRequest()
    apply_query(
        [
            ("filter.device_id", "cam-1"),
            ("filter.types", "EVENT_TYPE_APPEARED"),
            ("filter.types", "EVENT_TYPE_STABLE"),
            ("filter.startTime", "2026-01-02T03:04:05Z"),
            ("filter.min_confidence", "0.5"),
            ("page_size", "7"),
            ("newest_first", "true"),
        ],
        request,
    )
    assert request.filter.device_id == "cam-1" and request.page_size == 7 and request.newest_first
    assert list(request.filter.types) == [fleet_pb2.EVENT_TYPE_APPEARED, fleet_pb2.EVENT_TYPE_STABLE]
    assert request.filter.start_time.seconds == 1767323045 and request.filter.min_confidence == 0.5
    sightings = fleet_pb2.ListSightingsRequest()
    apply_query([("window", "90s")], sightings)
    assert sightings.window.seconds == 90


@pytest.mark.parametrize(
    "query", [[("nope", "1")], [("image", "x")], [("image.content", "a"), ("image.content", "b")]]
)
def test_bad_query_parameters(query):
    from server.http.errors import HttpError

    with pytest.raises(HttpError) as info:
        apply_query(query, ocr_pb2.RecognizeRequest())
    assert info.value.reason == "REQUEST_MALFORMED" and info.value.http_status == 400


def test_static_files_stay_inside_their_folder(tmp_path):
    root = tmp_path / "console"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html>")
    (root / "js" / "main.js").write_text("export {}")
    (root / ".secret").write_text("x")
    (tmp_path / "outside.txt").write_text("x")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    files = StaticFiles(root)
    assert files.find("/") == (root / "index.html").resolve()
    assert files.find("/console/js/main.js") == files.find("/js/main.js") == (root / "js" / "main.js").resolve()
    for hostile in ("/../outside.txt", "/js/../../outside.txt", "/.secret", "/link.txt", "/js", "/js//main.js",
                    "/js\\main.js", "/missing.css", "/index.html\0"):
        assert files.find(hostile) is None, hostile
    assert files.response(files.find("/js/main.js")).headers["content-type"].startswith("text/javascript")
