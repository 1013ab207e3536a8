# The calirules image: `calirules k8s manifests` runs it as the node agent (a DaemonSet) and as
# the same-node network check (a Job).
#   docker build -t REGISTRY/calirules:0.1.0 .      (or: podman build -f Dockerfile ...)
# It runs as root on purpose: the agent needs uid 0 for iptables-legacy-save (see
# docs/kubernetes.md); the manifests drop every capability but the few the commands need.
FROM python:3.12-slim-bookworm

# The commands live collection runs on the node (read-only listings): ip (iproute2),
# iptables-legacy-save / iptables-nft-save (iptables), nft (nftables), conntrack, ipset,
# sysctl (procps), dmesg (util-linux), kmod's modules.builtin reader; ping for the network
# check; libarchive for reading bundles.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        iproute2 iptables nftables conntrack ipset kmod procps util-linux iputils-ping libarchive13 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY calirules ./calirules
COPY base ./base
COPY engine ./engine
COPY facts_collectors ./facts_collectors
COPY lab ./lab
COPY rules ./rules
COPY templates ./templates
RUN pip install --no-cache-dir . && rm -rf /src
WORKDIR /

ENTRYPOINT ["calirules"]
CMD ["k8s", "node-agent", "--interval", "10m", "--status-file", "/run/calirules/status"]
