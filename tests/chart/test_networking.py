"""Ingress (nginx streaming annotations from the upload limit, TLS), Gateway API HTTPRoute, ServiceMonitor."""

import pytest

from tests.chart.render import find, render

NGINX = "nginx.ingress.kubernetes.io/"


@pytest.mark.parametrize(
    ("max_upload", "max_zip", "body_size"),
    [
        (104857600, 1, "101m"),
        (5368709120, 1, "5121m"),
        (1, 1, "2m"),
        (104857601, 1, "102m"),
        (104857600, 10737418240, "10241m"),  # the defaults: model ZIP uploads are the larger bodies
    ],
)
def test_body_size_follows_the_upload_limits(max_upload: int, max_zip: int, body_size: str) -> None:
    """The ingress limit is the larger upload limit rounded up to MiB plus 1 MiB for the other form fields."""
    docs = render(None, "ingress.enabled=true", f"config.maxUploadSize={max_upload}", f"config.models.zipMaxBytes={max_zip}")
    annotations = find(docs, "Ingress", "depot")["metadata"]["annotations"]
    assert annotations[NGINX + "proxy-body-size"] == body_size
    config = find(docs, "ConfigMap", "depot")["data"]
    assert config["DEPOT_MAX_UPLOAD_SIZE"] == str(max_upload)
    assert config["DEPOT_MODEL_ZIP_MAX_BYTES"] == str(max_zip)


def test_ingress_streams_uploads_with_tls() -> None:
    ingress = find(render("ingress"), "Ingress", "depot")
    annotations = ingress["metadata"]["annotations"]
    assert annotations[NGINX + "proxy-request-buffering"] == "off"  # stream to the API, no spooling
    assert annotations[NGINX + "proxy-buffering"] == "off"
    assert annotations[NGINX + "proxy-read-timeout"] == "600"
    assert annotations[NGINX + "proxy-send-timeout"] == "600"
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"  # user annotations kept
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["depot.example.com"], "secretName": "depot-tls"}]
    rule = spec["rules"][0]
    assert rule["host"] == "depot.example.com"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "depot", "port": {"name": "http"}}}


def test_nginx_annotations_can_be_left_out() -> None:
    docs = render(None, "ingress.enabled=true", "ingress.nginxAnnotations=false")
    assert "annotations" not in find(docs, "Ingress", "depot")["metadata"]


def test_no_ingress_or_route_by_default() -> None:
    assert not {"Ingress", "HTTPRoute", "ServiceMonitor"} & {d["kind"] for d in render("default")}


def test_http_route_attaches_to_the_gateway() -> None:
    docs = render("gateway")
    route = find(docs, "HTTPRoute", "depot")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    spec = route["spec"]
    assert spec["parentRefs"] == [{"name": "public", "namespace": "gateway-system", "sectionName": "https"}]
    assert spec["hostnames"] == ["depot.example.com"]
    rule = spec["rules"][0]
    assert rule["backendRefs"] == [{"name": "depot", "port": find(docs, "Service", "depot")["spec"]["ports"][0]["port"]}]
    assert rule["timeouts"] == {"request": "900s"}  # long uploads
    assert not [d for d in docs if d["kind"] == "Ingress"]


def test_service_monitor_scrapes_the_api_metrics() -> None:
    docs = render("ingress")
    monitor = find(docs, "ServiceMonitor", "depot")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]
    service = find(docs, "Service", "depot")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["name"] == "http"
