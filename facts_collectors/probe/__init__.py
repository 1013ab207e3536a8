"""`calirules probe`: send a few probe packets between two pods of this node and watch where they go.

The only thing it changes on the node is the probe packets themselves (and, behind `--trace`, one
tracepoint it switches back on exit). Layers, following the data:

- `model`      the data every step hands to the next (frozen dataclasses, no I/O);
- `nsthread`   run a function inside a named network namespace (one thread, setns);
- `endpoints`  SRC/DST (a pod IP, a cali* interface, a pod namespace) -> Endpoint;
- `capture`    AF_PACKET captures on the veths, frames -> per-hop counts;
- `send`       ICMP echo / TCP SYN / UDP probes from inside the source pod's namespace;
- `counters`   netfilter rule/policy counters and kernel drop counters, before and after;
- `verdict`    the kernel's own answer: `ip route get`, the gateways' neighbour entries, conntrack;
- `trace`      opt-in kernel drop tracing (`--trace`), undone on exit;
- `analyze`    all of the above -> ProbeResult (hops, the drop site) and the Observation fact;
- `run`        the orchestration.
"""
