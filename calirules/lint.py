"""`calirules rules lint`: everything about a rule file that can be checked without a node.

Beyond loading (schema, cause ids, fact types and fields, variables, templates) the linter runs
each rule's positive test and renders its evidence and remediation, then checks that the
remediation has the four parts every remediation must have and that each `$ ` command line
starts with a command that exists (a wrong command pasted into a root shell is worse than none).
"""

import re

from calirules.engine import compiler, runner
from calirules.engine.rulebook import load_rule_file, load_rulebook, rule_files
from calirules.ruletests import dump_for_test
from calirules.errors import InputError
from calirules.facts_collectors.dump import normalise

REMEDIATION_PARTS = ("What to change:", "Commands:", "Make it persistent:", "Verify:")

# Commands remediation may tell an operator to run. Adding one here is a review decision: it must
# be a real command on a Kubernetes node or an admin workstation.
KNOWN_COMMANDS = {
    "sysctl", "ip", "iptables", "ip6tables", "iptables-legacy", "iptables-nft", "iptables-save",
    "iptables-legacy-save", "iptables-nft-save", "nft", "ipset", "conntrack", "kubectl", "calicoctl",
    "systemctl", "journalctl", "grep", "printf", "cat", "modprobe", "lsmod", "update-alternatives",
    "firewall-cmd", "nmcli", "networkctl", "crictl", "tcpdump", "ping", "uname", "bpftool", "ethtool", "modinfo",
}
_COMMAND_LINE = re.compile(r"^\s*\$ (?:sudo )?(\S+)")


def lint_rules(paths=()):
    """Return a list of problems (strings naming file:line); empty when every rule is fine."""
    try:
        book = load_rulebook(paths)
    except InputError as exc:
        return [str(exc)]
    only = {r.id for f in rule_files(paths) for r in load_rule_file(f)} if paths else None
    problems = []
    engine_class = compiler.compile_engine(book)
    from calirules.report import build_report  # rendering is the report's job; lint only checks it

    for rule in book.rules:
        if only and rule.id not in only:
            continue
        expects = {t["expect"] for t in rule.tests}
        where = f"{rule.path}:{rule.location[0]}: rule {rule.id}"
        if expects != {"fire", "no-fire"}:
            problems.append(f"{where}: needs at least one `expect: fire` and one `expect: no-fire` test")
        if rule.cause and not rule.remediation:
            problems.append(f"{where}: has no remediation template")
        positive = next((t for t in rule.tests if t["expect"] == "fire"), None)
        if positive is None or not rule.cause:
            continue
        dump = normalise(dump_for_test(positive))
        diagnosis = runner.diagnose(dump, book, positive.get("symptom"), engine_class)
        diagnosis.findings = [f for f in diagnosis.findings if any(r.rule.id == rule.id for r in f.results)]
        for finding in diagnosis.findings:
            finding.results = [r for r in finding.results if r.rule.id == rule.id]
        try:
            report = build_report(diagnosis, dump, book, source="lint")
        except InputError as exc:
            problems.append(f"{where}: {exc}")
            continue
        for cause in report["causes"]:
            problems.extend(f"{where}: {p}" for p in check_remediation(cause["remediation"]))
    return problems


def check_remediation(text):
    problems = []
    positions = [text.find(part) for part in REMEDIATION_PARTS]
    for part, pos in zip(REMEDIATION_PARTS, positions):
        if pos < 0:
            problems.append(f"remediation lacks the part {part!r}")
    found = [p for p in positions if p >= 0]
    if found != sorted(found):
        problems.append(f"remediation parts must come in the order {', '.join(REMEDIATION_PARTS)}")
    for line in text.splitlines():
        match = _COMMAND_LINE.match(line)
        if match and match.group(1) not in KNOWN_COMMANDS:
            problems.append(f"remediation runs unknown command {match.group(1)!r}: {line.strip()}")
    return problems
