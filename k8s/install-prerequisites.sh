#!/usr/bin/env bash
# Installs what prodcat's chart expects in the cluster of the current kubectl context:
# ingress-nginx, cert-manager, KServe (Standard mode) and, with --monitoring,
# kube-prometheus-stack; with --gateway, Envoy Gateway (for gateway.enabled=true).
# Needs: kubectl, helm >= 3.14 (or 4), network access to the chart repositories.
#   k8s/install-prerequisites.sh [--monitoring] [--gateway]
# Versions are pinned here; bump them together and re-run (every step is an idempotent upgrade --install).
set -euo pipefail

INGRESS_NGINX_VERSION="${INGRESS_NGINX_VERSION:-4.13.3}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.21.1}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
KUBE_PROMETHEUS_STACK_VERSION="${KUBE_PROMETHEUS_STACK_VERSION:-80.0.0}"
ENVOY_GATEWAY_VERSION="${ENVOY_GATEWAY_VERSION:-v1.9.0}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
monitoring=false
gateway=false
for arg in "$@"; do
  case "$arg" in
    --monitoring) monitoring=true ;;
    --gateway) gateway=true ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (expected --monitoring, --gateway)" >&2; exit 2 ;;
  esac
done

echo "context: $(kubectl config current-context)"

echo "== ingress-nginx ${INGRESS_NGINX_VERSION}"
helm upgrade --install ingress-nginx ingress-nginx \
  --repo https://kubernetes.github.io/ingress-nginx --version "${INGRESS_NGINX_VERSION}" \
  --namespace ingress-nginx --create-namespace \
  --values "${here}/values/ingress-nginx.yaml" --wait --timeout 5m

echo "== cert-manager ${CERT_MANAGER_VERSION}"
helm upgrade --install cert-manager cert-manager \
  --repo https://charts.jetstack.io --version "${CERT_MANAGER_VERSION}" \
  --namespace cert-manager --create-namespace \
  --values "${here}/values/cert-manager.yaml" --wait --timeout 5m

echo "== KServe ${KSERVE_VERSION} (Standard deployment mode)"
helm upgrade --install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd \
  --version "${KSERVE_VERSION}" --namespace kserve --create-namespace --wait
helm upgrade --install kserve oci://ghcr.io/kserve/charts/kserve \
  --version "${KSERVE_VERSION}" --namespace kserve \
  --values "${here}/values/kserve.yaml" --wait --timeout 5m

if [ "$monitoring" = true ]; then
  echo "== kube-prometheus-stack ${KUBE_PROMETHEUS_STACK_VERSION}"
  helm upgrade --install kube-prometheus-stack kube-prometheus-stack \
    --repo https://prometheus-community.github.io/helm-charts \
    --version "${KUBE_PROMETHEUS_STACK_VERSION}" \
    --namespace monitoring --create-namespace \
    --values "${here}/values/kube-prometheus-stack.yaml" --wait --timeout 10m
fi

if [ "$gateway" = true ]; then
  echo "== Envoy Gateway ${ENVOY_GATEWAY_VERSION} (GatewayClass eg)"
  helm upgrade --install eg oci://docker.io/envoyproxy/gateway-helm \
    --version "${ENVOY_GATEWAY_VERSION}" --namespace envoy-gateway-system --create-namespace --wait
  kubectl apply -f - <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: eg
spec:
  controllerName: gateway.envoyproxy.io/gatewayclass-controller
YAML
fi

echo "done: install prodcat with helm (k8s/README.md) or skaffold."
