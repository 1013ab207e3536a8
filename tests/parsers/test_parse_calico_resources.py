"""IPPools as `kubectl get ippools.crd.projectcalico.org -o yaml` and calicoctl print them.

The inputs are constructed by this project in those tools' output format (no cluster here).
"""

import os

import jsonschema_rs
import pytest

from calirules.facts_collectors.parsers.calico_resources import parse_ippools

KUBECTL_LIST = """apiVersion: v1
items:
- apiVersion: crd.projectcalico.org/v1
  kind: IPPool
  metadata:
    name: default-ipv4-ippool
  spec:
    blockSize: 26
    cidr: 198.18.64.0/18
    ipipMode: Always
    natOutgoing: true
    vxlanMode: Never
- apiVersion: crd.projectcalico.org/v1
  kind: IPPool
  metadata:
    name: retired
  spec:
    cidr: 198.18.128.0/18
    disabled: true
kind: List
"""
CALICOCTL_SINGLE = """apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: edge
spec:
  cidr: 198.19.32.0/20
  natOutgoing: false
"""


def by(items):
    return {(i["component"], i["key"]): (i["value"], i["source"]) for i in items}


def test_kubectl_list():
    items = by(parse_ippools(KUBECTL_LIST, "ippools.yaml"))
    assert items[("ippool/default-ipv4-ippool", "cidr")] == ("198.18.64.0/18", "ippools.yaml:9")
    assert items[("ippool/default-ipv4-ippool", "natOutgoing")][0] == "true"
    assert items[("ippool/retired", "disabled")] == ("true", "ippools.yaml:19")
    assert ("ippool/retired", "natOutgoing") not in items


def test_calicoctl_single_resource():
    assert by(parse_ippools(CALICOCTL_SINGLE, "p"))[("ippool/edge", "natOutgoing")] == ("false", "p:7")


def test_items_fit_the_settings_schema():
    from calirules import schemas
    dump = {"apiVersion": "calirules/v1", "kind": "NodeFacts", "node": {"hostname": "n"},
            "settings": parse_ippools(KUBECTL_LIST, "x")}
    jsonschema_rs.validator_for(schemas.schema("facts")).validate(dump)


@pytest.mark.parametrize("text", ["", "not: [yaml", "- a\n- b\n", "kind: Pod\nmetadata: {name: x}\nspec: {}\n",
                                  os.urandom(300).decode("utf-8", "replace"), None, b"\xff\xfe"])
def test_garbage_gives_nothing(text):
    assert parse_ippools(text, "g") == []


def test_truncated_list_keeps_complete_pools():
    cut = KUBECTL_LIST[:KUBECTL_LIST.index("  metadata:\n    name: retired")]
    items = by(parse_ippools(cut, "c"))
    assert ("ippool/default-ipv4-ippool", "cidr") in items and not any(k[0] == "ippool/retired" for k in items)
