import json

import jsonschema_rs
from calirules.facts_collectors.dump import FACTS_SCHEMA
from calirules.facts_collectors.parsers.cni import parse_cni_conflist
from rawfixtures import RAW, UNRELATED_TEXT, cut_inside_line, random_garbage

KUBE = RAW / "kube"


def raw(name):
    return (KUBE / name).read_text(encoding="utf-8")


def assert_settings_valid(items):
    facts = FACTS_SCHEMA.document
    item_schema = dict(facts["properties"]["settings"]["items"], definitions=facts["definitions"])
    validator = jsonschema_rs.validator_for(item_schema)
    for item in items:
        validator.validate(item)


def as_table(items):
    return {item["key"]: (item["value"], int(item["source"].rsplit(":", 1)[1])) for item in items}


def test_hard_way_conflist():
    name = "10-calico.conflist.hard-way-v3.27"
    items = parse_cni_conflist(raw(name), name)
    assert items == [
        {"component": "cni", "key": "cniVersion", "value": "0.3.1", "source": f"{name}:3"},
        {"component": "cni", "key": "plugins", "value": "calico,portmap", "source": f"{name}:4"},
        {"component": "cni", "key": "mtu", "value": "1450", "source": f"{name}:11"},
        {"component": "cni", "key": "ipam.type", "value": "calico-ipam", "source": f"{name}:13"},
        {"component": "cni", "key": "log_file_path", "value": "/var/log/calico/cni/cni.log",
         "source": f"{name}:9"},
        {"component": "cni", "key": "nodename", "value": "node-a", "source": f"{name}:10"},
        {"component": "cni", "key": "datastore_type", "value": "kubernetes", "source": f"{name}:7"},
        {"component": "cni", "key": "policy.type", "value": "k8s", "source": f"{name}:17"},
    ]
    assert_settings_valid(items)


def test_operator_rendered_conflist():
    name = "cni-config.tigera-operator-v3.30"
    items = parse_cni_conflist(raw(name), name)
    assert as_table(items) == {
        "cniVersion": ("0.3.1", 3),
        "plugins": ("calico,bandwidth,portmap", 4),
        "mtu": ("0", 24),
        "ipam.type": ("calico-ipam", 13),
        "log_file_path": ("/var/log/calico/cni/cni.log", 22),
        "datastore_type": ("kubernetes", 9),
        "container_settings.allow_ip_forwarding": ("true", 7),
        "policy.type": ("k8s", 27),
    }
    assert_settings_valid(items)
    lines = raw(name).split("\n")
    assert '"allow_ip_forwarding": true' in lines[7 - 1]  # the reported line holds the key
    # The keys are written sorted, so the calico plugin's `type` comes last in its object.
    assert '"type": "calico"' in lines[29 - 1]


def test_manifest_template_is_not_json():
    # The ConfigMap value before install-cni fills it in: `"mtu": __CNI_MTU__,` is not JSON.
    assert parse_cni_conflist(raw("cni_network_config.canal-manifest-v3.28"), "t") == []


def test_template_as_install_cni_writes_it():
    """Constructed from the canal-manifest-v3.28 template: the placeholders replaced the way
    install-cni does (cni-plugin/pkg/install/install.go), with a node name and MTU 1450."""
    text = (raw("cni_network_config.canal-manifest-v3.28")
            .replace("__KUBERNETES_NODE_NAME__", "node-b").replace("__CNI_MTU__", "1450")
            .replace("__KUBECONFIG_FILEPATH__", "/etc/cni/net.d/calico-kubeconfig"))
    table = as_table(parse_cni_conflist(text, "10-canal.conflist"))
    assert table["plugins"] == ("calico,portmap,bandwidth", 4)
    assert table["nodename"] == ("node-b", 9)
    assert table["mtu"] == ("1450", 10)
    assert table["log_file_path"] == ("/var/log/calico/cni/cni.log", 11)
    assert table["ipam.type"] == ("host-local", 13)  # canal: flannel's pod CIDR, not Calico IPAM
    assert "container_settings.allow_ip_forwarding" not in table


def test_single_plugin_conf():
    """Constructed: the calico plugin object of the hard-way conflist written on its own as a
    `.conf` file (name and cniVersion at its top level), the pre-conflist layout."""
    plugin = json.loads(raw("10-calico.conflist.hard-way-v3.27"))["plugins"][0]
    text = json.dumps({"name": "k8s-pod-network", "cniVersion": "0.3.1", **plugin}, indent=2)
    table = as_table(parse_cni_conflist(text, "10-calico.conf"))
    assert table["plugins"] == ("calico", 4)
    assert table["nodename"] == ("node-a", 8)
    assert table["mtu"] == ("1450", 9)
    assert table["ipam.type"] == ("calico-ipam", 11)


def test_no_calico_plugin_still_lists_plugins():
    """Constructed: a flannel conflist (another CNI owns the node)."""
    text = '{"name": "cbr0", "cniVersion": "0.3.1", "plugins": [{"type": "flannel"}, {"type": "portmap"}]}\n'
    assert parse_cni_conflist(text, "f") == [
        {"component": "cni", "key": "cniVersion", "value": "0.3.1", "source": "f:1"},
        {"component": "cni", "key": "plugins", "value": "flannel,portmap", "source": "f:1"}]


def test_invalid_json_gives_nothing():
    name = "10-calico.conflist.hard-way-v3.27"
    text = raw(name)
    assert parse_cni_conflist(cut_inside_line(text, 12, keep=6), name) == []  # truncated
    commented = text.replace('"mtu": 1450,', '"mtu": 1450, // jumbo frames off')
    assert commented != text and parse_cni_conflist(commented, name) == []
    trailing_comma = text.replace('"k8s"\n', '"k8s",\n')
    assert trailing_comma != text and parse_cni_conflist(trailing_comma, name) == []
    assert parse_cni_conflist(text.replace("1450", "NaN"), name) == []
    for odd in (random_garbage(90), UNRELATED_TEXT, "", None, 42, b"\xff\xfe{", "[]", "42",
                '"calico"', raw("kubectl_get_pods_-A.operator-v1.28")):
        assert parse_cni_conflist(odd, "x") == []


def test_bytes_input_and_repeated_key():
    name = "10-calico.conflist.hard-way-v3.27"
    assert parse_cni_conflist(raw(name).encode(), name) == parse_cni_conflist(raw(name), name)
    # A key given twice: the value and the line are those of the last, as json.loads keeps it.
    text = '{\n"plugins": [{\n"type": "calico",\n"mtu": 1400,\n"mtu": 1450\n}]\n}\n'
    assert as_table(parse_cni_conflist(text, "d"))["mtu"] == ("1450", 5)
