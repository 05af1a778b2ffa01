# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
DDS-Security governance and permissions documents, generated from node declarations.

A node's :class:`~lnn_control.ros.interfaces.NodeInterfaces` becomes one ``<grant>`` that
allows exactly the DDS topics it uses and denies everything else (``<default>DENY``). ROS
names map to DDS topics as rmw_fastrtps does: a topic ``/scan`` is ``rt/scan``; a service
``/n/reset`` is a request topic ``rq/n/resetRequest`` and a reply topic ``rr/n/resetReply``
(a server subscribes the request and publishes the reply, a client the other way round);
every participant also publishes and subscribes ``ros_discovery_info`` (the ROS graph).

The governance document is SROS2's default: no unauthenticated participants, join access
control, discovery and liveliness encrypted, RTPS messages signed, and for every topic read
and write access control with encrypted data and metadata.

:func:`parse_permissions` reads a permissions document back (checked against the schema),
:func:`allows` evaluates a grant as DDS-Security does (rules in order, the first whose
domains and topic expression match decides, else the default), and :func:`missing` lists
what a declared node uses that a grant does not allow: ``lnn-control security check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Dict, List, Sequence, Set, Tuple
import xml.etree.ElementTree as ET

from lnn_control.ros.interfaces import NodeInterfaces
from lnn_control.security.schema import GOVERNANCE
from lnn_control.security.schema import PERMISSIONS
from lnn_control.security.schema import SchemaError
from lnn_control.security.schema import validate

__all__ = ['dds_topics', 'governance_xml', 'permissions_xml', 'parse_permissions', 'Grant',
           'Rule', 'allows', 'missing', 'DISCOVERY_TOPIC', 'SchemaError']

DISCOVERY_TOPIC = 'ros_discovery_info'
_SCHEMA_ATTRS = {
    'xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance',
    'xsi:noNamespaceSchemaLocation': 'http://www.omg.org/spec/DDS-SECURITY/20170901/'
                                     'omg_shared_ca_{}.xsd',
}


def _root(kind: str) -> ET.Element:
    root = ET.Element('dds')
    for key, value in _SCHEMA_ATTRS.items():
        root.set(key, value.format(kind))
    return root


def _sub(parent: ET.Element, tag: str, text: str = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root, space='  ')
    body = ET.tostring(root, encoding='unicode').encode()
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b'\n'


def _domains(parent: ET.Element, domain_id: int) -> None:
    _sub(_sub(parent, 'domains'), 'id', str(int(domain_id)))


def governance_xml(domain_id: int) -> bytes:
    """Return the governance document for ``domain_id`` (SROS2's default protections)."""
    root = _root('governance')
    rule = _sub(_sub(root, 'domain_access_rules'), 'domain_rule')
    _domains(rule, domain_id)
    for tag, text in (('allow_unauthenticated_participants', 'false'),
                      ('enable_join_access_control', 'true'),
                      ('discovery_protection_kind', 'ENCRYPT'),
                      ('liveliness_protection_kind', 'ENCRYPT'),
                      ('rtps_protection_kind', 'SIGN')):
        _sub(rule, tag, text)
    topic = _sub(_sub(rule, 'topic_access_rules'), 'topic_rule')
    for tag, text in (('topic_expression', '*'),
                      ('enable_discovery_protection', 'true'),
                      ('enable_liveliness_protection', 'true'),
                      ('enable_read_access_control', 'true'),
                      ('enable_write_access_control', 'true'),
                      ('metadata_protection_kind', 'ENCRYPT'),
                      ('data_protection_kind', 'ENCRYPT')):
        _sub(topic, tag, text)
    data = _serialise(root)
    validate(data, GOVERNANCE)
    return data


def dds_topics(interfaces: NodeInterfaces) -> Dict[str, Dict[str, str]]:
    """
    Return the DDS topics a node writes and reads: ``{'publish': {dds topic: what}, ...}``.

    ``what`` says which ROS endpoint needs it (``publish /cmd_vel geometry_msgs/msg/...``).
    """
    out: Dict[str, Dict[str, str]] = {'publish': {}, 'subscribe': {}}
    for kind in NodeInterfaces.KINDS:
        for e in getattr(interfaces, kind):
            what = f'{kind} {e.name} ({e.interface})'
            if kind in ('publish', 'subscribe'):
                out[kind].setdefault('rt' + e.name, what)
                continue
            request, reply = f'rq{e.name}Request', f'rr{e.name}Reply'
            writes, reads = (reply, request) if kind == 'serve' else (request, reply)
            out['publish'].setdefault(writes, what)
            out['subscribe'].setdefault(reads, what)
    return out


def _iso(moment: datetime) -> str:
    return moment.strftime('%Y-%m-%dT%H:%M:%S')


