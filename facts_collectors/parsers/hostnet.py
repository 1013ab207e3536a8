"""Host network managers -> the `network_managers` section: does NetworkManager or
systemd-networkd claim Calico's interfaces?

Readers (each never raises, and returns what it could read):
  - `parse_ini`: NetworkManager.conf / conf.d snippets and systemd `.network` files (INI:
    `[section]`, `key=value`, `#`/`;` comments; NetworkManager's `key+=v` / `key-=v`);
  - `parse_systemctl_units`: `systemctl list-units` (sos systemd plugin) -> unit states;
  - `parse_nmcli_general_status`: `nmcli general status` (sos runs it only while NetworkManager
    runs; `Error: NetworkManager is not running.` otherwise).

Evaluators (they need every file at once, in the managers' order):
  - `networkmanager_claims(files)`: which Calico devices NetworkManager would manage, from
    `[keyfile] unmanaged-devices` and `[device*] match-device` + `managed`, merged in
    NetworkManager's order (usr/lib conf.d, NetworkManager.conf, run and etc conf.d; a same-named
    etc snippet shadows the usr/lib one; later keys win). Device specs follow
    NetworkManager.conf(5) "Device List Format": `*`, a bare name, `interface-name:[~]GLOB` (only
    `*` and `?`), `interface-name:=NAME`, `type:`, `driver:`, `except:SPEC`, separators `,` `;`.
    Not evaluated: `mac:`/`s390-subchannels:`/`dhcp-plugin:` (never match a Calico device here),
    `&` conjunctions and backslash escapes (such a spec is taken as not matching);
  - `networkd_claims(files)`: which Calico devices a `.network` file matches without
    `[Link] Unmanaged=yes`: files from usr/lib, lib, run and etc (etc shadows run shadows lib by
    name; an empty file masks), ordered by file name, the first whose `[Match]` matches wins
    (systemd.network(5)). `Name=` (globs, `!` inverts the list), `Type=`, `Kind=` and `Driver=`
    are evaluated for each Calico device; any other match key (MACAddress, Path, Virtualization,
    Property, ...) cannot be told from a bundle and the file is taken as not matching. A
    `[Match]` section without keys is ignored, as current systemd-networkd does. Not handled:
    `foo.network.d/*.conf` drop-ins and the udev property ID_NET_MANAGED_BY.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import NUMBER, as_text, ref, split_lines

# Calico's devices: (probe name, claim label, NetworkManager type, networkd Type, Kind, driver)
CALICO_DEVICES = (
    ("cali0123456789a", "cali*", "veth", "ether", "veth", "veth"),
    ("tunl0", "tunl0", "ip-tunnel", "tunnel", "ipip", "ipip"),
    ("vxlan.calico", "vxlan.calico", "vxlan", "vxlan", "vxlan", "vxlan"),
    ("wireguard.cali", "wireguard.cali", "wireguard", "wireguard", "wireguard", "wireguard"),
)

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*([+-]?=)\s*(.*?)\s*$")
_TRUE = {"1", "yes", "true", "on", "y", "t"}
_FALSE = {"0", "no", "false", "off", "n", "f"}


def parse_ini(text, source=None):
    r"""INI text -> [{section, key, op ('=', '+=', '-='), value, lineno}]; other lines skipped.

    `/etc/NetworkManager/conf.d/rke2-canal.conf` as RKE2's documentation gives it:

    >>> text = '''\
    ... [keyfile]
    ... unmanaged-devices=interface-name:cali*;interface-name:flannel*
    ... '''
    >>> parse_ini(text)
    [{'section': 'keyfile',
      'key': 'unmanaged-devices',
      'op': '=',
      'value': 'interface-name:cali*;interface-name:flannel*',
      'lineno': 2}]
    """
    entries, section = [], None
    lines, _cut = split_lines(as_text(text))
    for lineno, line in lines:
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        match = _SECTION.match(line)
        if match:
            section = match.group(1).strip()
            continue
        match = _ASSIGN.match(line)
        if match and section is not None:
            entries.append({"section": section, "key": match.group(1), "op": match.group(2),
                            "value": match.group(3), "lineno": lineno})
    return entries


@parser(Specs.systemctl_units)
def parse_systemctl_units(text, source=None):
    r"""`systemctl list-units` -> {unit: {load, active, sub, source}} (the `●` failed marker and
    the header/footer lines are skipped).

    `systemctl list-units` on RHEL 7 (a cut; `●` marks a failed unit):

    >>> text = '''\
    ... ● NetworkManager-wait-online.service                                          loaded failed failed    Network Manager Wait Online
    ...   NetworkManager.service                                                      loaded active running   Network Manager
    ... '''
    >>> units = parse_systemctl_units(text, "sos_commands/systemd/systemctl_list-units")
    >>> {name: (unit["active"], unit["sub"], unit["source"]) for name, unit in units.items()}
    {'NetworkManager-wait-online.service': ('failed',
                                            'failed',
                                            'sos_commands/systemd/systemctl_list-units:1'),
     'NetworkManager.service': ('active', 'running', 'sos_commands/systemd/systemctl_list-units:2')}
    """
    units = {}
    lines, _cut = split_lines(as_text(text))
    for lineno, line in lines:
        words = line.split()
        if words and words[0] in ("\u25cf", "*"):
            words = words[1:]  # the marker of a failed unit
        if len(words) >= 4 and "." in words[0] and words[1] in ("loaded", "not-found", "masked", "error", "bad-setting"):
            units[words[0]] = {"load": words[1], "active": words[2], "sub": words[3], "source": ref(source, lineno)}
    return units


@parser(Specs.nmcli_status)
def parse_nmcli_general_status(text, source=None):
    r"""`nmcli general status` -> {running: bool, state, source} or {} when unreadable.

    >>> text = '''\
    ... STATE      CONNECTIVITY  WIFI-HW  WIFI     WWAN-HW  WWAN
    ... connected  full          enabled  enabled  enabled  enabled
    ... '''
    >>> parse_nmcli_general_status(text, "sos_commands/networkmanager/nmcli_general_status")
    {'running': True,
     'state': 'connected',
     'source': 'sos_commands/networkmanager/nmcli_general_status:2'}
    >>> parse_nmcli_general_status("Error: NetworkManager is not running.\n", "nmcli_general_status")
    {'running': False, 'source': 'nmcli_general_status:1'}
    """
    lines, cut = split_lines(as_text(text))
    if cut is not None:
        lines.append(cut)
    for lineno, line in lines:
        if "NetworkManager is not running" in line:
            return {"running": False, "source": ref(source, lineno)}
    for index, (_, line) in enumerate(lines):
        if line.split()[:1] == ["STATE"] and index + 1 < len(lines):
            state = lines[index + 1][1].split()
            if state:
                return {"running": True, "state": state[0], "source": ref(source, lines[index + 1][0])}
    return {}


# --- NetworkManager ------------------------------------------------------------------------------

def _nm_specs(value):
    return [spec.strip() for spec in re.split(r"[,;]", value or "") if spec.strip()]


def _nm_glob(pattern, name):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def _nm_spec_matches(spec, device):
    name, _label, nm_type, _nd_type, _kind, driver = device
    if "&" in spec or "\\" in spec:
        return False
    if spec == "*":
        return True
    prefix, _, rest = spec.partition(":")
    if not _:
        return spec == name  # a bare IFNAME (or HWADDR): exact
    if prefix == "interface-name":
        if rest.startswith("="):
            return rest[1:] == name
        return _nm_glob(rest[1:] if rest.startswith("~") else rest, name)
    if prefix == "type":
        return rest == nm_type
    if prefix == "driver":
        return rest.split("/", 1)[0] == driver
    return False


def nm_spec_list_matches(value, device):
    """NetworkManager device-list semantics: any positive spec matches and no `except:` does;
    a list of only `except:` specs behaves as if `*` were in it.

    `unmanaged-devices` of RKE2's `rke2-canal.conf` against Calico's veths and its IPIP tunnel:

    >>> spec = "interface-name:cali*;interface-name:flannel*"
    >>> [(device[0], nm_spec_list_matches(spec, device)) for device in CALICO_DEVICES[:2]]
    [('cali0123456789a', True), ('tunl0', False)]
    """
    specs = _nm_specs(value)
    negatives = [s[len("except:"):] for s in specs if s.startswith("except:")]
    positives = [s for s in specs if not s.startswith("except:")]
    if any(_nm_spec_matches(s, device) for s in negatives):
        return False
    if not positives:
        return bool(negatives)
    return any(_nm_spec_matches(s, device) for s in positives)


def networkmanager_order(paths):
    """Config file paths in the order NetworkManager reads them (later wins); shadowed dropped.

    >>> networkmanager_order(["etc/NetworkManager/conf.d/calico.conf", "etc/NetworkManager/NetworkManager.conf",
    ...                       "usr/lib/NetworkManager/conf.d/00-server.conf", "usr/lib/NetworkManager/conf.d/calico.conf"])
    ['usr/lib/NetworkManager/conf.d/00-server.conf',
     'etc/NetworkManager/NetworkManager.conf',
     'etc/NetworkManager/conf.d/calico.conf']
    """
    main = [p for p in paths if p.endswith("NetworkManager/NetworkManager.conf")]
    snippets = {}
    for priority, marker in ((0, "usr/lib/NetworkManager/conf.d/"), (1, "run/NetworkManager/conf.d/"),
                             (2, "etc/NetworkManager/conf.d/")):
        for path in paths:
            if marker in path and path.endswith(".conf"):
                snippets.setdefault(priority, []).append(path)
    def name(path):
        return path.rsplit("/", 1)[1]
    etc_names = {name(p) for p in snippets.get(2, [])}
    ordered = sorted((p for p in snippets.get(0, []) if name(p) not in etc_names), key=name)
    ordered += main
    ordered += sorted([p for p in snippets.get(1, []) if name(p) not in etc_names] + snippets.get(2, []), key=name)
    return ordered


@parser(Specs.networkmanager_config)
def networkmanager_claims(files):
    r"""[(path, text)] in read order -> {claims: [labels], config, source} (claims: Calico
    devices NetworkManager would manage); {} when no file could be read.

    With RKE2's `rke2-canal.conf`, NetworkManager leaves `cali*` alone but would manage Calico's
    tunnels:

    >>> text = '''\
    ... [keyfile]
    ... unmanaged-devices=interface-name:cali*;interface-name:flannel*
    ... '''
    >>> networkmanager_claims([("etc/NetworkManager/conf.d/rke2-canal.conf", text)])
    {'claims': ['tunl0', 'vxlan.calico', 'wireguard.cali'],
     'config': '[keyfile] unmanaged-devices=interface-name:cali*;interface-name:flannel*',
     'source': 'etc/NetworkManager/conf.d/rke2-canal.conf:2'}
    """
    unmanaged, unmanaged_source = None, None
    device_sections = []  # (match-device, managed, source) in order
    read = False
    for path, text in files:
        if text is None:
            continue
        read = True
        sections = {}
        for entry in parse_ini(text, path):
            section, key, op, value = entry["section"], entry["key"], entry["op"], entry["value"]
            where = ref(path, entry["lineno"])
            if section == "keyfile" and key == "unmanaged-devices":
                current = _nm_specs(unmanaged or "")
                if op == "=":
                    current = _nm_specs(value)
                elif op == "+=":
                    current += [s for s in _nm_specs(value) if s not in current]
                else:
                    current = [s for s in current if s not in _nm_specs(value)]
                unmanaged, unmanaged_source = ";".join(current), where
            elif section == "device" or section.startswith("device-"):
                sections.setdefault(section, {})[key] = (value, where)
        for fields in sections.values():
            if "match-device" in fields and "managed" in fields:
                device_sections.append((fields["match-device"][0], fields["managed"][0].lower(),
                                        fields["managed"][1]))
    if not read:
        return {}
    claims, deciding = [], {}
    for device in CALICO_DEVICES:
        section = next((s for s in device_sections if nm_spec_list_matches(s[0], device)), None)
        if section is not None and section[1] in _FALSE:
            deciding[device[1]] = (f"[device] match-device={section[0]} managed={section[1]}", section[2])
            continue
        if unmanaged is not None and nm_spec_list_matches(unmanaged, device):
            deciding[device[1]] = (f"[keyfile] unmanaged-devices={unmanaged}", unmanaged_source)
            continue
        claims.append(device[1])
    if "cali*" in deciding:
        config, source = deciding["cali*"]
    elif unmanaged is not None:
        config, source = f"[keyfile] unmanaged-devices={unmanaged} does not cover cali*", unmanaged_source
    else:
        first = next(path for path, text in files if text is not None)
        config, source = "no unmanaged-devices or [device] managed=0 setting covers cali*", f"{first} (no such setting)"
    return {"claims": claims, "config": config, "source": source}


# --- systemd-networkd --------------------------------------------------------------------------------

_NETWORKD_DIRS = ("usr/lib/systemd/network/", "lib/systemd/network/", "run/systemd/network/", "etc/systemd/network/")


def networkd_order(paths):
    """`.network` paths that take effect, in networkd's order (by file name; etc > run > lib).

    >>> networkd_order(["usr/lib/systemd/network/zz-default.network", "etc/systemd/network/zz-default.network",
    ...                 "usr/lib/systemd/network/calico.network", "etc/systemd/network/README"])
    ['usr/lib/systemd/network/calico.network', 'etc/systemd/network/zz-default.network']
    """
    chosen = {}
    for path in paths:
        for rank, directory in enumerate(_NETWORKD_DIRS):
            if path.endswith(".network") and (path.startswith(directory) or f"/{directory}" in path):
                name = path.rsplit("/", 1)[1]
                if name not in chosen or chosen[name][0] < rank:
                    chosen[name] = (rank, path)
    return [chosen[name][1] for name in sorted(chosen)]


def _networkd_list_matches(values, candidates, glob=False):
    """A systemd match list (space-separated, `!` in front inverts the whole list)."""
    words = " ".join(values).split()
    if not words:
        return True
    invert = words[0].startswith("!")
    if invert:
        words[0] = words[0][1:]
        words = [w for w in words if w]
    hit = any(_fnmatch(w, c) if glob else w == c for w in words for c in candidates)
    return hit != invert


def _fnmatch(pattern, name):
    regex, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            regex += ".*"
        elif char == "?":
            regex += "."
        elif char == "[":
            end = pattern.find("]", index + 2)
            if end == -1:
                regex += re.escape(char)
            else:
                body = pattern[index + 1:end]
                regex += "[" + ("^" + re.escape(body[1:]) if body[:1] == "!" else re.escape(body)) + "]"
                index = end
        else:
            regex += re.escape(char)
        index += 1
    return re.fullmatch(regex, name) is not None


_EVALUATED = {"Name", "Type", "Kind", "Driver"}


def networkd_file(text, path):
    r"""One `.network` file -> {match: {key: [values]}, match_lines, unmanaged, source, masked}.

    Flatcar's `calico.network`:

    >>> text = '''\
    ... # Exclude calico ipip tunnel devices from DHCP by default
    ...
    ... [Match]
    ... Name=cali*
    ...
    ... [Link]
    ... Unmanaged=yes
    ... '''
    >>> networkd_file(text, "usr/lib/systemd/network/calico.network")
    {'masked': False,
     'match': {'Name': ['cali*']},
     'unmanaged': True,
     'source': 'usr/lib/systemd/network/calico.network:4',
     'unmanaged_source': 'usr/lib/systemd/network/calico.network:7'}
    """
    if not as_text(text).strip():
        return {"masked": True, "match": {}, "unmanaged": None, "source": ref(path, 1)}
    match, unmanaged, first_line, unmanaged_line = {}, None, None, None
    for entry in parse_ini(text, path):
        if entry["section"] == "Match":
            first_line = first_line or entry["lineno"]
            values = match.setdefault(entry["key"], [])
            if entry["value"] == "":
                values.clear()  # an empty assignment resets the list
            else:
                values.append(entry["value"])
        elif entry["section"] == "Link" and entry["key"] == "Unmanaged":
            unmanaged = entry["value"].lower() in _TRUE
            unmanaged_line = entry["lineno"]
    return {"masked": False, "match": match, "unmanaged": unmanaged,
            "source": ref(path, first_line or 1), "unmanaged_source": ref(path, unmanaged_line) if unmanaged_line else None}


def _networkd_matches(parsed, device):
    name, _label, _nm_type, nd_type, kind, driver = device
    match = parsed["match"]
    if not any(match.values()) or set(k for k, v in match.items() if v) - _EVALUATED:
        return False
    return (_networkd_list_matches(match.get("Name", []), [name], glob=True)
            and _networkd_list_matches(match.get("Type", []), [nd_type], glob=True)
            and _networkd_list_matches(match.get("Kind", []), [kind], glob=True)
            and _networkd_list_matches(match.get("Driver", []), [driver], glob=True))


@parser(Specs.networkd_config)
def networkd_claims(files):
    r"""[(path, text)] in networkd's order -> {claims, config, source}; {} when none was read.

    Flatcar's initrd `zz-default.network` matches every device but the loopback, cali* veths too:

    >>> text = '''\
    ... [Match]
    ... Name=*
    ... Type=!loopback
    ...
    ... [Network]
    ... DHCP=yes
    ...
    ... [DHCP]
    ... UseMTU=true
    ... UseDomains=true
    ... '''
    >>> networkd_claims([("usr/lib/systemd/network/zz-default.network", text)])
    {'claims': ['cali*', 'tunl0', 'vxlan.calico', 'wireguard.cali'],
     'config': 'zz-default.network: [Match] Name=* Type=!loopback without [Link] Unmanaged=yes',
     'source': 'usr/lib/systemd/network/zz-default.network:2'}
    """
    parsed = [(path, networkd_file(text, path)) for path, text in files if text is not None]
    if not parsed:
        return {}
    claims, deciding = [], {}
    for device in CALICO_DEVICES:
        hit = next(((path, p) for path, p in parsed if not p["masked"] and _networkd_matches(p, device)), None)
        if hit is None:
            continue
        path, p = hit
        name = path.rsplit("/", 1)[1]
        text = " ".join(f"{k}={' '.join(v)}" for k, v in p["match"].items() if v)
        if p["unmanaged"]:
            deciding[device[1]] = (f"{name}: [Match] {text} with [Link] Unmanaged=yes", p["unmanaged_source"])
        else:
            claims.append(device[1])
            deciding[device[1]] = (f"{name}: [Match] {text} without [Link] Unmanaged=yes", p["source"])
    if "cali*" in deciding:
        config, source = deciding["cali*"]
    else:
        config = f"no .network file matches cali* ({len(parsed)} read)"
        source = f"{parsed[0][0]} (no match for cali*)"
    return {"claims": claims, "config": config, "source": source}


_NETWORKCTL_LINK = re.compile(rf"^\S*\s*({NUMBER}): (\S+)\s*$")  # "● 5: cali1a2b3c4d5e6" (the bullet is absent in some builds)
_NETWORKCTL_FIELD = re.compile(r"^\s+([A-Za-z][A-Za-z0-9 ()/-]*?): (.*?)\s*$")
_NETWORKCTL_STATE = re.compile(r"^(\S+) \(([^)]+)\)$")


@parser(Specs.networkctl_status)
def parse_networkctl_status(text, source=None):
    """`networkctl status -a` (sos networking plugin) -> systemd-networkd's own view of each link.

    One dict per link: `name`, `index`, `operational` and `setup` from `State: <operational>
    (<setup>)`, `network_file` (None for `n/a`) and `source` (the link's header line); `state_source`
    is the State line. `setup` is networkd's verdict: `configured`/`configuring`/`failed` (it
    manages the link), `unmanaged`, `pending` (waiting for udev), `linger` (the link is gone). Without a running
    networkd the command prints only an error: no links.

    Sample input (systemd 252, a catch-all `Name=*` file and Calico's `Name=cali*` /
    `Unmanaged=yes` file ahead of it; fields cut):

        ● 4: pod1eth0
                          Network File: /run/systemd/network/50-all.network
                                 State: carrier (configured)
        ● 5: cali1a2b3c4d5e6
                          Network File: n/a
                                 State: carrier (unmanaged)

    >>> text = (
    ...     "● 4: pod1eth0\\n                  Network File: /run/systemd/network/50-all.network\\n"
    ...     "                         State: carrier (configured)\\n\\n"
    ...     "● 5: cali1a2b3c4d5e6\\n                  Network File: n/a\\n"
    ...     "                         State: carrier (unmanaged)\\n")
    >>> [(l["name"], l["setup"], l["network_file"], l["state_source"]) for l in parse_networkctl_status(text, "st")]
    [('pod1eth0', 'configured', '/run/systemd/network/50-all.network', 'st:3'), ('cali1a2b3c4d5e6', 'unmanaged', None, 'st:7')]
    """
    links, link = [], None
    lines, _cut = split_lines(text)  # a cut State line is not read: that link's setup stays unknown
    for lineno, line in lines:
        header = _NETWORKCTL_LINK.match(line)
        if header and not line[:1].isspace():
            link = {"name": header.group(2), "index": int(header.group(1)), "operational": None, "setup": None,
                    "network_file": None, "source": ref(source, lineno)}
            links.append(link)
            continue
        field = _NETWORKCTL_FIELD.match(line) if link is not None else None
        if not field:
            continue
        key, value = field.groups()
        if key == "State":
            state = _NETWORKCTL_STATE.match(value)
            if state:
                link["operational"], link["setup"] = state.groups()
                link["state_source"] = ref(source, lineno)
        elif key == "Network File":
            link["network_file"] = None if value == "n/a" else value
    return links


# networkd's setup states of a link it manages (networkctl(1): pending and unmanaged are not).
# `linger` (the link is gone, networkd has not dropped its state yet) is left out: a deleted pod's
# veth says nothing about the live ones.
NETWORKD_MANAGING = ("configuring", "configured", "failed")


def networkd_observed(links):
    """networkd's own verdict on Calico's devices, from parse_networkctl_status: {claims, config,
    source} like networkd_claims, but observed; {} when no Calico device's setup state is shown
    (then only the .network files can tell). A cali* link networkd manages is named with the
    file it applied; when all are unmanaged, that is the answer, whatever a file seems to say.

    >>> links = [{"name": "cali1a2b3c4d5e6", "setup": "configured", "network_file": "/run/systemd/network/50-all.network",
    ...           "state_source": "st:3"}, {"name": "eth0", "setup": "configured", "network_file": None, "state_source": "st:9"}]
    >>> networkd_observed(links)["claims"], networkd_observed(links)["config"]
    (['cali*'], 'networkctl: cali1a2b3c4d5e6 is configured by /run/systemd/network/50-all.network (1 of 1 cali* links managed)')
    >>> networkd_observed([dict(links[0], setup="unmanaged", network_file=None)])["claims"]
    []
    """
    claims, deciding = [], {}
    for _probe, label, *_kinds in CALICO_DEVICES:
        shown = [link for link in links if link.get("setup") and link["setup"] not in ("pending", "linger")
                 and (link["name"].startswith("cali") if label == "cali*" else link["name"] == label)]
        if not shown:
            continue
        managed = [link for link in shown if link["setup"] in NETWORKD_MANAGING]
        if managed:
            claims.append(label)
            first = managed[0]
            by = f" by {first['network_file']}" if first.get("network_file") else ""
            deciding[label] = (f"networkctl: {first['name']} is {first['setup']}{by} "
                               f"({len(managed)} of {len(shown)} {label} links managed)", first["state_source"])
        else:
            deciding[label] = (f"networkctl: every {label} link is unmanaged ({len(shown)} shown)", shown[0]["state_source"])
    if "cali*" not in deciding:
        return {}
    config, source = deciding["cali*"]
    return {"claims": claims, "config": config, "source": source}
