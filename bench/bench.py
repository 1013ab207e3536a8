#!/usr/bin/env python3
"""Benchmark `calirules diagnose --facts` against the bare-import floor, in one run.

Usage: python bench/bench.py [--repeat 5] [--pods 20,250,1000] [--keep DIR]

For each size it writes a node dump shaped like a real Calico node (one cali* veth, /32 route,
per-interface sysctls, cali-tw-/cali-fw- chains, dispatch entries and profile chains per pod,
plus kube-proxy chains), then times fresh `calirules diagnose` processes and reads their peak RSS.
It prints medians and the ratios that matter, all measured in this run on this machine:
  diagnose(N) / import floor   and   t(1000 pods) / t(250 pods).
This is a script, not a test: timing assertions in a shared CI box are noise.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# Per-interface sysctl leaves as Linux 5.x/6.x prints them (ipv4 conf + ipv6 conf, ~60 per
# interface); 250 pods -> ~15k sysctl lines, as on a real node.
IPV4_CONF = ("accept_local accept_redirects accept_source_route arp_accept arp_announce arp_evict_nocarrier "
             "arp_filter arp_ignore arp_notify bc_forwarding bootp_relay disable_policy disable_xfrm drop_gratuitous_arp "
             "drop_unicast_in_l2_multicast forwarding igmpv2_unsolicited_report_interval "
             "igmpv3_unsolicited_report_interval ignore_routes_with_linkdown log_martians mc_forwarding medium_id "
             "promote_secondaries proxy_arp proxy_arp_pvlan route_localnet rp_filter secure_redirects send_redirects "
             "shared_media src_valid_mark tag").split()
IPV6_CONF = ("accept_dad accept_ra accept_ra_defrtr accept_ra_from_local accept_ra_min_hop_limit accept_ra_mtu "
             "accept_ra_pinfo accept_ra_rt_info_max_plen accept_ra_rt_info_min_plen accept_ra_rtr_pref accept_redirects "
             "accept_source_route addr_gen_mode autoconf dad_transmits disable_ipv6 disable_policy "
             "drop_unicast_in_l2_multicast drop_unsolicited_na enhanced_dad force_mld_version forwarding "
             "hop_limit ignore_routes_with_linkdown keep_addr_on_down max_addresses max_desync_factor mc_forwarding mtu "
             "ndisc_notify proxy_ndp").split()


def pod_iface(i):
    return f"cali{i:011x}"


def make_dump(pods):
    src = "sos_commands/sos_extras/calico"
    sysctl_line = 0

    def sysctl(key, value):
        nonlocal sysctl_line
        sysctl_line += 1
        return {"key": key, "value": value, "source": f"sos_commands/kernel/sysctl_-a:{sysctl_line}"}

    sysctls = [sysctl("net.ipv4.ip_forward", "1"), sysctl("net.ipv4.conf.all.forwarding", "1")]
    interfaces = [
        {"name": "lo", "kind": "loopback", "state": "UNKNOWN", "mtu": 65536, "source": "ip_-d_address:1"},
        {"name": "eth0", "kind": "ether", "state": "UP", "mtu": 1500, "addresses": ["198.19.0.2/16"],
         "source": "ip_-d_address:7"},
    ]
    routes = [{"table": "main", "dst": "default", "via": "198.19.0.1", "dev": "eth0", "source": "ip_route:1"}]
    chains = {"FORWARD": [], "cali-FORWARD": [], "cali-from-wl-dispatch": [], "cali-to-wl-dispatch": []}
    save_line = 0

    def rule(target, match="", goto=False, comments=()):
        nonlocal save_line
        save_line += 1
        packets = 0 if target == "DROP" else 10  # a healthy node: traffic flows, nothing is dropped
        return {"target": target, "goto": goto, "match": match, "comments": list(comments), "packets": packets,
                "bytes": packets * 84, "source": f"{src}/iptables-legacy-save_-c:{save_line}"}

    chains["FORWARD"] = [rule("cali-FORWARD", comments=["cali:wUHhoiAYhphO9Mso"]),
                         rule("KUBE-FORWARD"),
                         rule("ACCEPT", "-m mark --mark 0x10000/0x10000",
                              comments=["cali:S93hcgKJrXEqnTfs", "Policy explicitly accepted packet."])]
    chains["cali-FORWARD"] = [rule("cali-from-wl-dispatch", "-i cali+"), rule("cali-to-wl-dispatch", "-o cali+")]
    for i in range(pods):
        name = pod_iface(i)
        ip = f"198.18.{i // 250}.{i % 250 + 2}"
        interfaces.append({"name": name, "kind": "veth", "state": "UP", "mtu": 1440, "mac": "ee:ee:ee:ee:ee:ee",
                           "peer": "if3", "source": f"ip_-d_address:{10 + 5 * i}"})
        routes.append({"table": "main", "dst": ip, "dev": name, "scope": "link", "source": f"ip_route:{i + 2}"})
        for leaf in IPV4_CONF:
            value = "1" if leaf in ("forwarding", "proxy_arp", "route_localnet", "rp_filter") else "0"
            sysctls.append(sysctl(f"net.ipv4.conf.{name}.{leaf}", value))
        for leaf in IPV6_CONF:
            sysctls.append(sysctl(f"net.ipv6.conf.{name}.{leaf}", "0"))
        chains["cali-from-wl-dispatch"].append(rule(f"cali-fw-{name}", f"-i {name}", goto=True))
        chains["cali-to-wl-dispatch"].append(rule(f"cali-tw-{name}", f"-o {name}", goto=True))
        chains[f"cali-tw-{name}"] = [
            rule("ACCEPT", "-m conntrack --ctstate RELATED,ESTABLISHED"),
            rule("DROP", "-m conntrack --ctstate INVALID"),
            rule("MARK", "--set-xmark 0x0/0x10000"),
            rule("cali-pri-kns.default"),
            rule("RETURN", "-m mark --mark 0x10000/0x10000", comments=["Return if profile accepted"]),
            rule("DROP", comments=["Drop if no profiles matched"]),
        ]
        chains[f"cali-fw-{name}"] = [
            rule("ACCEPT", "-m conntrack --ctstate RELATED,ESTABLISHED"),
            rule("DROP", "-m conntrack --ctstate INVALID"),
            rule("MARK", "--set-xmark 0x0/0x10000"),
            rule("DROP", "-p udp -m udp --dport 4789", comments=["Drop VXLAN encapped packets originating in workloads"]),
            rule("DROP", "-p ipencap", comments=["Drop IPinIP encapped packets originating in workloads"]),
            rule("cali-pro-kns.default"),
            rule("RETURN", "-m mark --mark 0x10000/0x10000", comments=["Return if profile accepted"]),
            rule("DROP", comments=["Drop if no profiles matched"]),
        ]
        chains[f"KUBE-SEP-{i:016X}"] = [rule("KUBE-MARK-MASQ", f"-s {ip}/32"), rule("DNAT", f"-m tcp -p tcp --to-destination {ip}:8080")]
    for dispatch in ("cali-from-wl-dispatch", "cali-to-wl-dispatch"):
        chains[dispatch].append(rule("DROP", comments=["Unknown interface"]))
    chains["cali-pri-kns.default"] = [rule("MARK", "--set-xmark 0x10000/0x10000")]
    chains["cali-pro-kns.default"] = [rule("MARK", "--set-xmark 0x10000/0x10000")]
    filter_chains = [{"name": n, "policy": ("ACCEPT" if n == "FORWARD" else None), "packets": 0, "bytes": 0,
                      "source": f"{src}/iptables-legacy-save_-c:{k + 1}", "rules": r}
                     for k, (n, r) in enumerate(chains.items())]
    return {
        "apiVersion": "calirules/v1", "kind": "NodeFacts",
        "node": {"hostname": f"bench-{pods}", "kernel": "6.1.0-27-amd64"},
        "versions": [{"component": "calico", "version": "v3.28.2", "source": "calico-node.log:1"},
                     {"component": "kubernetes", "version": "v1.30.4", "source": "kubectl_version:1"}],
        "sysctls": sysctls, "interfaces": interfaces, "routes": routes,
        "netfilter": [{"backend": "legacy", "source": f"{src}/iptables-legacy-save_-c",
                       "tables": [{"name": "filter", "chains": filter_chains}]},
                      {"backend": "nft", "source": f"{src}/iptables-nft-save_-c", "tables": []}],
    }


def timed_run(argv):
    """Wall seconds and peak RSS (MiB) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def measure(argv, repeat):
    runs = [timed_run(argv) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pods", default="20,250,1000")
    parser.add_argument("--keep", help="write the generated dumps here instead of a temporary directory")
    args = parser.parse_args()
    sizes = [int(p) for p in args.pods.split(",")]
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="calirules-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    floor, floor_rss = measure([sys.executable, "-c", "import calirules.engine"], args.repeat)
    cli_floor, _ = measure([sys.executable, "-m", "calirules", "--version"], args.repeat)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; median of {args.repeat} fresh processes")
    print(f"import floor (python -c 'import calirules.engine'): {floor * 1000:7.1f} ms  peak {floor_rss:6.1f} MiB")
    print(f"CLI floor    (calirules --version):                 {cli_floor * 1000:7.1f} ms")
    print(f"{'pods':>6} {'sysctls':>8} {'ipt rules':>9} {'dump MiB':>8} {'wall ms':>8} {'peak MiB':>8} {'/floor':>7}")
    times = {}
    for pods in sizes:
        dump = make_dump(pods)
        path = workdir / f"node-{pods}-pods.yaml"
        path.write_text(yaml.dump(dump, Dumper=dumper, default_flow_style=None, sort_keys=False, width=200))
        rules = sum(len(c["rules"]) for c in dump["netfilter"][0]["tables"][0]["chains"])
        wall, rss = measure([sys.executable, "-m", "calirules", "diagnose", "--facts", str(path), "--format", "json"],
                            args.repeat)
        times[pods] = wall
        print(f"{pods:6d} {len(dump['sysctls']):8d} {rules:9d} {path.stat().st_size / 2**20:8.2f} "
              f"{wall * 1000:8.1f} {rss:8.1f} {wall / floor:7.2f}")
    if 250 in times and 1000 in times:
        print(f"scaling t(1000 pods) / t(250 pods) = {times[1000] / times[250]:.2f}  (linear would be 4.0)")
        print(f"engine work above the floor at 250 pods: {(times[250] - floor) * 1000:.1f} ms")
    print(f"dumps in {workdir}")


if __name__ == "__main__":
    main()