def permissions_xml(interfaces: NodeInterfaces, domain_id: int, not_before: datetime,
                    not_after: datetime) -> bytes:
    """
    Return the permissions document of ``interfaces``'s enclave.

    One grant for the subject ``CN=<enclave>`` valid from ``not_before`` to ``not_after``
    (UTC), allowing exactly its DDS topics on ``domain_id`` and ``ros_discovery_info``,
    denying the rest.
    """
    topics = dds_topics(interfaces)
    root = _root('permissions')
    grant = _sub(_sub(root, 'permissions'), 'grant')
    grant.set('name', interfaces.enclave)
    _sub(grant, 'subject_name', f'CN={interfaces.enclave}')
    validity = _sub(grant, 'validity')
    _sub(validity, 'not_before', _iso(not_before))
    _sub(validity, 'not_after', _iso(not_after))
    for names in (topics, {'publish': [DISCOVERY_TOPIC], 'subscribe': [DISCOVERY_TOPIC]}):
        rule = _sub(grant, 'allow_rule')
        _domains(rule, domain_id)
        for kind in ('publish', 'subscribe'):
            if names[kind]:
                listed = _sub(_sub(rule, kind), 'topics')
                for topic in sorted(names[kind]):
                    _sub(listed, 'topic', topic)
    _sub(grant, 'default', 'DENY')
    data = _serialise(root)
    validate(data, PERMISSIONS)
    return data


@dataclass(frozen=True)
class Rule:
    """One allow or deny rule: its domains ((low, high) ranges) and topic expressions."""

    allow: bool
    domains: Tuple[Tuple[int, int], ...]
    publish: Tuple[str, ...]
    subscribe: Tuple[str, ...]

    def covers(self, domain_id: int) -> bool:
        """Return whether the rule applies on ``domain_id``."""
        return any(low <= domain_id <= high for low, high in self.domains)


@dataclass(frozen=True)
class Grant:
    """A grant of a permissions document."""

    name: str
    subject: str
    not_before: str
    not_after: str
    rules: Tuple[Rule, ...]
    default_allow: bool

    def domains(self) -> Set[int]:
        """Return the single domain ids the rules name (ranges left out)."""
        return {low for rule in self.rules for low, high in rule.domains if low == high}


def _domain_set(element: ET.Element) -> Tuple[Tuple[int, int], ...]:
    ranges = []
    for child in element:
        if child.tag == 'id':
            ranges.append((int(child.text), int(child.text)))
        else:
            low, high = child.findtext('min'), child.findtext('max')
            ranges.append((int(low) if low else 0, int(high) if high else 1 << 31))
    return tuple(ranges)


def parse_permissions(document: bytes) -> List[Grant]:
    """Parse a permissions document (schema-checked: :class:`SchemaError` if it is not)."""
    root = validate(document, PERMISSIONS)
    grants = []
    for g in root.find('permissions'):
        rules = []
        for r in g:
            if r.tag not in ('allow_rule', 'deny_rule'):
                continue
            rules.append(Rule(
                allow=r.tag == 'allow_rule', domains=_domain_set(r.find('domains')),
                publish=tuple(t.text.strip() for t in r.iterfind('publish/topics/topic')),
                subscribe=tuple(t.text.strip() for t in r.iterfind('subscribe/topics/topic'))))
        grants.append(Grant(name=g.get('name'), subject=g.findtext('subject_name').strip(),
                            not_before=g.findtext('validity/not_before').strip(),
                            not_after=g.findtext('validity/not_after').strip(),
                            rules=tuple(rules),
                            default_allow=g.findtext('default').strip() == 'ALLOW'))
    return grants


def allows(grant: Grant, kind: str, topic: str, domain_id: int) -> bool:
    """Return whether ``grant`` lets its subject ``kind`` (publish/subscribe) ``topic``."""
    for rule in grant.rules:
        if rule.covers(domain_id) and any(fnmatchcase(topic, expression)
                                          for expression in getattr(rule, kind)):
            return rule.allow
    return grant.default_allow


def missing(grant: Grant, interfaces: NodeInterfaces, domain_id: int) -> List[str]:
    """Return what ``interfaces`` uses that ``grant`` does not allow, one line each."""
    needed = dds_topics(interfaces)
    needed['publish'].setdefault(DISCOVERY_TOPIC, 'the ROS graph (rmw_fastrtps)')
    needed['subscribe'].setdefault(DISCOVERY_TOPIC, 'the ROS graph (rmw_fastrtps)')
    problems = []
    for kind in ('publish', 'subscribe'):
        for topic, what in sorted(needed[kind].items()):
            if not allows(grant, kind, topic, domain_id):
                problems.append(f'{what}: may not {kind} DDS topic {topic!r}')
    return problems


def subject_problems(grants: Sequence[Grant], enclave: str) -> List[str]:
    """Return why ``grants`` hold no grant for the enclave's certificate subject, if so."""
    subjects = [g.subject for g in grants]
    if f'CN={enclave}' in subjects:
        return []
    return [f'no grant for subject CN={enclave} (grants: {subjects})']
